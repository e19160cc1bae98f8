"""Evaluation times inside follow-up, so that evaluation never fails on a horizon.

Metrics at t need someone still under observation after t (a control) and a
censoring distribution with G(t) > 0 (estimated on the training data). Both hold
strictly below the smaller of the largest training and the largest test time.
Times outside are dropped (horizons clipped) with an `EvaluationWarning` rather
than an error — a common complaint about existing tools.
"""

from __future__ import annotations

import warnings

import numpy as np

from relapse_ml.errors import RelapseMLError


class EvaluationWarning(UserWarning):
    """An evaluation that went ahead on adjusted times, or a metric left undefined."""


def follow_up_limit(time_train, time_test=None) -> float:
    """The exclusive upper bound of evaluable times: min(max train time, max test time)."""
    limit = float(np.max(time_train))
    if time_test is not None:
        limit = min(limit, float(np.max(time_test)))
    return limit


def default_eval_times(time, event, n: int = 20, cause: int = 1) -> np.ndarray:
    """A grid of ``n`` times strictly inside follow-up.

    From the 10th percentile of the times of ``cause`` events (of any event when
    there are none) to the 90th percentile of all observed times, capped below the
    largest observed time.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    distinct = np.unique(time)
    if distinct.size < 2:
        raise RelapseMLError(
            "Cannot choose evaluation times: fewer than two distinct follow-up times. "
            "Try: evaluate on a larger cohort."
        )
    events = time[event == cause]
    if events.size == 0:
        events = time[event != 0] if np.any(event != 0) else time
    lower = float(np.quantile(events, 0.1))
    upper = float(np.quantile(time, 0.9))
    if upper >= distinct[-1]:
        upper = float(distinct[-2])
    if lower >= upper:
        lower = float(distinct[0])
    if lower >= upper:
        return np.array([upper])
    return np.unique(np.linspace(lower, upper, n))


def times_inside(times, time_train, time_test=None) -> np.ndarray:
    """``times`` (sorted, unique) without those outside follow-up, warning about drops."""
    times = np.unique(np.asarray(times, dtype=float))
    limit = follow_up_limit(time_train, time_test)
    inside = (times > 0) & (times < limit)
    if not inside.all():
        warnings.warn(
            f"Dropped {int((~inside).sum())} evaluation time(s) outside follow-up "
            f"(0, {limit:g}): {times[~inside].tolist()}",
            EvaluationWarning,
            stacklevel=2,
        )
    if not inside.any():
        raise RelapseMLError(
            f"No evaluation time lies inside follow-up (0, {limit:g}). "
            "Try: 1) leave times unset to use default_eval_times; 2) choose a shorter horizon."
        )
    return times[inside]


def clip_horizon(tau: float, time_train, time_test=None, grid=None) -> float:
    """``tau`` if inside follow-up, else the largest time below the limit (with a warning).

    grid: the times at which predictions exist; the clipped horizon is taken from it
        (the largest grid time inside follow-up and ≤ tau), so that a prediction exists.
    """
    tau = float(tau)
    limit = follow_up_limit(time_train, time_test)
    if 0 < tau < limit:
        return tau
    if grid is not None:
        grid = np.asarray(grid, dtype=float)
        candidates = grid[(grid > 0) & (grid < limit) & (grid <= tau)]
        if candidates.size == 0:
            raise RelapseMLError(
                f"Horizon {tau:g} is outside follow-up (0, {limit:g}) and no prediction time "
                "inside follow-up precedes it. Try: predict at times inside follow-up."
            )
        new = float(candidates.max())
    else:
        parts = [np.ravel(time_train)] + ([] if time_test is None else [np.ravel(time_test)])
        observed = np.unique(np.concatenate(parts))
        below = observed[(observed < limit) & (observed > 0)]
        if below.size == 0:
            raise RelapseMLError(f"Horizon {tau:g}: no follow-up to evaluate it on.")
        new = float(below.max())
    warnings.warn(
        f"Horizon {tau:g} is beyond follow-up (evaluable below {limit:g}); using {new:g}.",
        EvaluationWarning,
        stacklevel=2,
    )
    return new
