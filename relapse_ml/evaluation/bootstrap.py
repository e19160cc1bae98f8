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
    if groups is None:
        groups = np.arange(n)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    inverse = inverse.ravel()
    if inverse.size != n:
        raise ValueError(f"groups has {inverse.size} entries for {n} rows")
    order = np.argsort(inverse, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(inverse))]
    members = [order[starts[g] : starts[g + 1]] for g in range(starts.size - 1)]

    from threadpoolctl import threadpool_limits

    estimate = _as_dict(metric_fn(*arrays))
    rng = np.random.default_rng(seed)
    replicates = []
    # the metrics' small matrix products run several times faster on one BLAS thread
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        # undefined metrics in a replicate are expected; they are counted, not shouted
        warnings.simplefilter("ignore", EvaluationWarning)
        for _ in range(n_boot):
            drawn = rng.integers(0, len(members), size=len(members))
            rows = np.concatenate([members[g] for g in drawn])
            replicates.append(_as_dict(metric_fn(*(_take(a, rows) for a in arrays))))
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
