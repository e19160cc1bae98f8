"""Aalen–Johansen cumulative incidence: the marginal (null) competing-risk model.

F_k(t) = sum over event times t_j <= t of S(t_{j-1}) * d_kj / n_j, with S the
Kaplan–Meier of any event and n_j the number at risk (time >= t_j). Ties are
handled exactly (censorings at t_j are still at risk at t_j); never 1 - KM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.models.base import (
    CompetingRiskModel,
    check_cause,
    check_outcome,
    check_times,
    step_at,
)


def aalen_johansen_table(time, event) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(event_times, F1, F2)``: both incidences just after each distinct event time."""
    t, e = check_outcome(time, event)
    grid = np.unique(t[e > 0])
    if grid.size == 0:
        return grid, np.zeros(0), np.zeros(0)
    sorted_t = np.sort(t)
    at_risk = t.size - np.searchsorted(sorted_t, grid, side="left")
    pos = np.searchsorted(grid, t)  # only read for rows with an event, whose time is in grid
    d1 = np.bincount(pos[e == 1], minlength=grid.size).astype(float)
    d2 = np.bincount(pos[e == 2], minlength=grid.size).astype(float)
    surv = np.cumprod(1.0 - (d1 + d2) / at_risk)
    surv_before = np.concatenate([[1.0], surv[:-1]])
    f1 = np.cumsum(surv_before * d1 / at_risk)
    f2 = np.cumsum(surv_before * d2 / at_risk)
    return grid, f1, f2


def aalen_johansen(time, event, times, cause: int = 1) -> np.ndarray:
    """Cumulative incidence of ``cause`` (1 relapse, 2 NRM) at ``times`` (days), exact ties."""
    cause = check_cause(cause)
    grid, f1, f2 = aalen_johansen_table(time, event)
    return step_at(grid, f1 if cause == 1 else f2, check_times(times))


class AalenJohansen(CompetingRiskModel):
    """The marginal model: every patient gets the cohort's Aalen–Johansen curves (X ignored)."""

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        self.event_times_, self.f1_, self.f2_ = aalen_johansen_table(time, event)

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(X)
        f1 = np.broadcast_to(step_at(self.event_times_, self.f1_, times), (n, times.size))
        f2 = np.broadcast_to(step_at(self.event_times_, self.f2_, times), (n, times.size))
        return f1.copy(), f2.copy()
