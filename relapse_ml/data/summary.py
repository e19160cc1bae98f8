"""Cohort summary: counts, outcomes, median follow-up (reverse Kaplan–Meier)."""

from __future__ import annotations

import numpy as np

from relapse_ml.data import contract as C
from relapse_ml.data.cohort import Cohort


def median_followup(time: np.ndarray, event: np.ndarray) -> float:
    """Median potential follow-up by reverse Kaplan–Meier (censoring is the "event")."""
    from lifelines import KaplanMeierFitter

    time = np.asarray(time, float)
    censored = np.asarray(event) == C.CENSORED
    if not censored.any():
        return float("nan")
    km = KaplanMeierFitter().fit(time, event_observed=censored)
    value = float(km.median_survival_time_)
    return value if np.isfinite(value) else float("nan")


def cohort_summary(cohort: Cohort) -> dict:
    """Aggregates only (no patient rows), safe to print or log."""
    out = cohort.outcome
    arms = {}
    if "arm" in cohort.patients:
        counts = cohort.patients["arm"].fillna("(none)").value_counts()
        arms = {str(k): int(v) for k, v in counts.items()}
    markers = {str(k): int(v) for k, v in cohort.measurements["marker"].value_counts().items()}
    return {
        "name": cohort.name,
        "patients": int(cohort.n_patients),
        "arms": arms,
        "relapses": int((out["event"] == C.RELAPSE).sum()),
        "non_relapse_deaths": int((out["event"] == C.NRM).sum()),
        "censored": int((out["event"] == C.CENSORED).sum()),
        "median_followup_days": median_followup(out["time"].to_numpy(), out["event"].to_numpy()),
        "measurements": int(len(cohort.measurements)),
        "measurements_per_marker": markers,
        "events": int(len(cohort.events)),
        "extra_columns": dict(cohort.extra_columns),
        "extra_markers": sorted(getattr(cohort, "extra_markers", {}) or {}),
        "extra_events": sorted(getattr(cohort, "extra_events", {}) or {}),
        "unknown_columns": list(getattr(cohort, "unknown_columns", []) or []),
        "randomized": getattr(cohort, "randomized", None),
    }


def format_summary(s: dict) -> str:
    arms = ", ".join(f"{k} {v}" for k, v in s["arms"].items()) or "no arm column (observational)"
    fu = s["median_followup_days"]
    fu_txt = f"{fu:.0f} days" if np.isfinite(fu) else "not estimable (no censored patient)"
    lines = [
        f"cohort {s['name']}: {s['patients']} patients ({arms})",
        f"  relapses {s['relapses']}, non-relapse deaths {s['non_relapse_deaths']}, "
        f"censored {s['censored']}",
        f"  median follow-up (reverse Kaplan–Meier): {fu_txt}",
        f"  measurements {s['measurements']}: "
        + (", ".join(f"{k} {v}" for k, v in s["measurements_per_marker"].items()) or "none"),
        f"  events {s['events']}",
    ]
    if s["extra_columns"]:
        lines.append("  declared extra columns: " + ", ".join(s["extra_columns"]))
    for key, words in (("extra_markers", "declared extra markers"), ("extra_events", "declared extra events"),
                       ("unknown_columns", "not recorded (unknown for everyone, no features)")):
        if s.get(key):
            lines.append(f"  {words}: " + ", ".join(s[key]))
    if s.get("randomized") is False:
        lines.append("  arm not randomized in this cohort: comparisons of the arms are observational")
    return "\n".join(lines)
