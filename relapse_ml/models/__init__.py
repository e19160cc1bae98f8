"""Competing-risk models sharing one interface: ``fit(X, time, event)`` -> CIF(t | x).

Event codes: 0 censored, 1 relapse, 2 non-relapse death; times in days from the
landmark. ``predict_cif(X, times, cause)`` gives one incidence,
``predict_cumulative_incidence(X, times)`` all three states, shape
``(n_samples, 3, n_times)``: event-free survival, relapse, NRM.
"""

from relapse_ml.models.aalen_johansen import AalenJohansen, aalen_johansen, aalen_johansen_table
from relapse_ml.models.base import CompetingRiskModel, ModelNotFittedError
from relapse_ml.models.breslow import (
    BreslowBaseline,
    breslow_baseline,
    cumulative_incidence_from_hazards,
)
from relapse_ml.models.cox import CauseSpecificCox
from relapse_ml.models.direct import XGBoostDirect
from relapse_ml.models.fine_gray import FineGray, fit_subdistribution_hazard, geskus_expansion
from relapse_ml.models.registry import MODEL_NAMES, make_model
from relapse_ml.models.xgb import XGBoostCauseSpecific

__all__ = [
    "MODEL_NAMES",
    "AalenJohansen",
    "BreslowBaseline",
    "CauseSpecificCox",
    "CompetingRiskModel",
    "FineGray",
    "ModelNotFittedError",
    "XGBoostCauseSpecific",
    "XGBoostDirect",
    "aalen_johansen",
    "aalen_johansen_table",
    "breslow_baseline",
    "cumulative_incidence_from_hazards",
    "fit_subdistribution_hazard",
    "geskus_expansion",
    "make_model",
]
