"""Graft-versus-host disease by L: acute (grade 1–4) and chronic (grade 1–3) events.

GVHD is recorded as events, so a patient without one by L had none: grade 0 is an
observation here, not a filled-in missing value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.features.context import ROW, FeatureContext


def _max_grade(ctx: FeatureContext, event: str) -> np.ndarray:
    ev = ctx.events
    sel = ev.loc[ev["event"].isin([event]).to_numpy(bool)]
    grade = (
        sel["grade"].astype(float)
        if "grade" in sel
        else pd.Series(np.nan, index=sel.index, dtype=float)
    )
    # an event with an unknown grade still counts as at least grade 1
    grade = grade.fillna(1.0)
    out = np.zeros(ctx.n_patients)
    per = grade.groupby(sel[ROW].to_numpy()).max()
    out[per.index.to_numpy()] = per.to_numpy()
    return out


def agvhd_max_grade(ctx: FeatureContext) -> pd.DataFrame:
    """Highest acute GVHD grade recorded on or before L (0 = none)."""
    return ctx.frame({"agvhd_max_grade": _max_grade(ctx, "agvhd")})


def agvhd_active(ctx: FeatureContext) -> pd.DataFrame:
    """1 when acute GVHD is taken as active at L, else 0.

    The contract has no resolution event, so "active" means an ``agvhd`` event (onset or a
    new grade) within ``settings.agvhd_active_days`` (default 30) days up to L:
    L - N <= day <= L.
    """
    ev = ctx.events
    window = ctx.landmark_day - ctx.settings.agvhd_active_days
    recent = ev["event"].isin(["agvhd"]).to_numpy(bool) & (ev["day"].to_numpy(float) >= window)
    out = np.zeros(ctx.n_patients)
    out[ev[ROW].to_numpy()[recent]] = 1.0
    return ctx.frame({"agvhd_active": out})


def cgvhd_max_grade(ctx: FeatureContext) -> pd.DataFrame:
    """Highest chronic GVHD grade on or before L (0 none, 1 mild, 2 moderate, 3 severe)."""
    return ctx.frame({"cgvhd_max_grade": _max_grade(ctx, "cgvhd")})
