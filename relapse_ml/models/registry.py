"""Models by name, so configs and the CLI can ask for ``make_model("xgb_cs", max_depth=4)``."""

from __future__ import annotations

from relapse_ml.models.base import CompetingRiskModel
from relapse_ml.models.catalog import SINGLE_MODELS, build
from relapse_ml.models.stack import StackedCompetingRisk
from relapse_ml.models.trajectory import TrajectoryModel

_MODELS: dict[str, type[CompetingRiskModel]] = dict(SINGLE_MODELS)
MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)  # single models (each exportable to a bundle)
ENSEMBLE_NAMES: tuple[str, ...] = ("stack",)  # combinations of the single models
_MODELS["stack"] = StackedCompetingRisk
# steps that wrap a model above and need extra input (the ``_obs:*`` marker histories)
_STEPS: dict[str, type[CompetingRiskModel]] = {"trajectory": TrajectoryModel}
_ALL = {**_MODELS, **_STEPS}


def make_model(name: str, **params) -> CompetingRiskModel:
    """A new, unfitted model ``name`` (one of ``MODEL_NAMES``) with ``params`` set."""
    return build(_ALL, name, params)
