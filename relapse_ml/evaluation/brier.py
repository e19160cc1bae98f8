"""Competing-risk Brier score with IPCW, its integral over time, and the IPA.

BS(t) = (1/n) Σ_i W_i(t) · (1{T_i ≤ t, δ_i = cause} − F̂(t | x_i))², with the IPCW
weights of `ipcw_weights` (a death of another cause before t is an observed
"no relapse" weighted 1/G(T_i−)), G fitted on the training data — as R's
riskRegression ``Score``. Without competing events this is scikit-survival's
``brier_score`` for the survival function S = 1 − F.
"""

from __future__ import annotations

import numpy as np

from relapse_ml.evaluation._inputs import (
    check_outcome,
    check_prediction,
    check_times,
    warn_beyond_follow_up,
)
from relapse_ml.evaluation.ipcw import censoring_km, ipcw_weights


def brier_score(
    time_train,
    event_train,
    time_test,
    event_test,
    prediction,
    times,
    cause: int = 1,
    *,
    at_event: str = "before",
) -> np.ndarray:
    """Brier score of the predicted incidence of ``cause`` at each of ``times``.

    prediction: ``(n_test, n_times)`` predicted cumulative incidence F̂(t | x_i).
    at_event: where G is read for an observed event, "before" (T−, methods notes) or
        "at" (T, scikit-survival); see `ipcw_weights`.
    """
    t_train, e_train = check_outcome(time_train, event_train, "train")
    t_test, e_test = check_outcome(time_test, event_test, "test")
    times = check_times(times)
    cif = check_prediction(prediction, t_test.size, times.size)
    warn_beyond_follow_up(times, t_train, t_test)
    weights = ipcw_weights(t_test, e_test, times, censoring_km(t_train, e_train), at_event=at_event)
    observed = (t_test[:, None] <= times[None, :]) & (e_test[:, None] == cause)
    return np.mean(weights * np.square(observed - cif), axis=0)


def integrated_brier_score(
    time_train, event_train, time_test, event_test, prediction, times, cause: int = 1, **kwargs
) -> float:
    """Trapezoidal mean of the Brier score over ``times`` (normalised by their span)."""
    times = check_times(times)
    scores = brier_score(
        time_train, event_train, time_test, event_test, prediction, times, cause, **kwargs
    )
    if times.size == 1:
        return float(scores[0])
    return float(np.trapezoid(scores, times) / (times[-1] - times[0]))


def null_prediction(time_train, event_train, n_test: int, times, cause: int = 1) -> np.ndarray:
    """The null model's prediction: Aalen–Johansen on the training data, same for everyone."""
    from relapse_ml.models.aalen_johansen import aalen_johansen

    cif = aalen_johansen(time_train, event_train, check_times(times), cause=cause)
    return np.broadcast_to(cif[None, :], (n_test, cif.size))


def index_of_prediction_accuracy(
    time_train,
    event_train,
    time_test,
    event_test,
    prediction,
    times,
    cause: int = 1,
    *,
    null_cif: np.ndarray | None = None,
    **kwargs,
) -> np.ndarray:
    """IPA(t) = 1 − BS_model(t) / BS_null(t), the null being Aalen–Johansen on the training data.

    null_cif: the null model's predictions to use instead (e.g. out-of-fold
        Aalen–Johansen incidences in cross-validation), shape ``(n_test, n_times)``.
    """
    times = check_times(times)
    n_test = np.asarray(time_test).size
    null = (
        null_prediction(time_train, event_train, n_test, times, cause)
        if null_cif is None
        else null_cif
    )
    args = (time_train, event_train, time_test, event_test)
    model = brier_score(*args, prediction, times, cause, **kwargs)
    reference = brier_score(*args, null, times, cause, **kwargs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(reference > 0, 1.0 - model / reference, np.nan)
