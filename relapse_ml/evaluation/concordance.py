"""Concordance index for competing risks (Wolbers et al. 2009), plain and IPCW.

Pair (i, j) is comparable when i has the ``cause`` event at T_i ≤ tau and j is known
to be free of it at T_i: T_j > T_i, or j censored at T_j = T_i (as scikit-survival),
or j had another cause's event at T_j ≤ T_i. Concordant when r_i > r_j; tied risks
count ½. The IPCW version weighs a pair 1/G(T_i−)² when j is still under observation
at T_i (Uno; scikit-survival's ``concordance_index_ipcw``) and 1/(G(T_i−) G(T_j−))
when j had a competing event first (both times must be observed).
"""

from __future__ import annotations

import warnings

import numpy as np

from relapse_ml.errors import RelapseMLError
from relapse_ml.evaluation._inputs import check_outcome, warn_beyond_follow_up
from relapse_ml.evaluation.ipcw import _safe_inverse, censoring_km
from relapse_ml.evaluation.times import EvaluationWarning

_BLOCK = 512  # cases per block: bounds memory at _BLOCK x n pair matrices


def concordance_index_wolbers(
    time, event, risk, tau: float | None = None, cause: int = 1, *, tied_tol: float = 1e-8
) -> float:
    """Wolbers' C-index truncated at ``tau`` (None: no truncation), unweighted.

    risk: one score per patient, higher = earlier ``cause`` event (e.g. the CIF at tau).
    """
    t, e = check_outcome(time, event, "test")
    w = np.ones(t.size)
    return _concordance(t, e, _check_risk(risk, t.size), tau, cause, w, w, tied_tol)


def concordance_index_ipcw(
    time_train,
    event_train,
    time_test,
    event_test,
    risk,
    tau: float | None = None,
    cause: int = 1,
    *,
    tied_tol: float = 1e-8,
    at_event: str = "before",
) -> float:
    """Wolbers' C-index with inverse probability of censoring weights (G from the training data).

    at_event: "before" reads G at T− (methods notes); "at" reads it at T, as
        scikit-survival does (they differ only on ties of events with censorings).
    """
    t_train, e_train = check_outcome(time_train, event_train, "train")
    t, e = check_outcome(time_test, event_test, "test")
    if tau is not None:
        warn_beyond_follow_up(np.array([float(tau)]), t_train, t)
    G = censoring_km(t_train, e_train)
    if at_event not in ("before", "at"):
        raise ValueError(f"at_event must be 'before' or 'at', got {at_event!r}")
    w = _safe_inverse(G.before(t) if at_event == "before" else G.at(t))
    return _concordance(t, e, _check_risk(risk, t.size), tau, cause, w, w, tied_tol)


def _check_risk(risk, n: int) -> np.ndarray:
    r = np.asarray(risk, dtype=float).ravel()
    if r.size != n or not np.all(np.isfinite(r)):
        raise RelapseMLError(f"risk must hold {n} finite values (one per test patient).")
    return r


def _concordance(t, e, r, tau, cause, w_case, w_other, tied_tol) -> float:
    """Σ_pairs w (1{r_i > r_j} + ½ tie) / Σ_pairs w over comparable pairs (i a case)."""
    horizon = np.inf if tau is None else float(tau)
    cases = np.flatnonzero((e == cause) & (t <= horizon) & (w_case > 0))
    competing = (e != 0) & (e != cause)
    numerator = denominator = 0.0
    for start in range(0, cases.size, _BLOCK):
        i = cases[start : start + _BLOCK]
        ti, tj = t[i][:, None], t[None, :]
        at_risk = (tj > ti) | ((tj == ti) & (e[None, :] == 0))
        competed = competing[None, :] & (tj <= ti)
        # j observed beyond T_i: Uno's 1/G(T_i−)²; j's competing event first: 1/(G(T_i−) G(T_j−))
        pair_w = np.where(at_risk, w_case[i][:, None], 0.0) + np.where(
            competed, w_other[None, :], 0.0
        )
        pair_w = pair_w * w_case[i][:, None]
        diff = r[i][:, None] - r[None, :]
        score = np.where(np.abs(diff) <= tied_tol, 0.5, (diff > 0).astype(float))
        numerator += float(np.sum(pair_w * score))
        denominator += float(np.sum(pair_w))
    if denominator == 0:
        warnings.warn(
            "C-index undefined: no relapse before the horizon with someone known to be "
            "relapse-free at that time (returning NaN).",
            EvaluationWarning,
            stacklevel=3,
        )
        return np.nan
    return numerator / denominator
