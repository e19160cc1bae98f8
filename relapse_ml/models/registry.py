"""Models by name, so configs and the CLI can ask for ``make_model("xgb_cs", max_depth=4)``."""

from __future__ import annotations

import difflib

from relapse_ml.errors import ModelError
from relapse_ml.models.aalen_johansen import AalenJohansen
from relapse_ml.models.base import CompetingRiskModel
from relapse_ml.models.cox import CauseSpecificCox
from relapse_ml.models.direct import XGBoostDirect
from relapse_ml.models.fine_gray import FineGray
from relapse_ml.models.stack import StackedCompetingRisk
from relapse_ml.models.trajectory import TrajectoryModel
from relapse_ml.models.xgb import XGBoostCauseSpecific

_MODELS: dict[str, type[CompetingRiskModel]] = {
    "aalen_johansen": AalenJohansen,
    "cox_cs": CauseSpecificCox,
    "fine_gray": FineGray,
    "xgb_cs": XGBoostCauseSpecific,
    "xgb_direct": XGBoostDirect,
}
MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)  # single models (each exportable to a bundle)
ENSEMBLE_NAMES: tuple[str, ...] = ("stack",)  # combinations of the single models
_MODELS["stack"] = StackedCompetingRisk
# steps that wrap a model above and need extra input (the ``_obs:*`` marker histories)
_STEPS: dict[str, type[CompetingRiskModel]] = {"trajectory": TrajectoryModel}
_ALL = {**_MODELS, **_STEPS}


def make_model(name: str, **params) -> CompetingRiskModel:
    """A new, unfitted model ``name`` (one of ``MODEL_NAMES``) with ``params`` set."""
    if name not in _ALL:
        close = difflib.get_close_matches(str(name), tuple(_ALL), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ModelError(f"Unknown model '{name}'.{hint} Choose one of: {', '.join(_ALL)}.")
    cls = _ALL[name]
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        allowed = ", ".join(sorted(valid)) or "none"
        raise ModelError(f"Model '{name}' has no parameter(s) {unknown}; it takes: {allowed}.")
    model = cls(**params)
    if hasattr(model, "validate"):  # an ensemble checks its members now, not mid-training
        model.validate()
    return model
