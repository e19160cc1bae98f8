"""Hematopoietic recovery and the cohort's declared extra events, as known at L.

Recovery: neutrophil engraftment (the contract's ``engraftment`` event) and platelet recovery
(a declared ``platelet_recovery`` event where a registry records it, else the first platelet
count of at least 20 x 10^9/L from day 1 on) — each as "recovered by L" and "days from
transplant to it". Declared extra events (contract v2 ``extra_events``): "occurred by L",
"days since" (and the highest grade when declared graded).

Events are records: a patient without the event by L did not have it (0), unless the cohort
records nothing about it at all (then NaN: not observed is not "did not happen").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.features.context import ROW, FeatureContext

PLATELET_RECOVERY = "platelet_recovery"  # a declared extra event of that name is read as recovery
PLATELETS_RECOVERED = 20.0  # 10^9/L: the usual threshold of platelet recovery (unsupported count)


def event_days(ctx: FeatureContext, event: str, first: bool = True) -> np.ndarray:
    """Day of each patient's first (or last) ``event`` on or before L; NaN without one."""
    ev = ctx.events
    sel = ev["event"].isin([event]).to_numpy(bool)
    day = pd.Series(ev["day"].to_numpy(float)[sel]).groupby(ev[ROW].to_numpy()[sel])
    per = day.min() if first else day.max()
    out = np.full(ctx.n_patients, np.nan)
    out[per.index.to_numpy(int)] = per.to_numpy()
    return out


def _by_and_day(ctx: FeatureContext, name: str, day: np.ndarray, recorded: bool) -> pd.DataFrame:
    by = (~np.isnan(day)).astype(float)
    if not recorded:
        by = np.full(ctx.n_patients, np.nan)
    return ctx.frame({f"{name}_by_landmark": by, f"{name}_day": day})


def engraftment(ctx: FeatureContext) -> pd.DataFrame:
    """``engraftment_by_landmark`` (1/0) and ``engraftment_day`` (days from transplant; NaN if not by L)."""
    return _by_and_day(ctx, "engraftment", event_days(ctx, "engraftment"), recorded=True)


def platelet_recovery(ctx: FeatureContext) -> pd.DataFrame:
    """``platelet_recovery_by_landmark`` and ``platelet_recovery_day``.

    From a declared ``platelet_recovery`` event when the cohort declares one, else from the
    ``plt`` marker (first count >= 20 x 10^9/L after day 0). NaN in a cohort that records
    neither.
    """
    if PLATELET_RECOVERY in ctx.extra_events:
        return _by_and_day(ctx, PLATELET_RECOVERY, event_days(ctx, PLATELET_RECOVERY), recorded=True)
    s = ctx.samples("plt", worst="min")
    ok = (s.value >= PLATELETS_RECOVERED) & (s.day > 0)
    day = pd.Series(s.day[ok]).groupby(s.row[ok]).min()
    out = np.full(ctx.n_patients, np.nan)
    out[day.index.to_numpy(int)] = day.to_numpy()
    sampled = s.missing() == 0
    frame = _by_and_day(ctx, PLATELET_RECOVERY, out, recorded=True)
    frame.loc[~sampled, f"{PLATELET_RECOVERY}_by_landmark"] = np.nan
    return frame


def extra_events(ctx: FeatureContext) -> pd.DataFrame:
    """Every declared extra event: ``extra_{name}_by_landmark``, ``extra_{name}_days_since``.

    ``days_since`` is L minus the day of the latest occurrence (NaN when none by L); a graded
    event also gets ``extra_{name}_max_grade`` (0 = none). ``platelet_recovery`` is read by
    `platelet_recovery` instead.
    """
    cols: dict[str, np.ndarray] = {}
    ev = ctx.events
    for name, spec in sorted(ctx.extra_events.items()):
        if name == PLATELET_RECOVERY:
            continue
        last = event_days(ctx, name, first=False)
        cols[f"extra_{name}_by_landmark"] = (~np.isnan(last)).astype(float)
        cols[f"extra_{name}_days_since"] = ctx.landmark_day - last
        if spec.get("graded"):
            sel = ev["event"].isin([name]).to_numpy(bool)
            grade = pd.Series(ev["grade"].to_numpy(float)[sel] if "grade" in ev else np.nan)
            per = grade.fillna(0.0).groupby(ev[ROW].to_numpy()[sel]).max()
            g = np.zeros(ctx.n_patients)
            g[per.index.to_numpy(int)] = per.to_numpy()
            cols[f"extra_{name}_max_grade"] = g
    return ctx.frame(cols)
