"""Inverse probability of censoring weights (IPCW) shared by every metric.

The censoring distribution G(t) = P(C > t) is the Kaplan–Meier estimate with
censoring (event code 0) as the "event"; relapse and death censor it. At a tied
time, events come before censorings: a patient censored at t was still under
observation when the events at t happened, so G(t−) for an event at t is not
lowered by the censorings at t (the convention of scikit-survival's reverse
Kaplan–Meier and of R's riskRegression / prodlim).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CensoringKM:
    """Step function G(t) of the censoring distribution.

    times_: distinct observed times (ascending); survival_: G just after each.
    """

    times_: np.ndarray
    survival_: np.ndarray

    def at(self, t) -> np.ndarray:
        """G(t) = P(C > t); 1 before the first time, the last value after the last."""
        idx = np.searchsorted(self.times_, np.asarray(t, dtype=float), side="right")
        return np.r_[1.0, self.survival_][idx]

    def before(self, t) -> np.ndarray:
        """G(t−) = P(C ≥ t): the left limit, not lowered by censorings at t."""
        idx = np.searchsorted(self.times_, np.asarray(t, dtype=float), side="left")
        return np.r_[1.0, self.survival_][idx]


def censoring_km(time, event, weight=None) -> CensoringKM:
    """Kaplan–Meier of the censoring distribution (event == 0 is the "event").

    event: 0 censored, any other code an event (it censors the censoring time).
    weight: frequency weight of each row (a bootstrap replicate's counts; default 1): the
        estimate equals the one on the rows repeated that many times.
    """
    time = np.asarray(time, dtype=float)
    times, inverse = np.unique(time, return_inverse=True)
    return censoring_km_counts(times, inverse.ravel(), np.asarray(event) == 0, weight)


def censoring_km_counts(times, inverse, censored, weight=None) -> CensoringKM:
    """`censoring_km` from the distinct ``times`` and each row's index ``inverse`` into them.

    Sorting once and passing the weights of many bootstrap replicates reuses the sort.
    """
    w = None if weight is None else np.asarray(weight, dtype=float)
    n_total = np.bincount(inverse, weights=w, minlength=times.size)
    n_censored = np.bincount(inverse, weights=censored if w is None else w * censored,
                             minlength=times.size)
    total = float(inverse.size if w is None else w.sum())
    at_risk = total - np.r_[0.0, np.cumsum(n_total)[:-1]]
    # events at t leave the risk set before the censorings at t are counted
    at_risk_censoring = at_risk - (n_total - n_censored)
    hazard = np.divide(
        n_censored, at_risk_censoring, out=np.zeros(times.size), where=at_risk_censoring > 0
    )
    return CensoringKM(times_=times, survival_=np.cumprod(1.0 - hazard))


def ipcw_weights(time, event, tau, G: CensoringKM, *, at_event: str = "before") -> np.ndarray:
    """IPCW weights for the status at horizon ``tau`` (methods notes).

    An event of any cause at T ≤ tau gets 1/G(T−); anyone still event-free at tau
    (T > tau) gets 1/G(tau); censored at or before tau gets 0. Where G is 0 the
    weight is 0 (the status cannot be estimated there), as scikit-survival does.

    tau: a number (returns shape (n,)) or an array of horizons (returns (n, n_tau)).
    at_event: "before" evaluates G at T− (methods notes, riskRegression);
        "at" evaluates it at T (scikit-survival's convention; the two differ only
        when a censoring in the training data falls exactly on an event time).
    """
    if at_event not in ("before", "at"):
        raise ValueError(f"at_event must be 'before' or 'at', got {at_event!r}")
    time = np.asarray(time, dtype=float)
    event = np.asarray(event)
    scalar = np.ndim(tau) == 0
    tau = np.atleast_1d(np.asarray(tau, dtype=float))
    g_event = G.before(time) if at_event == "before" else G.at(time)
    g_tau = G.at(tau)
    w_event = _safe_inverse(g_event)[:, None]
    w_tau = _safe_inverse(g_tau)[None, :]
    had_event = (event != 0)[:, None] & (time[:, None] <= tau[None, :])
    event_free = time[:, None] > tau[None, :]
    weights = np.where(had_event, w_event, 0.0) + np.where(event_free, w_tau, 0.0)
    return weights[:, 0] if scalar else weights


def _safe_inverse(g: np.ndarray) -> np.ndarray:
    """1/g, with 0 where g is 0 (no information left about the censoring)."""
    g = np.asarray(g, dtype=float)
    return np.divide(1.0, g, out=np.zeros_like(g), where=g > 0)
