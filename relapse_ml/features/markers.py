"""Residual-disease markers by L: MFC-MRD (%) and WT1 (copies / 10^4 ABL).

Every function returns its value column and the marker's ``*_missing`` indicator:
a patient without a sample by L gets NaN values and ``*_missing`` = 1, never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from relapse_ml.data.contract import MRD_DETECTION_LIMIT, WT1_POSITIVE
from relapse_ml.features.context import FeatureContext


@dataclass(frozen=True)
class Marker:
    """How one marker is read: its name, log offset and positivity threshold."""

    name: str
    log_offset: float  # added before the log so undetectable (0) samples have a finite log
    positive_above: float  # a sample above this counts as detected / positive


# MRD: positive when > 0 (contract); the offset is the usual detection limit.
MRD = Marker("mrd_mfc", log_offset=MRD_DETECTION_LIMIT, positive_above=0.0)
# WT1: about one copy per 10^4 ABL is the assay's floor; above 60 is called positive.
WT1 = Marker("wt1", log_offset=1.0, positive_above=WT1_POSITIVE)


def _with_missing(ctx: FeatureContext, m: Marker, column: str, values: np.ndarray) -> pd.DataFrame:
    s = ctx.samples(m.name)
    return ctx.frame({f"{m.name}_{column}": values, f"{m.name}_missing": s.missing()})


def latest(ctx: FeatureContext, m: Marker) -> pd.DataFrame:
    """Value of the last sample on or before L."""
    return _with_missing(ctx, m, "latest", ctx.samples(m.name).latest())


def peak(ctx: FeatureContext, m: Marker) -> pd.DataFrame:
    """Highest sample on or before L."""
    return _with_missing(ctx, m, "peak", ctx.samples(m.name).peak())


def days_since(ctx: FeatureContext, m: Marker) -> pd.DataFrame:
    """L minus the day of the last sample."""
    return _with_missing(ctx, m, "days_since", ctx.landmark_day - ctx.samples(m.name).latest_day())


def log_slope(ctx: FeatureContext, m: Marker) -> pd.DataFrame:
    """Slope of log(value + offset) per 30 days between the last two samples (NaN if fewer)."""
    slope = ctx.samples(m.name).slope_last_two(lambda v: np.log(v + m.log_offset))
    return _with_missing(ctx, m, "log_slope", slope)


def detected_ever(ctx: FeatureContext, m: Marker) -> pd.DataFrame:
    """1 when any sample by L was above the positivity threshold, 0 when none was."""
    return _with_missing(ctx, m, "detected_ever", ctx.samples(m.name).ever_above(m.positive_above))


def mrd_mfc_latest(ctx: FeatureContext) -> pd.DataFrame:
    """Latest MFC-MRD (%) on or before L (0 = undetected)."""
    return latest(ctx, MRD)


def mrd_mfc_peak(ctx: FeatureContext) -> pd.DataFrame:
    """Highest MFC-MRD (%) on or before L."""
    return peak(ctx, MRD)


def mrd_mfc_days_since(ctx: FeatureContext) -> pd.DataFrame:
    """Days from the last MFC-MRD sample to L."""
    return days_since(ctx, MRD)


def mrd_mfc_log_slope(ctx: FeatureContext) -> pd.DataFrame:
    """Change of log(MRD % + 0.01) per 30 days between the last two samples by L."""
    return log_slope(ctx, MRD)


def mrd_mfc_detected_ever(ctx: FeatureContext) -> pd.DataFrame:
    """1 when any MFC-MRD sample by L was positive (> 0 %)."""
    return detected_ever(ctx, MRD)


def wt1_latest(ctx: FeatureContext) -> pd.DataFrame:
    """Latest WT1 (copies / 10^4 ABL) on or before L."""
    return latest(ctx, WT1)


def wt1_peak(ctx: FeatureContext) -> pd.DataFrame:
    """Highest WT1 on or before L."""
    return peak(ctx, WT1)


def wt1_days_since(ctx: FeatureContext) -> pd.DataFrame:
    """Days from the last WT1 sample to L."""
    return days_since(ctx, WT1)


def wt1_log_slope(ctx: FeatureContext) -> pd.DataFrame:
    """Change of log(WT1 + 1) per 30 days between the last two samples by L."""
    return log_slope(ctx, WT1)


def wt1_detected_ever(ctx: FeatureContext) -> pd.DataFrame:
    """1 when any WT1 sample by L was positive (above 60 copies / 10^4 ABL)."""
    return detected_ever(ctx, WT1)
