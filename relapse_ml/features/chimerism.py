"""Donor chimerism by L (donor cells, %): falling or mixed chimerism heralds relapse.

The summaries come from the one marker family (`relapse_ml.features.markers`); every function
returns its value column and ``chimerism_missing`` (1 without a sample by L, with NaN values —
never a silent zero or 100).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.data.contract import MIXED_CHIMERISM_BELOW
from relapse_ml.features.context import FeatureContext
from relapse_ml.features.markers import CHIMERISM, _one, marker_family, summary_values

MARKER = CHIMERISM.name

chimerism_latest = _one(CHIMERISM, "latest", "Latest donor chimerism (%) on or before L.")
chimerism_lowest = _one(CHIMERISM, "peak", "Lowest donor chimerism (%) on or before L.")
chimerism_trend = _one(
    CHIMERISM,
    "slope",
    "Change in donor chimerism, percentage points per 30 days, over the last two samples.\n\n"
    "Negative means falling donor chimerism; NaN with fewer than two samples. Linear, not\n"
    "log: donor % lives near 100, where a log scale would flatten the changes that matter.",
)
chimerism_days_since = _one(CHIMERISM, "days_since", "Days from the last chimerism sample to L.")


def chimerism_mixed(ctx: FeatureContext) -> pd.DataFrame:
    """1 when the latest donor chimerism is mixed (below 95 %), 0 when full."""
    latest = summary_values(ctx, CHIMERISM, "latest")
    mixed = np.where(np.isnan(latest), np.nan, (latest < MIXED_CHIMERISM_BELOW).astype(float))
    frame = marker_family(ctx, CHIMERISM, ())
    frame.insert(0, "chimerism_mixed", mixed)
    return frame
