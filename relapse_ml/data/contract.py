"""The cohort data contract (v2) as constants: tables, columns, allowed values.

See ``docs``: shared data-contract.md. Every module reads these names from here.
"""

from __future__ import annotations

CONTRACT_VERSION = 2
UNKNOWN = "unknown"  # v2: the missing-information code of every categorical baseline column
TABLES = ("patients", "measurements", "events")

# outcome codes (methods notes): 0 censored, 1 relapse, 2 non-relapse death
CENSORED, RELAPSE, NRM = 0, 1, 2

SEX = ("M", "F", "unknown")
DIAGNOSIS = ("AML", "ALL", "MPAL", "MDS", "unknown")
DISEASE_STATUS = ("CR1", "CR2", "CR3+", "NR", "unknown")
CYTOGENETIC_RISK = ("favorable", "intermediate", "adverse", "unknown")
FLT3 = ("negative", "itd", "tkd", "unknown")
PRE_HSCT_MRD = ("positive", "negative", "unknown")
DONOR_TYPE = ("MSD", "MUD", "haplo", "cord", "other", "unknown")
CONDITIONING = ("MAC", "RIC", "unknown")
ARM = ("sorafenib", "control")
SAMPLE = ("BM", "PB")

# categorical patient columns and their allowed codes
PATIENT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "sex": SEX,
    "diagnosis": DIAGNOSIS,
    "disease_status": DISEASE_STATUS,
    "cytogenetic_risk": CYTOGENETIC_RISK,
    "flt3": FLT3,
    "pre_hsct_mrd": PRE_HSCT_MRD,
    "donor_type": DONOR_TYPE,
    "conditioning": CONDITIONING,
}
PATIENT_REQUIRED = ("patient_id", "age", *PATIENT_CATEGORIES, "ecog")
PATIENT_OPTIONAL = ("hct_ci", "arm", "randomization_day")
SCREENING_BOOL = (
    "apl",
    "ph_positive",
    "cml_blast_crisis",
    "sorafenib_intolerance",
    "uncontrolled_infection",
)
SCREENING_NUMBER = (
    "prior_allo_hsct",
    "life_expectancy_days",
    "lvef_pct",
    "pao2_mmhg",
    "bilirubin_mg_dl",
    "ast_x_uln",
    "alt_x_uln",
    "crcl_ml_min",
)
SCREENING_COLUMNS = SCREENING_BOOL + SCREENING_NUMBER

# measurements: marker -> (min, max) allowed value
MARKERS: dict[str, tuple[float, float]] = {
    "mrd_mfc": (0.0, 100.0),
    "wt1": (0.0, float("inf")),
    "donor_chimerism": (0.0, 100.0),
    "anc": (0.0, float("inf")),
    "plt": (0.0, float("inf")),
}
MEASUREMENT_DAY_RANGE = (-60.0, 4000.0)
MEASUREMENT_REQUIRED = ("patient_id", "day", "marker", "value")
MEASUREMENT_OPTIONAL = ("sample",)

# events: name -> allowed grade range (None: grade must be empty)
EVENTS: dict[str, tuple[float, float] | None] = {
    "engraftment": None,
    "agvhd": (1, 4),
    "cgvhd": (1, 3),
    "relapse": None,
    "death": None,
    "last_followup": None,
    "sorafenib_start": None,
    "sorafenib_stop": None,
    "sorafenib_dose_change": (0, 2000),
    "dli": None,
    "is_withdrawal": None,
}
GRADE_REQUIRED = ("agvhd", "cgvhd", "sorafenib_dose_change")
SORAFENIB_STOP_DETAIL = ("completed", "toxicity", "relapse", "other")
EVENT_DAY_RANGE = (0.0, 4000.0)
EVENT_REQUIRED = ("patient_id", "day", "event")
EVENT_OPTIONAL = ("grade", "detail")
OUTCOME_EVENTS = ("relapse", "death", "last_followup")

# thresholds named in the contract
MRD_DETECTION_LIMIT = 0.01  # % by MFC
WT1_POSITIVE = 60.0  # copies / 10^4 ABL, marrow
MIXED_CHIMERISM_BELOW = 95.0  # donor %

EXTRA_COLUMN_TYPES = ("number", "string", "bool")

# v2: cohort.json may declare extra markers and extra events (see data-contract.md)
EXTRA_MARKER_KEYS = ("unit", "min", "max", "detection_limit", "scale", "description")
EXTRA_MARKER_SCALES = ("log", "linear")
EXTRA_EVENT_KEYS = ("graded", "description")
# standard marker scales: log markers use the detection limit as the offset of the log
MARKER_SCALE = {"mrd_mfc": "log", "wt1": "log", "donor_chimerism": "linear", "anc": "linear", "plt": "linear"}
