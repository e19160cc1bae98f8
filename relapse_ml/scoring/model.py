"""`ScoringModel`: what scoring needs of a model, from a bundle (fast) or from MLflow.

A model reference is a bundle directory, ``models:/NAME/VERSION`` (or ``/latest``) or
``runs:/RUN_ID/model``. MLflow references load the registered pyfunc (imports mlflow,
about 1.3 s, and scikit-learn); a bundle loads plain numbers (see `bundle.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from relapse_ml.errors import ModelError, RelapseMLError

DEFAULT_REF = "models:/relapse-risk/latest"
ARM_COLUMN = "arm"
ARMS = {"control": 0.0, "sorafenib": 1.0}


@dataclass
class ScoringModel:
    """A fitted competing-risk model with its feature definition and aggregates.

    numbers: anything with ``predict_incidence(X, times) -> (n, 3, n_times)``, ``X`` a
        float array in ``feature_columns`` order (see `predict.py`).
    background: ``{"reference": {column: value}, "method": str, "n_rows": int}``, the
        "typical training patient" drivers are measured against (aggregates only), or None.
    replicates: lean models refitted on bootstrap resamples (for intervals), may be empty.
    info: model name, params, metrics, run_id, data_fingerprint, version.
    source: how it was loaded: ``{"kind": "bundle" | "mlflow", "ref": str, ...}``.
    """

    numbers: object
    model_type: str
    feature_columns: list[str]
    features: list[str] | None
    landmark_day: float
    horizon_days: float
    horizons: list[float]
    super_landmark: bool = False
    landmarks: list[float] = field(default_factory=list)
    training_ranges: dict = field(default_factory=dict)
    background: dict | None = None
    info: dict = field(default_factory=dict)
    replicates: list = field(default_factory=list)
    bootstrap: dict | None = None
    source: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)

    @property
    def has_arm(self) -> bool:
        return ARM_COLUMN in self.feature_columns

    @property
    def arms(self) -> tuple[str, ...]:
        return tuple(ARMS) if self.has_arm else ("observed",)

    @property
    def supported_landmarks(self) -> tuple[float, float]:
        """The landmark days the model was trained at: (first, last)."""
        if self.super_landmark and self.landmarks:
            return float(min(self.landmarks)), float(max(self.landmarks))
        return float(self.landmark_day), float(self.landmark_day)

    def incidence(self, X: np.ndarray, times, arm: str = "observed", numbers=None) -> np.ndarray:
        """``(n, 3, n_times)`` under ``arm`` (the arm column set for every row)."""
        X = np.array(X, dtype=float, copy=True)
        if arm != "observed":
            X[:, self.feature_columns.index(ARM_COLUMN)] = ARMS[arm]
        return (numbers or self.numbers).predict_incidence(X, times)


class _FittedModel:
    """Adapter: a fitted `relapse_ml.models` model behind the lean ``predict_incidence``."""

    def __init__(self, model, columns: list[str]):
        self.model, self.columns = model, columns

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        import pandas as pd

        return self.model.predict_cumulative_incidence(pd.DataFrame(X, columns=self.columns), times)


def from_predictor(predictor, source: dict | None = None) -> ScoringModel:
    """Wrap a `RelapseRiskPredictor` (its fitted model predicts; nothing is converted)."""
    from relapse_ml.scoring.predict import MODEL_TYPES

    columns = list(predictor.feature_columns)
    return ScoringModel(
        numbers=_FittedModel(predictor.model, columns),
        model_type=MODEL_TYPES.get(type(predictor.model).__name__, type(predictor.model).__name__),
        feature_columns=columns,
        features=None if predictor.features is None else list(predictor.features),
        landmark_day=float(predictor.landmark_day),
        horizon_days=float(predictor.horizon_days),
        horizons=[float(h) for h in predictor.horizons],
        super_landmark=bool(predictor.super_landmark),
        landmarks=[float(x) for x in predictor.landmarks],
        training_ranges=dict(predictor.training_ranges),
        background=linear_background(predictor.model),
        info=dict(predictor.info),
        source=dict(source or {"kind": "predictor"}),
    )


def linear_background(model) -> dict | None:
    """Training medians from a linear model's preprocessor (the drivers' reference), else None.

    Columns the preprocessor dropped were constant in training and cannot change a
    prediction; they are left out (the patient's own value is kept).
    """
    pre = getattr(model, "preprocessor_", None)
    if pre is None:
        return None
    ref = {str(c): float(v) for c, v in zip(pre.columns_, pre.median_, strict=True)}
    return {
        "reference": ref,
        "method": "training medians of each feature (from the model's preprocessor)",
        "n_rows": None,
    }


def is_mlflow_ref(ref: str) -> bool:
    return ref.startswith(("models:/", "runs:/"))


def load_mlflow_predictor(ref: str):
    """``(RelapseRiskPredictor, source)`` from a registry or run reference (imports mlflow)."""
    import logging
    import warnings

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bars on stderr
    import mlflow
    from mlflow.exceptions import MlflowException

    from relapse_ml.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(None)
    mlflow.set_tracking_uri(uri)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = mlflow.pyfunc.load_model(ref)
        predictor = loaded.unwrap_python_model().predictor
    except MlflowException as err:
        first = str(err.message if hasattr(err, "message") else err).splitlines()[0]
        raise RelapseMLError(
            f"model '{ref}' not found in the MLflow store at {uri} ({first}); "
            "list registered models with `mlflow models` or give a bundle "
            "directory"
        ) from None
    except (OSError, AttributeError) as err:
        raise RelapseMLError(
            f"model '{ref}' could not be loaded as a relapse-ml model ({type(err).__name__}: {err})"
        ) from None
    if not hasattr(predictor, "feature_columns"):
        raise ModelError(f"model '{ref}' is not a relapse-ml relapse-risk model")
    source = {
        "kind": "mlflow",
        "ref": ref,
        "tracking_uri": uri,
        "run_id": getattr(loaded.metadata, "run_id", None),
        "version": registry_version(ref, uri),
    }
    return predictor, source


def registry_version(ref: str, uri: str) -> str | None:
    """The version number a ``models:/NAME/VERSION|latest`` reference resolves to."""
    if not ref.startswith("models:/"):
        return None
    parts = ref[len("models:/") :].strip("/").split("/")
    if len(parts) != 2:
        return None
    name, version = parts
    if version.isdigit():
        return version
    try:
        from mlflow.tracking import MlflowClient

        versions = MlflowClient(tracking_uri=uri).search_model_versions(f"name='{name}'")
        if version == "latest":
            return str(max(int(v.version) for v in versions)) if versions else None
    except Exception:  # the version is informative only
        return None
    return None
