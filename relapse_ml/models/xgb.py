"""Cause-specific gradient boosting: one XGBoost ``survival:cox`` booster per cause.

Each booster's margin is a log hazard ratio m_k(x); Breslow baselines on the
margins of all patients given to ``fit`` turn them into hazards, and
``breslow.cumulative_incidence_from_hazards`` into incidences (the same
combination as the cause-specific Cox model). The other cause is a censoring for
each booster (label -time), never in the combined incidence. Missing values are
handled natively by XGBoost. TreeSHAP values on the margin scale come from
XGBoost itself (``shap_margin``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.errors import ModelError
from relapse_ml.models.base import CAUSES, CompetingRiskModel, check_cause
from relapse_ml.models.breslow import breslow_baseline, cumulative_incidence_from_hazards


def booster_params(est, objective: str, **extra) -> dict:
    """XGBoost training parameters from an estimator's scikit-learn-style attributes."""
    for name in ("learning_rate", "subsample", "colsample_bytree"):
        value = getattr(est, name)
        if not 0 < value <= 1:
            raise ModelError(f"{name} must be in (0, 1], got {value!r}.")
    if est.n_estimators < 1 or est.max_depth < 1:
        raise ModelError("n_estimators and max_depth must be >= 1.")
    return {
        "objective": objective,
        "eta": est.learning_rate,
        "max_depth": est.max_depth,
        "min_child_weight": est.min_child_weight,
        "subsample": est.subsample,
        "colsample_bytree": est.colsample_bytree,
        "lambda": est.reg_lambda,
        "tree_method": "hist",
        "seed": est.random_state,
        "nthread": est.n_jobs,
        "verbosity": 0,
        **extra,
    }


def validation_split(event: np.ndarray, fraction: float, random_state: int,
                     groups: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of validation rows, stratified by event code when every code has >= 2 rows.

    groups: patient id per row (stacked landmark rows): whole patients are held out, so no
    patient has rows on both sides of the early-stopping split (stratified by the event of
    the patient's first row).
    """
    if groups is not None:
        ids, first, inverse = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
        return validation_split(event[first], fraction, random_state)[inverse.ravel()]
    n = event.size
    mask = np.zeros(n, dtype=bool)
    if not 0 < fraction < 1:
        return mask
    rng = np.random.default_rng(random_state)
    counts = np.bincount(event)
    strata = [np.flatnonzero(event == k) for k in range(counts.size) if counts[k]]
    if min(len(g) for g in strata) < 2:
        strata = [np.arange(n)]
    for idx in strata:
        k = int(round(fraction * idx.size))
        mask[rng.choice(idx, size=min(max(k, 1), idx.size - 1), replace=False)] = True
    return mask


def train_booster(
    params, X, label, weight, valid, n_estimators, early_stopping_rounds, base_margin=None
):
    """Train one booster, early-stopping on the rows in ``valid`` when there are any.

    base_margin: optional starting margin per row (boosting then learns the deviation).
    Returns ``(booster, n_rounds)``; predict with ``iteration_range=(0, n_rounds)``.
    """
    import xgboost as xgb

    def matrix(rows):
        return xgb.DMatrix(
            X[rows],
            label=label[rows],
            weight=None if weight is None else weight[rows],
            base_margin=None if base_margin is None else base_margin[rows],
            missing=np.nan,
            # the booster's own thread count (DMatrix's default, every core, made building one
            # 20-30 times slower on a busy 2-core machine: ~25 ms instead of ~1 ms per 1,000 rows)
            nthread=params.get("nthread", 1),
        )

    use_valid = early_stopping_rounds is not None and valid.any()
    train = ~valid if use_valid else np.ones(len(label), dtype=bool)
    dtrain = matrix(train)
    evals, stop = [], None
    if use_valid:
        evals = [(matrix(valid), "valid")]
        stop = int(early_stopping_rounds)
    booster = xgb.train(
        params,
        dtrain,
        num_boost_round=int(n_estimators),
        evals=evals,
        early_stopping_rounds=stop,
        verbose_eval=False,
    )
    n_rounds = booster.best_iteration + 1 if use_valid else int(n_estimators)
    return booster, n_rounds


class XGBoostCauseSpecific(CompetingRiskModel):
    """Cause-specific XGBoost ``survival:cox`` boosters for relapse and NRM.

    early_stopping_rounds: stop when the validation Cox loss has not improved for
        this many rounds (None: no validation split, all ``n_estimators`` rounds).
    validation_fraction: share of patients held out for early stopping
        (stratified by event code, seeded by ``random_state``).

    Fitted: ``boosters_`` ({cause: xgboost.Booster}), ``n_rounds_`` ({cause: int}),
    ``baselines_`` ({cause: BreslowBaseline}).
    """

    def __init__(
        self,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        max_depth: int = 3,
        min_child_weight: float = 1.0,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int | None = 20,
        validation_fraction: float = 0.2,
        random_state: int = 0,
        n_jobs: int = 1,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        params = booster_params(self, "survival:cox", eval_metric="cox-nloglik")
        arr = X.to_numpy(dtype=float)
        valid = validation_split(event, self.validation_fraction, self.random_state,
                                 groups=getattr(self, "_groups", None))
        self.boosters_, self.n_rounds_, self.baselines_ = {}, {}, {}
        for cause in CAUSES:
            status = event == cause
            # XGBoost's Cox label: +time for an event of this cause, -time otherwise
            label = np.where(status, time, -time)
            has_both = status[valid].any() and status[~valid].any()
            cause_valid = valid if has_both else np.zeros_like(valid)
            booster, n_rounds = train_booster(
                params, arr, label, None, cause_valid, self.n_estimators, self.early_stopping_rounds
            )
            self.boosters_[cause], self.n_rounds_[cause] = booster, n_rounds
            self.baselines_[cause] = breslow_baseline(time, status, self._margin(arr, cause))

    def _margin(self, arr: np.ndarray, cause: int) -> np.ndarray:
        import xgboost as xgb

        return self.boosters_[cause].predict(
            xgb.DMatrix(arr, missing=np.nan, nthread=self.n_jobs),
            output_margin=True,
            iteration_range=(0, self.n_rounds_[cause]),
        )

    def predict_log_hazard_ratio(self, X, cause: int = 1) -> np.ndarray:
        """Booster margin (log hazard ratio) of ``cause``: ``(n_samples,)``."""
        self._check_fitted()
        arr = self._check_X(X, reset=False).to_numpy(dtype=float)
        return self._margin(arr, check_cause(cause))

    def shap_margin(self, X, cause: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Exact TreeSHAP of the margin (log hazard ratio scale): ``(values (n, p), bias (n,))``.

        values.sum(axis=1) + bias equals ``predict_log_hazard_ratio(X, cause)``.
        """
        import xgboost as xgb

        self._check_fitted()
        cause = check_cause(cause)
        arr = self._check_X(X, reset=False).to_numpy(dtype=float)
        contribs = self.boosters_[cause].predict(
            xgb.DMatrix(arr, missing=np.nan, nthread=self.n_jobs),
            pred_contribs=True,
            iteration_range=(0, self.n_rounds_[cause]),
        )
        return contribs[:, :-1], contribs[:, -1]

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arr = X.to_numpy(dtype=float)
        return cumulative_incidence_from_hazards(
            self.baselines_[1],
            self._margin(arr, 1),
            self.baselines_[2],
            self._margin(arr, 2),
            times,
        )
