"""Trial eligibility (NCT04674345) as code: named criteria, per-patient reasons, CONSORT flow."""

from relapse_ml.eligibility.criteria import CRITERIA, CRITERIA_BY_ID, Criterion
from relapse_ml.eligibility.rules import (
    AGVHD_ACTIVE_MIN_GRADE,
    ANC_RECOVERED,
    LVEF_MIN_PCT,
    PLT_RECOVERED,
    SCREENING_WINDOW_DAYS,
)
from relapse_ml.eligibility.screen import (
    CRITERION_STATUSES,
    PATIENT_STATUSES,
    EligibilityResult,
    consort_table,
    screen,
    screen_patient,
    screening_input,
)

__all__ = [
    "AGVHD_ACTIVE_MIN_GRADE",
    "ANC_RECOVERED",
    "CRITERIA",
    "CRITERIA_BY_ID",
    "CRITERION_STATUSES",
    "LVEF_MIN_PCT",
    "PATIENT_STATUSES",
    "PLT_RECOVERED",
    "SCREENING_WINDOW_DAYS",
    "Criterion",
    "EligibilityResult",
    "consort_table",
    "screen",
    "screen_patient",
    "screening_input",
]
