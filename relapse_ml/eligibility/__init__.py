"""Trial eligibility (NCT04674345) as code: named criteria, per-patient reasons, CONSORT flow."""

from relapse_ml.eligibility.criteria import (
    AGVHD_ACTIVE_MIN_GRADE,
    ANC_RECOVERED,
    CRITERIA,
    CRITERIA_BY_ID,
    LVEF_MIN_PCT,
    PLT_RECOVERED,
    SCREENING_WINDOW_DAYS,
    Criterion,
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
