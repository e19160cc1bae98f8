"""Fine–Gray subdistribution-hazard model with Geskus's censoring weights.

A patient with the competing event at T_i stays in the risk set of the cause of
interest after T_i with weight w_i(t) = G(t-) / G(T_i-), G the Kaplan–Meier of
the censoring distribution (``relapse_ml.evaluation.ipcw.censoring_km``); patients
still event-free have weight 1. Geskus (2011) writes this as a weighted Cox fit
with delayed entry on expanded data (``geskus_expansion``, kept for checks and
for other Cox software). The fit here (`partial_likelihood`) uses the same weights without expanding:
w_i(t) factors into G(t-) times 1/G(T_i-), so the weighted risk-set sums are
cumulative sums and a Newton–Raphson step costs O(n p^2) (Breslow ties).
Prediction: F_k(t | x) = 1 - exp(-Lambda_k0(t) exp(beta'x)), Lambda_k0 the
weighted Breslow estimate.

A Fine–Gray model is fitted for each cause. The two are not coherent by
construction: where F1 + F2 would pass 1, the later increments are cut
(``base.cap_total_incidence``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from relapse_ml.incidence import fine_gray_incidence
from relapse_ml.models.base import CAUSES, CompetingRiskModel
from relapse_ml.models.partial_likelihood import (  # noqa: F401  (re-exported)
    SubdistributionProblem,
    fit_subdistribution_hazard,
)
from relapse_ml.models.penalty import check_penalizer
from relapse_ml.models.preprocess import LandmarkTermsMixin


@dataclass(frozen=True)
class ExpandedData:
    """Rows of the Geskus expansion: row ``r`` belongs to patient ``patient[r]``.

    A row is at risk at t when entry < t <= stop, with weight ``weight``.
    """

    patient: np.ndarray
    entry: np.ndarray
    stop: np.ndarray
    status: np.ndarray
    weight: np.ndarray


def geskus_expansion(time, event, cause: int = 1) -> ExpandedData:
    """Expand ``(time, event)`` so a weighted Cox fit with delayed entry is the Fine–Gray fit.

    Weights matter only at event times of ``cause``, so a competing-event patient's
    extra rows are cut where G(t-) changes between those times (fewer rows than
    cutting at every censoring time; the same estimator).
    """
    from relapse_ml.evaluation.ipcw import censoring_km

    time = np.asarray(time, dtype=float)
    event = np.asarray(event).astype(int)
    n = time.size
    status = event == cause
    competing = (event != 0) & ~status
    # every patient: one row (0, T_i], weight 1, an event if it is one of `cause`
    parts = [(np.arange(n), np.zeros(n), time, status, np.ones(n))]

    event_times = np.unique(time[status])
    if event_times.size and competing.any():
        G = censoring_km(time, event)
        g_before = G.before(event_times)
        # blocks of consecutive event times sharing the same G(t-)
        new_block = np.r_[True, g_before[1:] != g_before[:-1]]
        block_id = np.cumsum(new_block) - 1
        block_first = np.flatnonzero(new_block)
        block_last = np.flatnonzero(np.r_[new_block[1:], True])
        for i in np.flatnonzero(competing & (time < event_times[-1])):
            j0 = np.searchsorted(event_times, time[i], side="right")  # first event time > T_i
            blocks = np.arange(block_id[j0], block_first.size)
            previous_event = event_times[np.maximum(block_first[blocks] - 1, 0)]
            starts = np.where(blocks == block_id[j0], time[i], previous_event)
            stops = event_times[block_last[blocks]]
            weights = g_before[block_first[blocks]] / G.before(time[i])
            m = blocks.size
            parts.append((np.full(m, i), starts, stops, np.zeros(m, dtype=bool), weights))
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    keep = cols[4] > 0
    return ExpandedData(*(c[keep] for c in cols))


class FineGray(LandmarkTermsMixin, CompetingRiskModel):
    """Fine–Gray subdistribution-hazard models for relapse and for NRM.

    penalizer: ridge penalty on standardised features (lifelines' convention); "auto": chosen
        per cause inside the fit by cross-validated (weighted) partial likelihood on the
        training rows, split by patient (`models.penalty`).
    landmark_strata, landmark_interactions: on stacked landmarks, a stratified model (risk
        sets, censoring weights and the Breslow baseline per landmark day) and feature ×
        landmark interactions (`preprocess.LandmarkTermsMixin`); nothing changes on a single
        landmark.
        landmark_interactions "varying" (default): interactions only for the features that
        change between a patient's stacked rows (given ``groups``); true: every feature.

    Fitted: ``preprocessor_``, ``coef_`` (DataFrame of subdistribution log hazard
    ratios per unit of each kept feature, columns 1 and 2), ``baselines_`` ({cause:
    BreslowBaseline}; stratified: {cause: {landmark day: BreslowBaseline}}), ``penalizer_``
    ({cause: the penalty used}), ``penalty_choices_`` ({cause: PenaltyChoice} with "auto").
    """

    def __init__(self, penalizer: float | str = 0.01, landmark_strata: bool = True,
                 landmark_interactions: bool | str = "varying"):
        self.penalizer = penalizer
        self.landmark_strata = landmark_strata
        self.landmark_interactions = landmark_interactions

    def validate(self) -> FineGray:
        """Check the parameters before any fitting (a config's model table is built with it)."""
        check_penalizer(self.penalizer)
        return self

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        self.validate()
        Z = self._fit_design(X)
        self._fit_standardised(Z, time, event, self._strata_rows(X))

    def _fit_standardised(self, Z: np.ndarray, time: np.ndarray, event: np.ndarray,
                          strata: np.ndarray | None = None) -> None:
        """Both causes' models on the design ``Z``; ``coef_`` back on the feature scale."""
        self.beta_std_, self.baselines_, self.penalizer_, self.penalty_choices_ = {}, {}, {}, {}
        for cause in CAUSES:
            penalizer = self._cause_penalty(Z, time, event, cause, cause_specific=False,
                                            strata=strata)
            beta, base = fit_subdistribution_hazard(Z, time, event, cause,
                                                    penalizer=penalizer, strata=strata)
            self.beta_std_[cause], self.baselines_[cause] = beta, base
        self.coef_ = self._coef_frame(self.beta_std_)

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._incidence(X, times, fine_gray_incidence)
