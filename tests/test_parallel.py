"""`relapse_ml.parallel`: results in the order of the jobs, the same on one thread or two, and
BLAS on one thread while jobs run side by side."""

from __future__ import annotations

import threading

import numpy as np

from relapse_ml.parallel import in_main_thread, in_threads, n_threads


def test_in_threads_keeps_the_order_and_the_results():
    def slow_square(i, k):
        return np.linalg.norm(np.full((50, 50), i)) * k

    jobs = [(i, 2) for i in range(7)]
    seq = in_threads(slow_square, jobs, 1)
    par = in_threads(slow_square, jobs, 2)
    assert seq == par == [slow_square(*j) for j in jobs]


def test_blas_is_limited_to_one_thread_while_jobs_run_side_by_side():
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    seen = in_threads(lambda _: blas_threads(), [(0,), (1,)], 2)
    assert all(v == [1] * len(v) for v in seen)
    forced = in_threads(lambda _: blas_threads(), [(0,)], 1, blas_one=True)
    assert forced[0] == [1] * len(forced[0])


def test_threads_and_the_main_thread():
    assert n_threads(3) == 3 and n_threads(0) == 1 and n_threads(-1) >= 1
    assert in_main_thread()
    out = []
    t = threading.Thread(target=lambda: out.append(in_main_thread()))
    t.start()
    t.join()
    assert out == [False]
