"""Cause-specific Cox model: one proportional-hazards fit per cause, combined into incidences.

Coefficients come from lifelines' ``CoxPHFitter`` (ridge/elastic-net penalty);
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
from relapse_ml.models.preprocess import LinearPreprocessor


def fit_cox_coefficients(
    Z: np.ndarray,
    time: np.ndarray,
    status: np.ndarray,
    *,
    penalizer: float = 0.0,
    l1_ratio: float = 0.0,
    weights: np.ndarray | None = None,
    entry: np.ndarray | None = None,
    penalty_rows: int | None = None,
) -> np.ndarray:
    """Log hazard ratios per column of ``Z`` from lifelines' Cox partial likelihood (Efron ties).

    lifelines scales its penalty by the number of rows; ``penalty_rows`` lets an
    expanded data set (Fine–Gray) keep the penalty of its ``penalty_rows`` patients.
    """
    status = np.asarray(status).astype(bool)
    if Z.shape[1] == 0 or not status.any():
        return np.zeros(Z.shape[1])
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError

    cols = [f"z{j}" for j in range(Z.shape[1])]
    df = pd.DataFrame(Z, columns=cols)
    df["_time"] = time
    df["_status"] = status.astype(int)
    if weights is not None:
        df["_weight"] = weights
    if entry is not None:
        df["_entry"] = entry
    if penalty_rows is not None and penalizer > 0:
        penalizer = penalizer * penalty_rows / len(df)
    fitter = CoxPHFitter(penalizer=penalizer, l1_ratio=l1_ratio)
    try:
        with warnings.catch_warnings():
            # non-integer weights and near-constant columns: the point estimate is what we use
            warnings.simplefilter("ignore")
            fitter.fit(
                df,
                duration_col="_time",
                event_col="_status",
                weights_col="_weight" if weights is not None else None,
                entry_col="_entry" if entry is not None else None,
            )
    except ConvergenceError as err:
        raise ModelError(
            "The Cox fit did not converge (often a feature that separates events perfectly). "
            "Try: 1) a larger penalizer (e.g. 0.1); 2) dropping near-duplicate features."
        ) from err
    return fitter.params_.reindex(cols).to_numpy(dtype=float)


class CauseSpecificCox(CompetingRiskModel):
    """Cause-specific Cox models for relapse and NRM, combined into cumulative incidences.

    penalizer: lifelines' penalty strength on standardised features (0 = plain Cox).
    l1_ratio: share of L1 in lifelines' elastic-net penalty.

    Fitted: ``preprocessor_`` (median imputation, standardisation), ``coef_``
    (DataFrame of log hazard ratios per unit of each kept feature, columns 1 and 2),
    ``baselines_`` ({cause: BreslowBaseline}).
    """

    def __init__(self, penalizer: float = 0.01, l1_ratio: float = 0.0):
        self.penalizer = penalizer
        self.l1_ratio = l1_ratio

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        if self.penalizer < 0 or not 0 <= self.l1_ratio <= 1:
            raise ModelError("penalizer must be >= 0 and l1_ratio in [0, 1].")
        self.preprocessor_ = LinearPreprocessor().fit(X)
        Z = self.preprocessor_.transform(X)
        betas, self.baselines_ = {}, {}
        for cause in CAUSES:
            status = event == cause
            beta = fit_cox_coefficients(
                Z, time, status, penalizer=self.penalizer, l1_ratio=self.l1_ratio
            )
            betas[cause] = beta
            self.baselines_[cause] = breslow_baseline(time, status, Z @ beta)
        self.beta_std_ = betas  # per standard deviation of each kept feature
        self.coef_ = pd.DataFrame(
            {c: b / self.preprocessor_.scale_ for c, b in betas.items()},
            index=pd.Index(self.preprocessor_.columns_, name="feature"),
        )

    def predict_log_hazard_ratio(self, X, cause: int = 1) -> np.ndarray:
        """Linear predictor (margin) of ``cause`` relative to the training mean: ``(n_samples,)``."""
        self._check_fitted()
        Z = self.preprocessor_.transform(self._check_X(X, reset=False))
        return Z @ self.beta_std_[check_cause(cause)]

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Z = self.preprocessor_.transform(X)
        return cumulative_incidence_from_hazards(
            self.baselines_[1],
            Z @ self.beta_std_[1],
            self.baselines_[2],
            Z @ self.beta_std_[2],
            times,
        )
