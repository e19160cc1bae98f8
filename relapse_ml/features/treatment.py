"""Treatment: randomized arm and days on sorafenib by L."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.features.context import ROW, FeatureContext


def arm(ctx: FeatureContext) -> pd.DataFrame:
    """1 for the sorafenib arm, 0 for control; NaN when not randomized (no or empty ``arm``)
    or not yet randomized at L (``randomization_day`` after L)."""
    if "arm" not in ctx.patients:
        return ctx.frame({"arm": np.full(ctx.n_patients, np.nan)})
    a = ctx.patients["arm"]
    # isin, not ==: an empty arm may be pd.NA, whose truth value is undefined
    out = np.where(a.isin(["sorafenib"]), 1.0, np.where(a.isin(["control"]), 0.0, np.nan))
    if "randomization_day" in ctx.patients:
        # the arm is known only from the randomization day on: at an earlier landmark (a
        # stacked super-landmark row) the patient is not randomized yet
        day = pd.to_numeric(ctx.patients["randomization_day"], errors="coerce").to_numpy(float)
        out = np.where(day > ctx.landmark_day, np.nan, out)
    return ctx.frame({"arm": out})


def sorafenib_days(ctx: FeatureContext) -> pd.DataFrame:
    """Days on sorafenib by L, summed over ``sorafenib_start`` .. ``sorafenib_stop`` spells.

    A spell still open at L counts up to L. A start and a stop on the same day count as
    zero days; a stop without a start and a repeated start change nothing. Dose changes
    (including to 0 mg) are not read: only start and stop events delimit exposure.
    """
    ev = ctx.events
    sel = ev["event"].isin(["sorafenib_start", "sorafenib_stop"]).to_numpy(bool)
    row = ev[ROW].to_numpy()[sel]
    day = ev["day"].to_numpy(float)[sel]
    on = ev["event"].isin(["sorafenib_start"]).to_numpy(bool)[sel].astype(np.int8)
    # same day: start sorts before stop, so a same-day start-stop is a zero-day spell
    order = np.lexsort((1 - on, day, row))
    row, day, on = row[order], day[order], on[order]
    same_next = np.r_[row[1:] == row[:-1], False]
    next_day = np.r_[day[1:], 0.0]
    # each event's state lasts until the patient's next event, or until L for the last one
    until = np.where(same_next, next_day, ctx.landmark_day)
    exposure = np.where(on == 1, until - day, 0.0)
    out = np.bincount(row, weights=exposure, minlength=ctx.n_patients).astype(float)
    return ctx.frame({"sorafenib_days": out})
