"""Time-dependent AUC for the relapse cause: cumulative cases, dynamic controls, IPCW.

Blanche et al. (2013), "definition 2" (as riskRegression): at time t the cases
relapsed by t (weight 1/G(T_i−)); the controls are event-free at t (weight 1/G(t))
or died of another cause by t (weight 1/G(T_j−)). AUC(t) = Σ w_i w_j (1{r_i > r_j}
+ ½ 1{r_i = r_j}) / (Σ w_i Σ w_j). Without competing events this is
scikit-survival's ``cumulative_dynamic_auc`` (its controls carry a constant weight).
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np

from relapse_ml.evaluation._inputs import (
    check_outcome,
    check_prediction,
    check_times,
    warn_beyond_follow_up,
)
from relapse_ml.evaluation.ipcw import censoring_km, ipcw_weights
from relapse_ml.evaluation.times import EvaluationWarning


class AUCResult(NamedTuple):
    """AUC(t) at each time and its mean weighted by the increments of the incidence."""

    auc: np.ndarray
    mean_auc: float


def cumulative_dynamic_auc(
    time_train,
    event_train,
    time_test,
    event_test,
    prediction,
    times,
    cause: int = 1,
    *,
    tied_tol: float = 1e-8,
    at_event: str = "before",
) -> AUCResult:
    """AUC(t) of the risk ``prediction`` for ``cause`` at each of ``times``.

    prediction: ``(n_test, n_times)`` risks (e.g. the CIF at each time) or ``(n_test,)``.
    tied_tol: risks closer than this count as tied (½), as in scikit-survival.
    Returns ``AUCResult(auc, mean_auc)``; mean_auc = Σ AUC(t_k) ΔF(t_k) / F(t_last), F the
        Aalen–Johansen incidence of ``cause`` in the test data (scikit-survival's
        Kaplan–Meier-weighted mean when there is no competing event). AUC(t) is NaN when
        there is no case or no control at t.
    """
    t_train, e_train = check_outcome(time_train, event_train, "train")
    t_test, e_test = check_outcome(time_test, event_test, "test")
    times = check_times(times)
    risk = check_prediction(prediction, t_test.size, times.size)
    warn_beyond_follow_up(times, t_train, t_test)
    weights = ipcw_weights(t_test, e_test, times, censoring_km(t_train, e_train), at_event=at_event)

    auc = np.full(times.size, np.nan)
    for k, t in enumerate(times):
        case = (t_test <= t) & (e_test == cause) & (weights[:, k] > 0)
        control = ((t_test > t) | ((t_test <= t) & (e_test != 0) & (e_test != cause))) & (
            weights[:, k] > 0
        )
        if case.any() and control.any():
            auc[k] = _weighted_auc(
                risk[case, k], weights[case, k], risk[control, k], weights[control, k], tied_tol
            )
    if np.isnan(auc).any():
        warnings.warn(
            f"AUC undefined (no case or no control) at t = {times[np.isnan(auc)].tolist()}",
            EvaluationWarning,
            stacklevel=2,
        )
    return AUCResult(auc, _mean_auc(auc, t_test, e_test, times, cause))


def _weighted_auc(r_case, w_case, r_control, w_control, tied_tol: float) -> float:
    """Σ w_i w_j (1{r_i > r_j} + ½ tie) / (Σ w_i Σ w_j), in O(n log n) by sorting controls."""
    return AUCPairs(r_case, r_control, tied_tol).value(w_case, w_control)


class AUCPairs:
    """The sorting part of `_weighted_auc`, done once for many weightings (`value`)."""

    def __init__(self, r_case, r_control, tied_tol: float):
        self.control_order = np.argsort(r_control)  # ties are resolved by value: not stable
        r_sorted = r_control[self.control_order]
        # sorted needles: the binary searches stay in cache
        self.case_order = by_risk = np.argsort(r_case)
        r_case = r_case[by_risk]
        self.below = np.searchsorted(r_sorted, r_case - tied_tol, side="left")
        self.up_to = np.searchsorted(r_sorted, r_case + tied_tol, side="right")

    def value(self, w_case, w_control):
        """The AUC under case and control weights: (n,) -> float, or (n, R) -> (R,) values
        (one weighting per column, e.g. bootstrap replicates)."""
        concordant, case_total, control_total = self.sums_sorted(
            w_case[self.case_order], w_control[self.control_order])
        with np.errstate(invalid="ignore", divide="ignore"):
            value = concordant / (case_total * control_total)
        return float(value) if np.ndim(value) == 0 else value

    def sums_sorted(self, w_case, w_control):
        """Σ w_i w_j (1{r_i > r_j} + ½ tie), Σ w_i and Σ w_j, the weights given in the sorted
        orders (``case_order``, ``control_order``)."""
        cum_w = np.cumsum(w_control, axis=0)
        cum_w = np.concatenate([np.zeros((1, *cum_w.shape[1:])), cum_w])
        below, up_to = cum_w[self.below], cum_w[self.up_to]
        concordant = np.sum(w_case * (below + 0.5 * (up_to - below)), axis=0)
        return concordant, w_case.sum(axis=0), cum_w[-1]


def _mean_auc(auc, time, event, times, cause: int) -> float:
    if auc.size == 1:
        return float(auc[0])
    from relapse_ml.models.aalen_johansen import aalen_johansen

    increments = np.diff(np.r_[0.0, aalen_johansen(time, event, times, cause=cause)])
    ok = ~np.isnan(auc)
    total = increments[ok].sum()
    return float(np.sum(auc[ok] * increments[ok]) / total) if total > 0 else np.nan
