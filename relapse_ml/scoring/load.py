"""Load a scoring model from wherever it lives: a bundle directory, the registry (through its
local bundle cache) or an MLflow run."""

from __future__ import annotations

from pathlib import Path

from relapse_ml.errors import RelapseMLError
from relapse_ml.scoring.bundle import load_bundle
from relapse_ml.scoring.model import (
    DEFAULT_REF,
    ScoringModel,
    from_predictor,
    is_mlflow_ref,
    load_mlflow_predictor,
)
from relapse_ml.scoring.registry import load_registered


def load_model(ref: str = DEFAULT_REF) -> ScoringModel:
    """A bundle directory, or a registry / run reference loaded through MLflow."""
    ref = str(ref)
    if ref.startswith("models:/"):
        return load_registered(ref)  # from the local bundle cache when it holds the version
    if is_mlflow_ref(ref):
        predictor, source = load_mlflow_predictor(ref)
        return from_predictor(predictor, source)
    path = Path(ref)
    if path.is_dir():
        return load_bundle(path)
    raise RelapseMLError(
        f"unknown model reference '{ref}': give a bundle directory (relapse-ml export), "
        "models:/relapse-risk/latest, models:/relapse-risk/VERSION or runs:/RUN_ID/model"
    )
