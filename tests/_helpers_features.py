"""Small realistic synthetic cohorts for the landmark and feature tests (seeded)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.data.cohort import Cohort
from relapse_ml.data.contract import PATIENT_CATEGORIES

VISITS = (14, 30, 45, 60, 90, 120, 180, 270, 365, 540, 730)


EXTRA_MARKERS = {"ngs_mrd": {"unit": "VAF %", "min": 0, "max": 100, "detection_limit": 0.001,
                             "scale": "log", "description": "NGS-MRD"}}
EXTRA_EVENTS = {"cmv_infection": {"graded": False, "description": "CMV infection"},
                "platelet_recovery": {"graded": False, "description": "platelets >= 20"}}


def make_cohort(n: int = 12, seed: int = 0, extras: bool = True, declared: bool = False) -> Cohort:
    """A trial-like cohort: baseline, arm, marker visits, GVHD, sorafenib spells, outcomes.

    declared: add contract v2 declared extras (an NGS-MRD marker, CMV infection and platelet
    recovery events) and platelet counts.
    """
    rng = np.random.default_rng(seed)
    pats, meas, evs = [], [], []
    for i in range(n):
        pid = f"P{i:03d}"
        row = {
            "patient_id": pid,
            "age": float(rng.integers(18, 66)),
            "ecog": int(rng.integers(0, 3)),
        }
        for col, levels in PATIENT_CATEGORIES.items():
            row[col] = levels[rng.integers(len(levels))]
        row["flt3"] = "negative"
        row["hct_ci"] = float(rng.integers(0, 6)) if rng.random() < 0.8 else np.nan
        row["arm"] = "sorafenib" if i % 2 else "control"
        row["randomization_day"] = float(rng.integers(45, 61))
        if extras:
            row["ferritin"] = float(rng.gamma(2, 500)) if rng.random() < 0.9 else np.nan
            row["cmv_reactivation"] = float(rng.random() < 0.3)
            row["center"] = ["A", "B", "C"][rng.integers(3)]
        pats.append(row)

        # outcome: relapse, death or censoring (some before 60 so the at-risk filter bites)
        t = float(rng.integers(20, 900))
        kind = rng.choice(["relapse", "death", "last_followup"], p=[0.35, 0.2, 0.45])
        end = t
        if kind == "relapse":
            evs.append((pid, t, "relapse", np.nan, None))
            if rng.random() < 0.5:
                end = t + float(rng.integers(1, 200))
                evs.append((pid, end, "death", np.nan, "relapse"))
            else:
                end = t + float(rng.integers(0, 100))
                evs.append((pid, end, "last_followup", np.nan, None))
        else:
            evs.append((pid, t, kind, np.nan, None))
        evs.append((pid, float(rng.integers(10, 25)), "engraftment", np.nan, None))

        mrd_level = rng.choice([0.0, 0.05, 0.5])
        # some patients never get a given marker, so missing indicators are exercised
        p_mrd, p_wt1, p_chim = (rng.random(3) > 0.15) * np.array([0.8, 0.7, 0.6])
        for v in VISITS:
            d = float(v + rng.integers(-3, 4))
            if d > end or d < 0:
                continue
            if rng.random() < p_mrd:
                val = (
                    0.0
                    if rng.random() < 0.6
                    else float(np.round(mrd_level * rng.lognormal(0, 1), 3))
                )
                meas.append((pid, d, "mrd_mfc", min(val, 100.0), "BM"))
            if rng.random() < p_wt1:
                meas.append((pid, d, "wt1", float(np.round(rng.lognormal(3, 1.2), 1)), "BM"))
            if rng.random() < p_chim:
                meas.append(
                    (
                        pid,
                        d,
                        "donor_chimerism",
                        float(min(100.0, np.round(rng.normal(97, 4), 1))),
                        "PB",
                    )
                )
        if declared:
            for v in VISITS:
                if v <= end and rng.random() < 0.7:
                    meas.append((pid, float(v), "ngs_mrd", float(np.round(rng.choice([0, 0.01, 0.3]), 3)), "BM"))
                if v <= end and rng.random() < 0.5:
                    meas.append((pid, float(v), "plt", float(np.round(rng.lognormal(3.5, 0.8), 1)), "PB"))
            for name in EXTRA_EVENTS:
                d = float(rng.integers(5, 300))
                if d <= end and rng.random() < 0.5:
                    evs.append((pid, d, name, np.nan, None))
        if rng.random() < 0.4:
            d = float(rng.integers(15, 100))
            if d <= end:
                evs.append((pid, d, "agvhd", float(rng.integers(1, 5)), None))
                if rng.random() < 0.5 and d + 10 <= end:
                    evs.append((pid, d + 10, "agvhd", float(rng.integers(1, 5)), None))
        if rng.random() < 0.3:
            d = float(rng.integers(100, 400))
            if d <= end:
                evs.append((pid, d, "cgvhd", float(rng.integers(1, 4)), None))
        if row["arm"] == "sorafenib":
            s = row["randomization_day"]
            if s <= end:
                evs.append((pid, s, "sorafenib_start", np.nan, None))
                stop = s + float(rng.integers(20, 365))
                if stop <= end:
                    evs.append((pid, stop, "sorafenib_stop", np.nan, "toxicity"))
    patients = pd.DataFrame(pats)
    measurements = pd.DataFrame(meas, columns=["patient_id", "day", "marker", "value", "sample"])
    events = pd.DataFrame(evs, columns=["patient_id", "day", "event", "grade", "detail"])
    measurements = measurements.sort_values(["patient_id", "day"], kind="stable").reset_index(
        drop=True
    )
    events = events.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True)
    extra = {"ferritin": "number", "cmv_reactivation": "bool", "center": "string"} if extras else {}
    return Cohort(patients=patients, measurements=measurements, events=events, extra_columns=extra,
                  extra_markers=dict(EXTRA_MARKERS) if declared else {},
                  extra_events=dict(EXTRA_EVENTS) if declared else {})
