"""One feature family for every serial marker: MFC-MRD, WT1, chimerism, blood counts, declared extras.

A `Marker` says how a marker is read (scale, detection limit, what counts as positive, which
same-day duplicate is the worrying one); `marker_family` turns a marker's samples on or before
L into the same summaries for every marker:

- ``latest``: value of the last sample;
- ``peak`` (``lowest`` for a marker where low is bad, e.g. donor chimerism): most worrying value;
- ``log_slope`` (log-scale markers: change of log(value + detection limit) per 30 days over the
  last two samples, so an undetectable 0 has a finite log) or ``trend`` (linear scale: change
  in units per 30 days);
- ``detected_ever`` (``mixed_ever`` for chimerism): 1 when any sample was positive;
- ``days_since``: L minus the day of the last sample;
- ``missing``: 1 without any sample by L (the value columns are then NaN, never a zero).

Column names are ``{prefix}_{summary}``; the standard markers keep their historical prefixes
(``mrd_mfc``, ``wt1``, ``chimerism``), a declared extra marker gets ``extra_{name}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from relapse_ml.data.contract import MIXED_CHIMERISM_BELOW, MRD_DETECTION_LIMIT, WT1_POSITIVE
from relapse_ml.features.context import FeatureContext

SUMMARIES = ("latest", "peak", "slope", "detected_ever", "days_since")


@dataclass(frozen=True)
class Marker:
    """How one marker is read.

    detection_limit: the assay's floor; on a log scale it is the offset of log(value + limit).
    positive_above / positive_below: a sample beyond this threshold counts as positive
        (detected MRD, WT1 above 60, mixed chimerism below 95 %).
    worst: same-day duplicates (marrow and blood) keep the highest (``max``) or lowest (``min``).
    """

    name: str
    prefix: str
    scale: str = "linear"
    detection_limit: float = 0.0
    positive_above: float | None = None
    positive_below: float | None = None
    worst: str = "max"
    positive_word: str = "detected"

    def column(self, summary: str) -> str:
        if summary == "peak" and self.worst == "min":
            summary = "lowest"
        elif summary == "slope":
            summary = "log_slope" if self.scale == "log" else "trend"
        elif summary == "detected_ever":
            summary = f"{self.positive_word}_ever"
        return f"{self.prefix}_{summary}"

    def transform(self, values: np.ndarray) -> np.ndarray:
        return np.log(values + self.detection_limit) if self.scale == "log" else values


# MRD: positive when > 0 (contract); the usual detection limit is the log offset.
MRD = Marker("mrd_mfc", "mrd_mfc", "log", MRD_DETECTION_LIMIT, positive_above=0.0)
# WT1: about one copy per 10^4 ABL is the assay's floor; above 60 is called positive.
WT1 = Marker("wt1", "wt1", "log", 1.0, positive_above=WT1_POSITIVE)
# donor chimerism near 100 %: linear (a log would flatten the changes that matter); below 95 mixed
CHIMERISM = Marker("donor_chimerism", "chimerism", "linear", positive_below=MIXED_CHIMERISM_BELOW,
                   worst="min", positive_word="mixed")
ANC = Marker("anc", "anc", "linear", worst="min", positive_below=0.5, positive_word="neutropenic")
PLT = Marker("plt", "plt", "linear", worst="min", positive_below=20.0, positive_word="thrombocytopenic")
STANDARD_MARKERS = {m.name: m for m in (MRD, WT1, CHIMERISM, ANC, PLT)}


def declared_marker(name: str, spec: dict) -> Marker:
    """The `Marker` of a cohort.json ``extra_markers`` entry (positive: above the detection limit)."""
    limit = float(spec.get("detection_limit") or 0.0)
    return Marker(name, f"extra_{name}", spec.get("scale", "linear"), limit, positive_above=limit)


def _positive(m: Marker, value: np.ndarray) -> np.ndarray:
    if m.positive_below is not None:
        return value < m.positive_below
    return value > (m.positive_above if m.positive_above is not None else 0.0)


def summary_values(ctx: FeatureContext, m: Marker, summary: str) -> np.ndarray:
    """One summary of marker ``m`` for every patient (see the module docstring)."""
    s = ctx.samples(m.name, worst=m.worst)
    if summary == "latest":
        return s.latest()
    if summary == "peak":
        return s.lowest() if m.worst == "min" else s.peak()
    if summary == "slope":
        return s.slope_last_two(m.transform)
    if summary == "detected_ever":
        return s.ever(_positive(m, s.value))
    if summary == "days_since":
        return ctx.landmark_day - s.latest_day()
    raise ValueError(f"unknown marker summary {summary!r}; allowed: {', '.join(SUMMARIES)}")


def marker_family(ctx: FeatureContext, m: Marker, summaries=SUMMARIES) -> pd.DataFrame:
    """The summaries of marker ``m`` and its ``{prefix}_missing`` indicator."""
    cols = {m.column(k): summary_values(ctx, m, k) for k in summaries}
    cols[f"{m.prefix}_missing"] = ctx.samples(m.name, worst=m.worst).missing()
    return ctx.frame(cols)


def _one(m: Marker, summary: str, doc: str):
    def fn(ctx: FeatureContext) -> pd.DataFrame:
        return marker_family(ctx, m, (summary,))

    fn.__name__ = m.column(summary)
    fn.__doc__ = doc
    return fn


# the standard markers' summaries as named feature functions (config names, stable columns)
mrd_mfc_latest = _one(MRD, "latest", "Latest MFC-MRD (%) on or before L (0 = undetected).")
mrd_mfc_peak = _one(MRD, "peak", "Highest MFC-MRD (%) on or before L.")
mrd_mfc_days_since = _one(MRD, "days_since", "Days from the last MFC-MRD sample to L.")
mrd_mfc_log_slope = _one(MRD, "slope", "Change of log(MRD % + 0.01) per 30 days, last two samples by L.")
mrd_mfc_detected_ever = _one(MRD, "detected_ever", "1 when any MFC-MRD sample by L was positive (> 0 %).")
wt1_latest = _one(WT1, "latest", "Latest WT1 (copies / 10^4 ABL) on or before L.")
wt1_peak = _one(WT1, "peak", "Highest WT1 on or before L.")
wt1_days_since = _one(WT1, "days_since", "Days from the last WT1 sample to L.")
wt1_log_slope = _one(WT1, "slope", "Change of log(WT1 + 1) per 30 days, last two samples by L.")
wt1_detected_ever = _one(WT1, "detected_ever", "1 when any WT1 sample by L was above 60 copies / 10^4 ABL.")

MARKER_FUNCTIONS = (
    mrd_mfc_latest, mrd_mfc_peak, mrd_mfc_days_since, mrd_mfc_log_slope, mrd_mfc_detected_ever,
    wt1_latest, wt1_peak, wt1_days_since, wt1_log_slope, wt1_detected_ever,
)  # fmt: skip


def blood_counts(ctx: FeatureContext) -> pd.DataFrame:
    """The marker family of neutrophils (``anc_*``) and platelets (``plt_*``) by L."""
    return pd.concat([marker_family(ctx, ANC), marker_family(ctx, PLT)], axis=1)


def extra_markers(ctx: FeatureContext) -> pd.DataFrame:
    """The marker family of every marker the cohort declares in cohort.json (``extra_{name}_*``).

    No columns for a cohort without declared markers.
    """
    frames = [marker_family(ctx, declared_marker(n, spec)) for n, spec in sorted(ctx.extra_markers.items())]
    return pd.concat(frames, axis=1) if frames else ctx.frame({})
