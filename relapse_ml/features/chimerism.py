"""Donor chimerism by L (donor cells, %): falling or mixed chimerism heralds relapse.

Every function returns its value column and ``chimerism_missing`` (1 without a sample by L,
with NaN values — never a silent zero or 100).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.data.contract import MIXED_CHIMERISM_BELOW
from relapse_ml.features.context import FeatureContext, MarkerSamples

MARKER = "donor_chimerism"


def _samples(ctx: FeatureContext) -> MarkerSamples:
    # same-day duplicates keep the lowest donor %, the most worrying reading
    return ctx.samples(MARKER, worst="min")


def _with_missing(ctx: FeatureContext, column: str, values: np.ndarray) -> pd.DataFrame:
    return ctx.frame({f"chimerism_{column}": values, "chimerism_missing": _samples(ctx).missing()})


def chimerism_latest(ctx: FeatureContext) -> pd.DataFrame:
    """Latest donor chimerism (%) on or before L."""
    return _with_missing(ctx, "latest", _samples(ctx).latest())


def chimerism_lowest(ctx: FeatureContext) -> pd.DataFrame:
    """Lowest donor chimerism (%) on or before L."""
    return _with_missing(ctx, "lowest", _samples(ctx).lowest())


def chimerism_mixed(ctx: FeatureContext) -> pd.DataFrame:
    """1 when the latest donor chimerism is mixed (below 95 %), 0 when full."""
    latest = _samples(ctx).latest()
    mixed = np.where(np.isnan(latest), np.nan, (latest < MIXED_CHIMERISM_BELOW).astype(float))
    return _with_missing(ctx, "mixed", mixed)


def chimerism_trend(ctx: FeatureContext) -> pd.DataFrame:
    """Change in donor chimerism, percentage points per 30 days, over the last two samples.

    Negative means falling donor chimerism; NaN with fewer than two samples. Linear, not
    log: donor % lives near 100, where a log scale would flatten the changes that matter.
    """
    return _with_missing(ctx, "trend", _samples(ctx).slope_last_two())


def chimerism_days_since(ctx: FeatureContext) -> pd.DataFrame:
    """Days from the last chimerism sample to L."""
    return _with_missing(ctx, "days_since", ctx.landmark_day - _samples(ctx).latest_day())
