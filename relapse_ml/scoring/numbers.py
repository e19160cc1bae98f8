"""The lean (numpy-only) twin of any exportable model: a single model (`predict.py`) or a
trajectory step around one (`trajectory_numbers.py`)."""

from __future__ import annotations

from relapse_ml.scoring.predict import (
    MODEL_TYPES,
    single_numbers_from_files,
    single_numbers_from_model,
)
from relapse_ml.scoring.trajectory_numbers import TrajectoryNumbers


def numbers_from_model(model):
    """The lean twin of a fitted `relapse_ml.models` model (refuses unknown types)."""
    if MODEL_TYPES.get(type(model).__name__) == "trajectory" and getattr(
        model, "is_fitted_", False
    ):
        return TrajectoryNumbers.of(model)
    return single_numbers_from_model(model)


def numbers_from_files(model_type: str, spec: dict, files: dict[str, bytes], feature_columns):
    """Rebuild a lean model from its JSON ``spec`` and extra ``files`` (booster JSON bytes)."""
    if model_type == "trajectory":
        return TrajectoryNumbers.from_files(spec, files, list(feature_columns))
    return single_numbers_from_files(model_type, spec, files, feature_columns)
