"""`TrajectoryModel`: marker-trajectory features fitted inside each fit, then an inner model.

On ``fit`` it estimates the population parameters of the trajectory model
(`relapse_ml.features.trajectory_fit`) from the training rows' hidden marker histories
(``_obs:*`` columns, the ``marker_history`` feature) only, appends each row's posterior
features (`relapse_ml.features.trajectory.trajectory_features`: level, slope, their SDs,
P(true MRD > detection limit)) and fits the inner model on them. ``predict`` computes the
posteriors with the stored parameters; a row's features use only its own history up to
its landmark. Cross-validation, bootstrap refits and stacking therefore refit the
population parameters on each training part with no special case. Two trajectory models on
the same rows with the same covariates and EM settings share one population fit and one set
of posteriors (`trajectory_cache`; the default's two differ in their covariates).

``by_landmark``: on stacked landmark rows, one whole trajectory model (population parameters
and inner model) per training landmark, fitted on that landmark's rows only — the two-stage
landmarking of Paige et al. (2018) at each landmark, as separate landmark models
(`models.by_landmark`). With too few events at some landmark: one model on all rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.errors import ModelError
from relapse_ml.features.trajectory import (
    DEFAULT_COVARIATES,
    HIDDEN_PREFIX,
    feature_names,
    history_for,
    history_from_columns,
    trajectory_features,
)
from relapse_ml.features.trajectory_fit import fit_trajectory_params
from relapse_ml.models.base import CompetingRiskModel
from relapse_ml.models.by_landmark import DEFAULT_MIN_EVENTS, fit_each, landmark_keys, predict_each
from relapse_ml.models.catalog import make_single_model
from relapse_ml.models.trajectory_cache import cached, history_digest, params_digest


class TrajectoryModel(CompetingRiskModel):
    """Marker-trajectory posterior features + an inner competing-risk model.

    model: registry name of the inner model (not ``trajectory``); model_params: its
    parameters; em_max_iter: EM iterations for the population parameters (EM is slow
    under heavy censoring; 50 iterations change the features' ranking little, see the
    benchmark); by_landmark: one trajectory model per training landmark (module docstring),
    each landmark needing ``min_events`` events of both causes, else one model;
    covariates: baseline feature columns whose linear combination is the random effects'
    prior mean (``none``: one population mean; ``default``: `DEFAULT_COVARIATES` that the
    data has; or a list of column names), fitted with the population parameters.

    Fitted: ``population_`` (`TrajectoryParams`), ``model_`` (the fitted inner model),
    ``inner_columns_`` (the inner model's columns: the visible features, then the
    trajectory features) — or, by landmark, these three None and ``landmark_models_``
    ({landmark day: fitted `TrajectoryModel` of that landmark}).
    """

    keeps_hidden_columns = True  # `CompetingRiskModel._check_X` keeps ``_obs:*`` for it

    def __init__(self, model: str = "xgb_cs", model_params: dict | None = None,
                 em_max_iter: int = 50, by_landmark: bool = False,
                 min_events: int = DEFAULT_MIN_EVENTS, covariates: str | list[str] = "none"):
        self.model = model
        self.model_params = model_params
        self.em_max_iter = em_max_iter
        self.by_landmark = by_landmark
        self.min_events = min_events
        self.covariates = covariates

    def _covariate_names(self, columns: list[str]) -> tuple[str, ...]:
        c = self.covariates
        if c is None or (isinstance(c, str) and c == "none"):
            return ()
        if isinstance(c, str) and c == "default":
            return tuple(n for n in DEFAULT_COVARIATES if n in columns)
        if isinstance(c, str):
            raise ModelError(f"trajectory covariates: {c!r} is not allowed; use 'default', "
                             "'none' or a list of feature columns")
        missing = [n for n in c if n not in columns]
        if missing:
            raise ModelError(f"trajectory covariates: column {missing[0]!r} is not in the "
                             f"landmark data (baseline columns such as {DEFAULT_COVARIATES[0]})")
        return tuple(str(n) for n in c)

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        if self.model == "trajectory":
            raise ModelError("the trajectory step's inner model cannot be 'trajectory' itself")
        inner = make_single_model(self.model, **(self.model_params or {}))
        keys = landmark_keys(X, event, self.min_events) if self.by_landmark else None
        self.landmark_models_ = None
        if keys is not None:
            self.population_ = self.model_ = self.inner_columns_ = None
            self.landmark_models_ = fit_each(
                lambda: TrajectoryModel(self.model, self.model_params, self.em_max_iter,
                                        covariates=self.covariates),
                X, time, event, getattr(self, "_groups", None), keys)
            return
        columns = [str(c) for c in X.columns]
        names = self._covariate_names(columns)
        h = history_from_columns(X.to_numpy(float), columns, covariates=names)
        # shared with another trajectory model fitted on the same rows (`trajectory_cache`)
        self.population_ = cached(
            ("population", self.em_max_iter, names, history_digest(h)),
            lambda: fit_trajectory_params(h, max_iter=self.em_max_iter, covariates=names))
        Xin = self._inner_frame(X, h)
        self.inner_columns_ = list(Xin.columns)
        # the patient ids of stacked landmark rows go on, so the inner XGBoost's early-stopping
        # split holds out whole patients (rows of one patient on both sides stop it too late)
        self.model_ = inner.fit(Xin, time, event, groups=getattr(self, "_groups", None))

    def _inner_frame(self, X: pd.DataFrame, h) -> pd.DataFrame:
        visible = X[[c for c in X.columns if not str(c).startswith(HIDDEN_PREFIX)]]
        pop = self.population_
        key = ("features", params_digest(pop), history_digest(h))
        feats = cached(key, lambda: trajectory_features(pop, h))
        extra = pd.DataFrame({k: feats[k] for k in feature_names(self.population_)},
                             index=X.index)
        return pd.concat([visible, extra], axis=1)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """The inner model's input for ``X``: visible features and trajectory features."""
        self._check_fitted()
        if self.landmark_models_:
            raise ModelError("a trajectory model fitted by landmark has one input per landmark: "
                             "transform with one of its landmark_models_")
        frame = self._check_X(X, reset=False)
        return self._inner_frame(frame, self._history(frame))

    def _history(self, X: pd.DataFrame):
        return history_for(self.population_, X.to_numpy(float), [str(c) for c in X.columns])

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray):
        if getattr(self, "landmark_models_", None):
            return predict_each(self.landmark_models_, X, times)
        ci = self.model_.predict_cumulative_incidence(self._inner_frame(X, self._history(X)),
                                                      times)
        return ci[:, 1, :], ci[:, 2, :]

