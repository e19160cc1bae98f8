"""Cause-specific Cox model: one proportional-hazards fit per cause, combined into incidences.

Coefficients come from Newton–Raphson on risk-set cumulative sums (ridge; the Fine–Gray fit's
code with no competing event, checked against scikit-survival) or scikit-survival (elastic
net: coordinate descent) on the preprocessed columns (``preprocess.py``: heavy-tailed markers
on a log scale, clipped to the training range);
baselines are Breslow's on the training margins (``breslow.py``), so the
incidence is combined exactly as for the XGBoost model. The other cause is a
censoring for each fit, but never in the combined incidence.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from relapse_ml.errors import ModelError
from relapse_ml.models.base import CAUSES, CompetingRiskModel, check_cause
from relapse_ml.models.breslow import breslow_baseline, cumulative_incidence_from_hazards
from relapse_ml.models.partial_likelihood import fit_subdistribution_hazard, separated
from relapse_ml.models.penalty import check_penalizer
from relapse_ml.models.preprocess import LandmarkTermsMixin


def fit_cox_coefficients(
    Z: np.ndarray,
    time: np.ndarray,
    status: np.ndarray,
    *,
    penalizer: float = 0.0,
    l1_ratio: float = 0.0,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Log hazard ratios per column of ``Z`` maximising the Cox partial likelihood.

    Breslow ties (the baseline is Breslow's too). ``penalizer`` follows lifelines'
    convention: ``penalizer * ((1 - l1_ratio) / 2 * |beta|^2 + l1_ratio * |beta|_1)`` on the
    mean log partial likelihood. Ridge: Newton–Raphson with step halving on risk-set
    cumulative sums, O(n p^2) a step (the Fine–Gray fit's, `partial_likelihood.fit_subdistribution_hazard`,
    with no competing event: the risk set at t is everyone with T >= t; tested against
    scikit-survival's ``CoxPHSurvivalAnalysis``, which took 5-8 s a fit on 80,000 rows);
    elastic net: scikit-survival's ``CoxnetSurvivalAnalysis`` (coordinate descent).
    A fit that does not converge is an error, never a silent estimate: lifelines' Newton
    steps used to diverge on heavy-tailed columns and return a linear predictor spanning
    exp(±100), with the warning silenced. A linear predictor spreading more than 60 over
    the training rows (a separating feature: the maximum is at infinity) counts as not
    converged too.
    strata: optional stratum label per row (a stratified Cox model: risk sets within each
    stratum, one coefficient vector; ridge only).
    """
    status = np.asarray(status).astype(bool)
    if Z.shape[1] == 0 or not status.any():
        return np.zeros(Z.shape[1])
    if l1_ratio == 0:
        try:  # a separated or non-finite fit is an error there too
            with np.errstate(over="ignore"):  # overflows in a trial step are halved away
                beta, _ = fit_subdistribution_hazard(Z, np.asarray(time, dtype=float),
                                                     status.astype(int), 1,
                                                     penalizer=penalizer, max_iter=200,
                                                     strata=strata)
        except ModelError:
            raise ModelError(_NO_FIT) from None
        return beta
    if strata is not None:
        raise ModelError("A stratified Cox fit (stacked landmarks) takes a ridge penalty only: "
                         "set l1_ratio 0, or landmark_strata false.")
    from sklearn.exceptions import ConvergenceWarning
    from sksurv.linear_model import CoxnetSurvivalAnalysis
    from sksurv.util import Surv

    y = Surv.from_arrays(status, np.asarray(time, dtype=float))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            fit = CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, alphas=[max(penalizer, 1e-8)],
                                         normalize=False, max_iter=100_000).fit(Z, y)
            beta = np.asarray(fit.coef_, float)[:, -1]
        except (ValueError, np.linalg.LinAlgError) as err:
            raise ModelError(_NO_FIT + f" ({err})") from None
    if (any(issubclass(w.category, ConvergenceWarning) for w in caught)
            or not np.isfinite(beta).all() or separated(Z, beta)):
        raise ModelError(_NO_FIT)
    for w in caught:  # anything else the fit said is passed on, not swallowed
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn(w.message, w.category, stacklevel=2)
    return beta


_NO_FIT = ("The Cox fit did not converge (often a feature that separates events perfectly). "
           "Try: 1) a larger penalizer (e.g. 0.1); 2) dropping near-duplicate features.")


class CauseSpecificCox(LandmarkTermsMixin, CompetingRiskModel):
    """Cause-specific Cox models for relapse and NRM, combined into cumulative incidences.

    penalizer: penalty strength on standardised features, lifelines' convention (0 = plain Cox);
        "auto": a ridge penalty chosen per cause inside the fit by cross-validated partial
        likelihood on the training rows, split by patient (`models.penalty`).
    l1_ratio: share of L1 in the elastic-net penalty.
    landmark_strata, landmark_interactions: on stacked landmarks, a stratified Cox model
        (a Breslow baseline per landmark day) and feature × landmark interactions
        (`preprocess.LandmarkTermsMixin`); nothing changes on a single landmark.
        landmark_interactions "varying" (default): interactions only for the features that
        change between a patient's stacked rows (given ``groups``); true: every feature.

    Fitted: ``preprocessor_`` (median imputation, standardisation), ``coef_``
    (DataFrame of log hazard ratios per unit of each kept feature, columns 1 and 2),
    ``baselines_`` ({cause: BreslowBaseline}; stratified: {cause: {landmark day: ...}}),
    ``penalizer_`` ({cause: the penalty used}), ``penalty_choices_`` ({cause: PenaltyChoice}
    with "auto", else empty).
    """

    def __init__(self, penalizer: float | str = 0.01, l1_ratio: float = 0.0,
                 landmark_strata: bool = True, landmark_interactions: bool | str = "varying"):
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio
        self.landmark_strata = landmark_strata
        self.landmark_interactions = landmark_interactions

    def validate(self) -> CauseSpecificCox:
        """Check the parameters before any fitting (a config's model table is built with it)."""
        if not 0 <= self.l1_ratio <= 1:
            raise ModelError("l1_ratio must be in [0, 1].")
        check_penalizer(self.penalizer, self.l1_ratio)
        return self

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        self.validate()
        Z = self._fit_design(X)
        days = self._strata_rows(X)
        betas, self.baselines_, self.penalizer_, self.penalty_choices_ = {}, {}, {}, {}
        for cause in CAUSES:
            status = event == cause
            penalizer = self._cause_penalty(Z, time, event, cause, cause_specific=True,
                                            strata=days)
            beta = fit_cox_coefficients(Z, time, status, penalizer=penalizer,
                                        l1_ratio=self.l1_ratio, strata=days)
            betas[cause] = beta
            margin = Z @ beta
            if days is None:
                self.baselines_[cause] = breslow_baseline(time, status, margin)
            else:
                self.baselines_[cause] = {
                    float(d): breslow_baseline(time[days == d], status[days == d],
                                               margin[days == d])
                    for d in self.landmark_strata_}
        self.beta_std_ = betas  # per standard deviation of each kept feature
        self.coef_ = self._coef_frame(betas)

    def predict_log_hazard_ratio(self, X, cause: int = 1) -> np.ndarray:
        """Linear predictor (margin) of ``cause`` relative to the training mean: ``(n_samples,)``
        (stratified: relative to the row's landmark stratum's baseline)."""
        self._check_fitted()
        return self._design(self._check_X(X, reset=False)) @ self.beta_std_[check_cause(cause)]

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self._incidence(X, times, cumulative_incidence_from_hazards)
