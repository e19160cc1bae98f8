"""The single (non-composite) models by name, and the one builder every model table uses.

Composite models (the stack, the trajectory step) build their members from here, so they
need not import `relapse_ml.models.registry`, which imports them.
"""

from __future__ import annotations

import difflib

from relapse_ml.errors import ModelError
from relapse_ml.models.aalen_johansen import AalenJohansen
from relapse_ml.models.base import CompetingRiskModel
from relapse_ml.models.cox import CauseSpecificCox
from relapse_ml.models.direct import XGBoostDirect
from relapse_ml.models.fine_gray import FineGray
from relapse_ml.models.xgb import XGBoostCauseSpecific

SINGLE_MODELS: dict[str, type[CompetingRiskModel]] = {
    "aalen_johansen": AalenJohansen,
    "cox_cs": CauseSpecificCox,
    "fine_gray": FineGray,
    "xgb_cs": XGBoostCauseSpecific,
    "xgb_direct": XGBoostDirect,
}


def build(
    table: dict[str, type[CompetingRiskModel]], name: str, params: dict, note: str = ""
) -> CompetingRiskModel:
    """A new, unfitted ``table[name](**params)``; a ModelError names an unknown name or parameter."""
    if name not in table:
        close = difflib.get_close_matches(str(name), tuple(table), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ModelError(f"Unknown model '{name}'.{hint} Choose one of{note}: {', '.join(table)}.")
    cls = table[name]
    valid = cls().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        allowed = ", ".join(sorted(valid)) or "none"
        raise ModelError(f"Model '{name}' has no parameter(s) {unknown}; it takes: {allowed}.")
    model = cls(**params)
    if hasattr(model, "validate"):  # an ensemble checks its members now, not mid-training
        model.validate()
    return model


def make_single_model(name: str, **params) -> CompetingRiskModel:
    """A new, unfitted single model (one of ``SINGLE_MODELS``) — a composite's member."""
    return build(
        SINGLE_MODELS,
        name,
        params,
        note=" (a stack's members and a trajectory step's inner model are single models)",
    )
