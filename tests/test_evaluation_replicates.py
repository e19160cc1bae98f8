"""Bootstrap replicates by frequency weights equal the same replicates as repeated rows."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from relapse_ml.evaluation import EvaluationWarning, evaluate, scalar_metrics
from relapse_ml.evaluation.bootstrap import bootstrap_ci, bootstrap_ci_counts
from relapse_ml.evaluation.calibration import local_linear_smooth, weighted_quantile
from relapse_ml.evaluation.crossval import cross_validate
from relapse_ml.evaluation.ipcw import censoring_km
from relapse_ml.evaluation.pseudo import LeaveOneOut
from relapse_ml.evaluation.replicates import PooledReplicates
from relapse_ml.evaluation.times import default_eval_times
from relapse_ml.incidence import step_at
from relapse_ml.models.aalen_johansen import aalen_johansen_table
from tests._helpers_evaluation import KnownHazardModel, simulate, tied


def _data(n: int, seed: int):
    """Tied times (every 15 days), censoring, both causes, predictions rounded (tied risks)."""
    x, time, event = simulate(n, seed)
    time = tied(time, 15.0)
    grid = default_eval_times(time, event)
    rng = np.random.default_rng(seed)
    risk = 1.0 / (1.0 + np.exp(-x))
    cif = np.round(risk[:, None] * np.linspace(0.2, 0.9, grid.size)[None, :], 2)
    null = np.clip(np.round(np.linspace(0.05, 0.4, grid.size) + rng.normal(0, 0.01, (n, 1)), 3), 0, 1)
    return time, event, cif, null, grid


def _replicate(n, rng, kind):
    if kind == "ones":
        return np.ones(n, dtype=int)
    if kind == "heavy":  # few rows, many copies
        return rng.multinomial(n, rng.dirichlet(np.full(n, 0.05)))
    return rng.multinomial(n, np.full(n, 1.0 / n))


@pytest.mark.parametrize("at_event", ["before", "at"])
@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_metrics_equal_the_metrics_of_repeated_rows(seed, at_event):
    time, event, cif, null, grid = _data(300, seed)
    tau = float(grid[-4])
    engine = PooledReplicates(time, event, cif, null, grid, tau, at_event=at_event)
    rng = np.random.default_rng(seed + 10)
    checked = 0
    for kind in ["ones", "multinomial", "multinomial", "heavy"]:
        counts = _replicate(time.size, rng, kind)
        got = engine.metrics(counts)
        rows = np.repeat(np.arange(time.size), counts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EvaluationWarning)
            want = scalar_metrics(evaluate(time[rows], event[rows], time[rows], event[rows],
                                           cif[rows], grid, tau, null_cif=null[rows],
                                           tables=False, at_event=at_event))
        if got is None:  # follow-up ends before the last time: the rows are evaluated instead
            assert time[rows].max() <= grid[-1]
            continue
        checked += 1
        assert set(got) == set(want)
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12, nan_ok=True), key
    assert checked >= 3


def test_batch_equals_one_replicate_at_a_time_and_flags_short_follow_up():
    time, event, cif, null, grid = _data(200, 3)
    engine = PooledReplicates(time, event, cif, null, grid, float(grid[-1]))
    rng = np.random.default_rng(0)
    counts = rng.multinomial(time.size, np.full(time.size, 1 / time.size), size=5)
    counts[2] = 0
    counts[2, np.argmin(time)] = time.size  # one early row: follow-up ends before the grid
    batch = engine.metrics_batch(counts)
    assert batch[2] is None
    for r in (0, 1, 3, 4):
        one = engine.metrics(counts[r])
        assert one == pytest.approx(batch[r], rel=1e-12, nan_ok=True)


def test_weighted_building_blocks_equal_repeated_rows():
    rng = np.random.default_rng(5)
    time, event, _, _, _ = _data(150, 5)
    counts = rng.multinomial(150, np.full(150, 1 / 150))
    rows = np.repeat(np.arange(150), counts)
    G, G_rows = censoring_km(time, event, weight=counts), censoring_km(time[rows], event[rows])
    probe = np.linspace(0, time.max() + 1, 50)
    np.testing.assert_allclose(G.before(probe), G_rows.before(probe), atol=1e-12)
    a, b = aalen_johansen_table(time, event, weight=counts), aalen_johansen_table(time[rows], event[rows])
    np.testing.assert_allclose(step_at(a[0], a[1], probe), step_at(b[0], b[1], probe), atol=1e-12)
    tau = float(np.quantile(time, 0.7))
    loo = LeaveOneOut(time, event, tau)
    np.testing.assert_allclose(loo.pseudo(counts)[rows],
                               LeaveOneOut(time[rows], event[rows], tau).pseudo(), atol=1e-10)
    x, y = rng.normal(size=150), rng.normal(size=150)
    at = np.linspace(-2, 2, 17)
    np.testing.assert_allclose(local_linear_smooth(x, y, at, weight=counts),
                               local_linear_smooth(x[rows], y[rows], at), atol=1e-10)
    order = np.argsort(x)
    q = np.linspace(0, 1, 23)
    np.testing.assert_allclose(weighted_quantile(x[order], counts[order], q),
                               np.quantile(x[rows], q), atol=1e-14)


def test_bootstrap_by_counts_draws_the_same_replicates_as_by_rows():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(40), rng.integers(1, 4, 40))  # patients with 1-3 rows
    y = rng.normal(size=groups.size)

    def by_rows(values):
        return {"mean": float(np.mean(values)), "max": float(np.max(values))}

    def by_counts(counts):
        return [{"mean": float(c @ y / c.sum()), "max": float(y[c > 0].max())} for c in counts]

    plain = bootstrap_ci(by_rows, y, groups=groups, n_boot=60, seed=4)
    for n_jobs, batch in [(1, 7), (2, 5)]:
        weighted = bootstrap_ci_counts(by_counts, y.size, groups=groups, n_boot=60, seed=4,
                                       batch=batch, n_jobs=n_jobs)
        pd.testing.assert_frame_equal(weighted, plain, rtol=1e-12)


def test_cross_validation_intervals_weighted_equal_resampled_rows_and_threads_agree():
    x, time, event = simulate(240, 8)
    time = tied(time, 10.0)
    groups = np.repeat(np.arange(120), 2)  # two rows per patient, as with stacked landmarks
    X = pd.DataFrame({"x": x})

    def run(weighted, n_jobs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EvaluationWarning)
            return cross_validate(KnownHazardModel, X, time, event, groups=groups, n_splits=3,
                                  n_repeats=2, n_boot=25, seed=1, weighted_bootstrap=weighted,
                                  n_jobs=n_jobs).summary

    plain, weighted, threads = run(False, 1), run(True, 1), run(True, 2)
    pd.testing.assert_frame_equal(weighted, plain, rtol=1e-8)
    pd.testing.assert_frame_equal(threads, weighted, rtol=0, atol=0)
    assert (plain["ci_low"] < plain["ci_high"]).loc[["c_index", "ipa_tau", "ici"]].all()


@pytest.mark.parametrize("block", [4, 16, 64])
def test_block_smoother_equals_the_direct_window_sums(block):
    from relapse_ml.evaluation.calibration import smooth_sorted
    from relapse_ml.evaluation.loess import BlockSmoother

    rng = np.random.default_rng(block)
    x = np.sort(np.r_[np.full(40, -3.0), rng.normal(-1.5, 1.0, 560)])  # ties at the low end
    y = rng.normal(0.2, 0.5, x.size)
    smoother = BlockSmoother(x, block=block)
    for span in (0.3, 0.75):
        counts = rng.multinomial(x.size, np.full(x.size, 1 / x.size)).astype(float)
        at = np.unique(weighted_quantile(x, counts, np.linspace(0, 1, 60)))
        np.testing.assert_allclose(smoother.smooth(y, counts, at, span),
                                   smooth_sorted(x, y, at, span, counts), rtol=0, atol=1e-11)
