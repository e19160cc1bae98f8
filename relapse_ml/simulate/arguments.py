"""The simulator's argument checks: one clear message per bad value (`simulate_trial`, and the
CLI's ``--truth-landmarks``)."""

from __future__ import annotations

import math

import numpy as np

from relapse_ml.errors import RelapseMLError
from relapse_ml.simulate.scenarios import get_scenario

LAST_RANDOMIZATION_DAY = 60
MAX_DAY = 3650  # landmark + horizon must stay inside ten years


def check_truth_landmarks(truth_landmarks, horizon_days) -> list[float]:
    try:
        days = sorted({float(d) for d in truth_landmarks})
    except (TypeError, ValueError):
        raise RelapseMLError(
            f"truth_landmarks must be a list of days, got {truth_landmarks!r}"
        ) from None
    for d in days:
        if not math.isfinite(d) or d < LAST_RANDOMIZATION_DAY or d + horizon_days > MAX_DAY:
            raise RelapseMLError(
                f"every truth landmark must be a day >= {LAST_RANDOMIZATION_DAY} (the last "
                f"randomization day) with landmark + horizon_days <= {MAX_DAY}, got {d:g}"
            )
    return days


def check_args(n, seed, scenario, landmark_day, horizon_days, truth_draws) -> None:
    get_scenario(scenario)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise RelapseMLError(
            f"n must be an integer >= 1 (the number of randomized patients), got {n!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RelapseMLError(f"seed must be an integer >= 0, got {seed!r}")
    for name, value in (("landmark_day", landmark_day), ("horizon_days", horizon_days)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float | np.integer | np.floating)
            or not math.isfinite(value)
        ):
            raise RelapseMLError(f"{name} must be a number of days, got {value!r}")
    if landmark_day < LAST_RANDOMIZATION_DAY:
        raise RelapseMLError(
            f"landmark_day must be >= {LAST_RANDOMIZATION_DAY} (the last randomization day), got {landmark_day!r}: "
            "the truth is conditioned on the state at randomization"
        )
    if horizon_days <= 0:
        raise RelapseMLError(f"horizon_days must be > 0, got {horizon_days!r}")
    if landmark_day + horizon_days > MAX_DAY:
        raise RelapseMLError(
            f"landmark_day + horizon_days must be <= {MAX_DAY}, got {landmark_day + horizon_days:g}"
        )
    if (
        isinstance(truth_draws, bool)
        or not isinstance(truth_draws, int | np.integer)
        or truth_draws < 2
        or truth_draws & (truth_draws - 1)
    ):
        raise RelapseMLError(
            f"truth_draws must be a power of two >= 2 (a balanced Sobol set), got {truth_draws!r}"
        )
