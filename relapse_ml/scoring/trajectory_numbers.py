"""Lean twin of `relapse_ml.models.trajectory.TrajectoryModel` for bundles (numpy only).

The bundle carries the population parameters of the trajectory model (fitted on the
training rows) and the inner model's own numbers; scoring computes a patient's posterior
features from the hidden ``_obs:*`` history columns of its feature row, exactly as the
fitted model does, then asks the inner model.
"""

from __future__ import annotations

import numpy as np

from relapse_ml.features.trajectory import (
    TrajectoryParams,
    history_from_columns,
    trajectory_features,
)
from relapse_ml.scoring.predict import (
    TREE_TYPES,
    single_numbers_from_files,
    single_numbers_from_model,
    xgboost_version,
)


class TrajectoryNumbers:
    model_type = "trajectory"

    def __init__(self, params: TrajectoryParams, inner, inner_columns: list[str],
                 feature_columns: list[str]):
        self.params, self.inner = params, inner
        self.inner_columns, self.feature_columns = list(inner_columns), list(feature_columns)
        pos = {c: i for i, c in enumerate(self.feature_columns)}
        self._source = [pos.get(c, -1) for c in self.inner_columns]

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        feats = trajectory_features(self.params, history_from_columns(X, self.feature_columns))
        cols = [X[:, j] if j >= 0 else feats[c] for c, j in zip(self.inner_columns, self._source,
                                                                  strict=True)]
        return self.inner.predict_incidence(np.column_stack(cols), times)

    def to_files(self):
        spec, files = self.inner.to_files()
        return {
            "population": self.params.to_json(),
            "inner_type": self.inner.model_type,
            "inner_spec": spec,
            "inner_columns": self.inner_columns,
            # versions.json records XGBoost for tree model types only: keep it here
            "xgboost": xgboost_version() if self.inner.model_type in TREE_TYPES else None,
        }, files

    @classmethod
    def from_files(cls, spec, files, feature_columns):
        from relapse_ml.errors import ModelError

        want = spec.get("xgboost")
        if want and str(want).split(".")[:2] != str(xgboost_version()).split(".")[:2]:
            raise ModelError(
                f"the bundle's boosters were written by XGBoost {want}, this environment has "
                f"{xgboost_version()} (major.minor must match); re-export the model here or "
                f"install xgboost {want}"
            )
        inner = single_numbers_from_files(spec["inner_type"], spec["inner_spec"], files,
                                   spec["inner_columns"])
        return cls(TrajectoryParams.from_json(spec["population"]), inner,
                   spec["inner_columns"], feature_columns)

    @classmethod
    def of(cls, model) -> TrajectoryNumbers:
        return cls(model.population_, single_numbers_from_model(model.model_), model.inner_columns_,
                   [str(c) for c in model.feature_names_in_])
