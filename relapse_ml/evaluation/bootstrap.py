"""Percentile bootstrap confidence intervals, resampling patients (not rows)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from relapse_ml.evaluation.times import EvaluationWarning


def bootstrap_ci(
    metric_fn: Callable,
    *arrays,
    groups=None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Point estimate and percentile interval of ``metric_fn(*arrays)``.

    arrays: indexed by row along their first axis (numpy arrays or pandas objects).
    groups: patient id of each row; whole patients are resampled with replacement,
        keeping all their rows (a landmark-stacked patient's rows are correlated).
        Default: every row its own patient.
    metric_fn: returns a float or a mapping name -> float. Replicates giving NaN are
        left out (``n_boot_ok`` counts the others).
    Returns a DataFrame indexed by metric name ("value" for a float) with columns
    estimate, ci_low, ci_high, n_boot_ok.
    """
    n = _n_rows(arrays[0])
    inverse, n_groups = _group_index(groups, n)
    order = np.argsort(inverse, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(inverse))]
    members = [order[starts[g] : starts[g + 1]] for g in range(starts.size - 1)]

    from threadpoolctl import threadpool_limits

    estimate = _as_dict(metric_fn(*arrays))
    replicates = []
    # the metrics' small matrix products run several times faster on one BLAS thread
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        # undefined metrics in a replicate are expected; they are counted, not shouted
        warnings.simplefilter("ignore", EvaluationWarning)
        for drawn in _draws(n_groups, n_boot, seed):
            rows = np.concatenate([members[g] for g in drawn])
            replicates.append(_as_dict(metric_fn(*(_take(a, rows) for a in arrays))))
    return _summary(estimate, replicates, level)


def bootstrap_ci_counts(
    metric_fn: Callable,
    n_rows: int,
    groups=None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    *,
    batch: int = 8,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """`bootstrap_ci` with each replicate given as frequency weights instead of resampled rows.

    metric_fn: takes an ``(R, n_rows)`` array of counts (row i of the data counted
        ``counts[r, i]`` times in replicate r: the number of times its patient was drawn) and
        returns R mappings name -> float. The replicates are the same draws as
        `bootstrap_ci`'s for the same ``seed`` and ``groups`` (so the same intervals when
        ``metric_fn`` gives on counts what the metric gives on the repeated rows).
    batch: replicates per call of ``metric_fn``; n_jobs: threads running the batches
        (joblib; -1: every core). The point estimate is ``metric_fn`` on counts of 1.
    """
    inverse, n_groups = _group_index(groups, n_rows)
    from threadpoolctl import threadpool_limits

    from relapse_ml.parallel import in_threads, n_threads

    def run(chunk):
        counts = np.stack([np.bincount(d, minlength=n_groups)[inverse] for d in chunk])
        return [_as_dict(v) for v in metric_fn(counts)]

    draws = list(_draws(n_groups, n_boot, seed))
    chunks = [draws[i : i + batch] for i in range(0, len(draws), batch)]
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore", EvaluationWarning)
        estimate = _as_dict(metric_fn(np.ones((1, n_rows)))[0])
        results = in_threads(run, [(c,) for c in chunks], n_threads(n_jobs), blas_one=True)
    return _summary(estimate, [r for chunk in results for r in chunk], level)


def _group_index(groups, n: int) -> tuple[np.ndarray, int]:
    """Each row's patient as 0 … n_groups − 1 (every row its own patient by default)."""
    if groups is None:
        groups = np.arange(n)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    inverse = inverse.ravel()
    if inverse.size != n:
        raise ValueError(f"groups has {inverse.size} entries for {n} rows")
    return inverse, int(inverse.max()) + 1 if n else 0


def _draws(n_groups: int, n_boot: int, seed: int):
    """The patients drawn (with replacement) in each replicate: the one sequence both
    bootstrap functions use."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, n_groups, size=n_groups)


def _summary(estimate: dict, replicates: list[dict], level: float) -> pd.DataFrame:
    reps = pd.DataFrame(replicates, columns=list(estimate))
    alpha = (1.0 - level) / 2
    return pd.DataFrame(
        {
            "estimate": pd.Series(estimate),
            "ci_low": reps.quantile(alpha),
            "ci_high": reps.quantile(1 - alpha),
            "n_boot_ok": reps.notna().sum(),
        }
    )


def _as_dict(value) -> dict[str, float]:
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    return {"value": float(value)}


def _n_rows(a) -> int:
    return len(a)


def _take(a, rows: np.ndarray):
    if hasattr(a, "iloc"):
        return a.iloc[rows]
    return np.asarray(a)[rows]
