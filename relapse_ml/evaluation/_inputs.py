"""Input checks shared by the metrics: outcome arrays, times, prediction matrices."""

from __future__ import annotations

import warnings

import numpy as np

from relapse_ml.data.outcome import check_outcome as _check_outcome
from relapse_ml.errors import RelapseMLError
from relapse_ml.evaluation.times import EvaluationWarning, follow_up_limit


def check_outcome(time, event, name: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """``(time, event)`` as float / int arrays; raise naming the bad value (the data's validator)."""
    return _check_outcome(time, event, name=name)


def check_times(times) -> np.ndarray:
    """Evaluation times as a sorted 1-d float array without duplicates."""
    t = np.atleast_1d(np.asarray(times, dtype=float)).ravel()
    if t.size == 0 or not np.all(np.isfinite(t)):
        raise RelapseMLError("times must be a non-empty array of finite days.")
    if np.any(np.diff(t) <= 0):
        raise RelapseMLError("times must be strictly increasing (one prediction column per time).")
    return t


def check_prediction(prediction, n_samples: int, n_times: int) -> np.ndarray:
    """A prediction as an ``(n_samples, n_times)`` float array (a 1-d one is used at every time)."""
    p = np.asarray(prediction, dtype=float)
    if not np.all(np.isfinite(p)):
        raise RelapseMLError("prediction holds NaN or infinite values.")
    if p.ndim == 1:
        if p.size != n_samples:
            raise RelapseMLError(f"prediction has {p.size} values for {n_samples} test patients.")
        return np.broadcast_to(p[:, None], (n_samples, n_times))
    if p.ndim == 2 and p.shape == (n_samples, 1) and n_times > 1:
        return np.broadcast_to(p, (n_samples, n_times))
    if p.shape != (n_samples, n_times):
        raise RelapseMLError(
            f"prediction has shape {p.shape}; expected ({n_samples}, {n_times}) "
            "(test patients x evaluation times)."
        )
    return p


def warn_beyond_follow_up(times: np.ndarray, time_train, time_test) -> None:
    """Warn when a metric is asked at times where censoring weights are not estimable."""
    limit = follow_up_limit(time_train, time_test)
    if np.any(times >= limit):
        warnings.warn(
            f"Evaluation time(s) {times[times >= limit].tolist()} at or beyond follow-up "
            f"(limit {limit:g}): censoring weights there are unreliable. "
            "Use default_eval_times or evaluate(), which keep times inside follow-up.",
            EvaluationWarning,
            stacklevel=3,
        )
