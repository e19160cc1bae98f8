"""Cohort aggregates for the report: counts by arm from the landmark, the CONSORT-style flow.

Only counts leave this module — never a patient row or identifier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from relapse_ml.errors import RelapseMLError

NO_ARM = "not randomized"
ALL = "all patients"


@dataclass
class CohortView:
    """The cohort seen from one run's landmark: outcome from L, capped at the horizon."""

    name: str
    n_patients: int
    arm_of_patient: pd.Series  # arm label per patient_id (whole cohort)
    time: np.ndarray  # days from the landmark, administratively censored at horizon_days
    event: np.ndarray  # 0 censored, 1 relapse, 2 non-relapse death
    arm: np.ndarray  # arm label per landmark row
    landmark_day: float
    horizon_days: float
    has_arm: bool


def arm_labels(patients: pd.DataFrame) -> pd.Series:
    """Arm per patient (``control`` / ``sorafenib`` / ``not randomized``); ``all patients``
    when the cohort has no arm at all (observational data)."""
    ids = patients["patient_id"].astype(str)
    if "arm" not in patients or patients["arm"].isna().all():
        return pd.Series(ALL, index=ids.to_numpy())
    return pd.Series(patients["arm"].fillna(NO_ARM).astype(str).to_numpy(), index=ids.to_numpy())


def cohort_view(cohort, landmark_day: float, horizon_days: float) -> CohortView:
    """Patients alive and relapse-free at the landmark (`landmark_dataset`'s rule) and their arm."""
    from relapse_ml.landmark import landmark_dataset

    ld = landmark_dataset(
        cohort, landmark_day=landmark_day, horizon_days=horizon_days, features=["baseline"]
    )
    arms = arm_labels(cohort.patients)
    return CohortView(
        name=cohort.name,
        n_patients=int(len(cohort.patients)),
        arm_of_patient=arms,
        time=ld.time,
        event=ld.event,
        arm=arms.reindex(ld.patient_id).to_numpy(object),
        landmark_day=float(landmark_day),
        horizon_days=float(horizon_days),
        has_arm=bool(cohort.has_arm),
    )


def outcome_counts(view: CohortView) -> pd.DataFrame:
    """Per arm (and in total): patients, at risk at L, relapses, non-relapse deaths, censored
    before the horizon, event-free at the horizon, median follow-up from L (reverse KM)."""
    from relapse_ml.data.summary import median_followup
    from relapse_ml.report.figures import group_order

    H = view.horizon_days
    order = group_order(view.arm_of_patient.to_numpy())
    rows = []
    for g in [*order, "total"] if len(order) > 1 else order:
        sel = np.ones(view.time.size, bool) if g == "total" else view.arm == g
        n_all = view.n_patients if g == "total" else int((view.arm_of_patient == g).sum())
        t, e = view.time[sel], view.event[sel]
        rows.append(
            {
                "arm": g,
                "patients": n_all,
                "at_risk": int(sel.sum()),
                "relapse": int((e == 1).sum()),
                "nrm": int((e == 2).sum()),
                "censored": int(((e == 0) & (t < H)).sum()),
                "event_free_at_horizon": int(((e == 0) & (t >= H)).sum()),
                "median_followup": median_followup(t, e) if sel.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def consort_flow(cohort, view: CohortView, as_of_day: float | None = None) -> dict:
    """Screening against the trial's criteria, then arms, the landmark and the outcomes.

    as_of_day: the day the criteria are checked at (default: the trial's 60-day window).
    Returns ``{"screening": consort_table rows, "as_of_day", "arms": [{arm, patients,
    at_risk, relapse, nrm}], "randomized_not_eligible": n}`` — counts only.
    """
    from relapse_ml.eligibility import SCREENING_WINDOW_DAYS, consort_table, screen

    day = SCREENING_WINDOW_DAYS if as_of_day is None else as_of_day
    try:
        result = screen(cohort, as_of_day=day)
    except RelapseMLError as err:  # a cohort the criteria cannot read: say so, keep the rest
        return {
            "screening": None,
            "as_of_day": day,
            "error": str(err),
            "arms": [],
            "randomized_not_eligible": 0,
        }
    table = consort_table(result)
    counts = outcome_counts(view)
    arms = counts[counts["arm"] != "total"].to_dict(orient="records")
    status = result.per_patient.set_index(result.per_patient["patient_id"].astype(str))["status"]
    randomized = view.arm_of_patient.isin(["control", "sorafenib"])
    flagged = status.reindex(view.arm_of_patient.index).astype(str) == "not_eligible"
    return {
        "screening": table.to_dict(orient="records"),
        "as_of_day": float(day),
        "arms": arms,
        "randomized_not_eligible": int((randomized & flagged).sum()),
        "error": None,
    }
