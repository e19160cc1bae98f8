"""The lean (numpy-only) twin of any exportable model: a single model (`predict.py`), a
trajectory step around one (`trajectory_numbers.py`) or a stack of these (`stack.py`)."""

from __future__ import annotations

from relapse_ml.scoring.predict import (
    MODEL_TYPES,
    single_numbers_from_files,
    single_numbers_from_model,
)
from relapse_ml.scoring.stack import StackNumbers
from relapse_ml.scoring.trajectory_numbers import TrajectoryNumbers


def numbers_from_model(model):
    """The lean twin of a fitted `relapse_ml.models` model (refuses unknown types)."""
    if MODEL_TYPES.get(type(model).__name__) == "stack" and getattr(model, "is_fitted_", False):
        return StackNumbers.of(model, [str(c) for c in model.feature_names_in_],
                               numbers_from_model)
    if MODEL_TYPES.get(type(model).__name__) == "trajectory" and getattr(
        model, "is_fitted_", False
    ):
        return TrajectoryNumbers.of(model)
    return single_numbers_from_model(model)


def numbers_from_files(model_type: str, spec: dict, files: dict[str, bytes], feature_columns):
    """Rebuild a lean model from its JSON ``spec`` and extra ``files`` (booster JSON bytes)."""
    if model_type == "trajectory":
        return TrajectoryNumbers.from_files(spec, files, list(feature_columns))
    if model_type == "stack":
        return StackNumbers.from_files(spec, files, list(feature_columns), numbers_from_files)
    return single_numbers_from_files(model_type, spec, files, feature_columns)
