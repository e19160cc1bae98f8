"""Aalen–Johansen cumulative incidence: the marginal (null) competing-risk model.

F_k(t) = sum over event times t_j <= t of S(t_{j-1}) * d_kj / n_j, with S the
Kaplan–Meier of any event and n_j the number at risk (time >= t_j). Ties are
handled exactly (censorings at t_j are still at risk at t_j); never 1 - KM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.incidence import marginal_incidence
from relapse_ml.models.base import (
    CompetingRiskModel,
    check_cause,
    check_outcome,
    check_times,
    step_at,
)


def aalen_johansen_table(time, event, weight=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(event_times, F1, F2)``: both incidences just after each distinct event time.

    weight: frequency weight of each row (default 1): the table of the rows repeated that many
        times (a bootstrap replicate's counts); event times of weight 0 add nothing.
    """
    t, e = check_outcome(time, event)
    return AalenJohansenCounts(t, e).table(weight)


class AalenJohansenCounts:
    """The sorting part of `aalen_johansen_table`, done once for many weightings (`table`)."""

    def __init__(self, t: np.ndarray, e: np.ndarray):
        self.grid = np.unique(t[e > 0])
        self.order = np.argsort(t, kind="stable")
        self.before = np.searchsorted(t[self.order], self.grid, side="left")
        pos = np.searchsorted(self.grid, t)  # read only for rows with an event (time in grid)
        self.rows = [np.flatnonzero(e == k) for k in (1, 2)]
        self.pos = [pos[r] for r in self.rows]
        self.n = t.size

    def table(self, weight=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        grid = self.grid
        if grid.size == 0:
            return grid, np.zeros(0), np.zeros(0)
        w = np.ones(self.n) if weight is None else np.asarray(weight, dtype=float)
        # weight with time >= each event time
        at_risk = w.sum() - np.r_[0.0, np.cumsum(w[self.order])][self.before]
        d1, d2 = (np.bincount(p, weights=w[r], minlength=grid.size)
                  for p, r in zip(self.pos, self.rows, strict=True))
        f1, f2 = incidence_steps(at_risk, d1, d2)
        return grid, f1, f2


def incidence_steps(at_risk, d1, d2) -> tuple[np.ndarray, np.ndarray]:
    """Both Aalen–Johansen incidences after each event time from the numbers at risk and of
    events there (times where nobody is at risk add nothing)."""
    h1 = np.divide(d1, at_risk, out=np.zeros(d1.size), where=at_risk > 0)
    h2 = np.divide(d2, at_risk, out=np.zeros(d2.size), where=at_risk > 0)
    surv_before = np.r_[1.0, np.cumprod(1.0 - (h1 + h2))[:-1]]
    return np.cumsum(surv_before * h1), np.cumsum(surv_before * h2)


def aalen_johansen(time, event, times, cause: int = 1) -> np.ndarray:
    """Cumulative incidence of ``cause`` (1 relapse, 2 NRM) at ``times`` (days), exact ties."""
    cause = check_cause(cause)
    grid, f1, f2 = aalen_johansen_table(time, event)
    return step_at(grid, f1 if cause == 1 else f2, check_times(times))


class AalenJohansen(CompetingRiskModel):
    """The marginal model: every patient gets the cohort's Aalen–Johansen curves.

    X is ignored, except on stacked landmarks (a ``landmark_day`` column with several
    values, the super-landmark data set): there the curves are those of each landmark's own
    rows — the null model of "which visit is it", nothing else. A row whose day was not a
    training landmark gets the curves of the latest landmark on or before it (the earliest
    one before the first)."""

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        self.event_times_, self.f1_, self.f2_ = aalen_johansen_table(time, event)
        day = landmark_days(X)
        self.strata_ = {}
        if day is not None and np.unique(day).size > 1:
            self.strata_ = {
                float(d): aalen_johansen_table(time[day == d], event[day == d])
                for d in np.unique(day)
            }

    def tables(self) -> dict[float, tuple]:
        """{landmark day: (event_times, F1, F2)}; one entry (key 0) when unstratified."""
        return self.strata_ or {0.0: (self.event_times_, self.f1_, self.f2_)}

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return marginal_incidence(self.tables(), landmark_days(X), times, len(X))


def landmark_days(X) -> np.ndarray | None:
    """The ``landmark_day`` column of a stacked-landmark frame (None without one)."""
    if isinstance(X, pd.DataFrame) and "landmark_day" in X.columns:
        return X["landmark_day"].to_numpy(float)
    return None
