"""Shared by the eligibility tests: a patient who meets every criterion, and screening
a cohort built from patient and event rows."""

from __future__ import annotations

import pandas as pd

from relapse_ml.data.cohort import Cohort
from relapse_ml.eligibility import screen

# A patient who meets every criterion; each test changes one thing.
CLEAN = {
    "patient_id": "p1",
    "age": 40.0,
    "sex": "F",
    "diagnosis": "AML",
    "disease_status": "CR1",
    "cytogenetic_risk": "intermediate",
    "flt3": "negative",
    "pre_hsct_mrd": "negative",
    "donor_type": "MSD",
    "conditioning": "MAC",
    "ecog": 1,
    "prior_allo_hsct": 0,
    "apl": False,
    "ph_positive": False,
    "cml_blast_crisis": False,
    "sorafenib_intolerance": False,
    "life_expectancy_days": 365.0,
    "lvef_pct": 60.0,
    "pao2_mmhg": 90.0,
    "bilirubin_mg_dl": 1.0,
    "ast_x_uln": 1.0,
    "alt_x_uln": 1.0,
    "crcl_ml_min": 90.0,
    "uncontrolled_infection": False,
}
CLEAN_EVENTS = [
    {"day": 18.0, "event": "engraftment"},
    {"day": 30.0, "event": "agvhd", "grade": 1.0},  # grade I: recorded, not exclusionary
    {"day": 400.0, "event": "last_followup"},
]


def cohort(
    patients: list[dict], events: list[dict] | None = None, measurements: list[dict] | None = None
):
    """A Cohort of ``patients``; ``events`` rows carry patient_id (default: CLEAN_EVENTS for each)."""
    p = pd.DataFrame(patients)
    if events is None:
        events = [{**e, "patient_id": pid} for pid in p["patient_id"] for e in CLEAN_EVENTS]
    ev = pd.DataFrame(events, columns=["patient_id", "day", "event", "grade", "detail"])
    ms = pd.DataFrame(measurements or [], columns=["patient_id", "day", "marker", "value"])
    return Cohort(patients=p, measurements=ms, events=ev)


def one(changes: dict | None = None, drop: tuple[str, ...] = (), **kw):
    """Screen the clean patient with ``changes`` applied and ``drop`` columns removed; return row."""
    row = {k: v for k, v in {**CLEAN, **(changes or {})}.items() if k not in drop}
    return screen(cohort([row]), **kw).per_patient.iloc[0]
