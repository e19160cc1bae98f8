"""Lean twin of `relapse_ml.models.trajectory.TrajectoryModel` for bundles (numpy only).

The bundle carries the population parameters of the trajectory model (fitted on the
training rows) and the inner model's own numbers; scoring computes a patient's posterior
features from the hidden ``_obs:*`` history columns of its feature row, exactly as the
fitted model does, then asks the inner model. A trajectory model fitted by landmark
(`models.by_landmark`) is one such twin per training landmark (`LandmarkTrajectoryNumbers`):
each row gets its two nearest landmarks' incidences mixed linearly in L, with the code the
fitted model uses (`landmark_strata.stratified_incidence`); a landmark's extra files
(boosters) are stored under ``lmK_`` prefixes (K the landmark day).
"""

from __future__ import annotations

import numpy as np

from relapse_ml.features.trajectory import (
    TrajectoryParams,
    history_for,
    trajectory_features,
)
from relapse_ml.incidence import assemble_incidence
from relapse_ml.landmark_strata import DAY_COLUMN, stratified_incidence
from relapse_ml.scoring.arrays import check_times, prefixed, unprefixed
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
        self.inner_type = inner.model_type

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        h = history_for(self.params, X, self.feature_columns)
        feats = trajectory_features(self.params, h)
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

        if "landmark_models" in spec:
            return LandmarkTrajectoryNumbers.from_files(spec, files, feature_columns)
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
    def of(cls, model) -> TrajectoryNumbers | LandmarkTrajectoryNumbers:
        if getattr(model, "landmark_models_", None):
            return LandmarkTrajectoryNumbers.of(model)
        return cls(model.population_, single_numbers_from_model(model.model_), model.inner_columns_,
                   [str(c) for c in model.feature_names_in_])


class LandmarkTrajectoryNumbers:
    """``models``: {landmark day: `TrajectoryNumbers` of that landmark's model, whose feature
    columns are the bundle's without the landmark columns}."""

    model_type = "trajectory"

    def __init__(self, models: dict, feature_columns: list[str]):
        self.models = {float(k): v for k, v in sorted(models.items())}
        self.feature_columns = list(feature_columns)
        pos = {c: i for i, c in enumerate(self.feature_columns)}
        self._day = pos[DAY_COLUMN]
        self._index = {k: np.asarray([pos[c] for c in m.feature_columns], dtype=int)
                       for k, m in self.models.items()}
        self.inner_type = next(iter(self.models.values())).inner_type

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        X, t = np.asarray(X, dtype=float), check_times(times)

        def predict(key, rows):
            inc = self.models[key].predict_incidence(X[np.ix_(rows, self._index[key])], t)
            return inc[:, 1], inc[:, 2]

        keys = np.array(list(self.models), float)
        return assemble_incidence(*stratified_incidence(X[:, self._day], keys, t.size, predict))

    def to_files(self):
        spec = {"inner_type": self.inner_type, "landmark_models": [],
                "xgboost": xgboost_version() if self.inner_type in TREE_TYPES else None}
        files: dict[str, bytes] = {}
        for key, numbers in self.models.items():
            prefix = f"lm{key:g}_"
            mspec, own = numbers.to_files()
            files.update(prefixed(own, prefix))
            spec["landmark_models"].append({"landmark_day": key, "spec": mspec,
                                            "columns": numbers.feature_columns,
                                            "file_prefix": prefix})
        return spec, files

    @classmethod
    def from_files(cls, spec, files, feature_columns):
        models = {}
        for m in spec["landmark_models"]:
            models[float(m["landmark_day"])] = TrajectoryNumbers.from_files(
                m["spec"], unprefixed(files, str(m["file_prefix"])), list(m["columns"]))
        return cls(models, feature_columns)

    @classmethod
    def of(cls, model) -> LandmarkTrajectoryNumbers:
        return cls({k: TrajectoryNumbers.of(m) for k, m in model.landmark_models_.items()},
                   [str(c) for c in model.feature_names_in_])
