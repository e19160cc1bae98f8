"""Many small fits side by side in threads (the fits release the GIL in their numeric work).

One helper for the folds of a cross-validation, a stack's members and the bootstrap's
batches: joblib threads, results in the order of the jobs, and BLAS on one thread while
more than one job runs (on a 2-core machine two OpenBLAS threads per fit oversubscribe).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence


def cores() -> int:
    return max(1, os.cpu_count() or 1)


def n_threads(n_jobs: int) -> int:
    """Threads for ``n_jobs`` (joblib's convention: -1, or any value < 0, means every core)."""
    return cores() if n_jobs < 0 else max(1, n_jobs)


def in_main_thread() -> bool:
    """False inside a worker thread (e.g. a cross-validation fold): nested work then runs
    one job after the other, as the outer threads already fill the cores."""
    return threading.current_thread() is threading.main_thread()


def in_threads(fn: Callable, jobs: Sequence[tuple], threads: int, blas_one: bool | None = None):
    """``[fn(*job) for job in jobs]`` on ``threads`` threads (one: in this thread). BLAS is
    limited to one thread when ``blas_one`` (None: whenever more than one thread runs)."""
    threads = max(1, min(threads, len(jobs)))
    one = threads > 1 if blas_one is None else blas_one
    if threads == 1 and not one:  # nothing to set up (e.g. inside a worker thread)
        return [fn(*job) for job in jobs]
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1 if one else None, user_api="blas"):
        if threads == 1:
            return [fn(*job) for job in jobs]
        from joblib import Parallel, delayed

        return Parallel(n_jobs=threads, prefer="threads")(delayed(fn)(*job) for job in jobs)
