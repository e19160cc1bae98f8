"""`FeatureContext`: a cohort as seen at landmark day L — the one place data after L is cut.

Every feature function receives a context and nothing else, so no feature can see
a measurement or an event dated after the landmark: leakage is impossible by
construction (and `tests/test_landmark.py` checks it anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from relapse_ml.errors import DataValidationError, Violation

ROW = "_row"  # integer position of the patient in ``FeatureContext.patients``


@dataclass(frozen=True)
class FeatureSettings:
    """Definitions behind features that the contract leaves open.

    agvhd_active_days: the contract has no "GVHD resolved" event, so acute GVHD
        counts as active at L when an ``agvhd`` event (onset or grade change)
        falls in the ``agvhd_active_days`` days up to and including L.
    first_marker_day: marker features (MRD, WT1, chimerism) describe the
        post-transplant course and use samples from this day on; pre-transplant
        MRD enters through the ``pre_hsct_mrd`` baseline column.
    """

    agvhd_active_days: float = 30.0
    first_marker_day: float = 0.0


@dataclass
class FeatureContext:
    """Patients, and measurements and events truncated to day <= ``landmark_day``.

    Build it with `FeatureContext.at_landmark`; feature functions must not modify it.
    ``measurements`` and ``events`` carry an extra integer column ``_row``, the
    patient's position in ``patients``, so features can work on arrays.
    """

    patients: pd.DataFrame
    measurements: pd.DataFrame
    events: pd.DataFrame
    landmark_day: float
    extra_columns: dict[str, str] = field(default_factory=dict)
    extra_markers: dict[str, dict] = field(default_factory=dict)
    extra_events: dict[str, dict] = field(default_factory=dict)
    # baseline columns the cohort records as unknown for every patient (no features from them)
    unknown_columns: tuple[str, ...] = ()
    settings: FeatureSettings = field(default_factory=FeatureSettings)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def at_landmark(cls, cohort, landmark_day: float, settings: FeatureSettings | None = None):
        """Cut ``cohort`` at ``landmark_day``: keep measurements and events dated on or before it."""
        L = float(landmark_day)
        patients = cohort.patients.reset_index(drop=True)
        imputed = [c for c in (getattr(cohort, "imputed_columns", {}) or {}) if c in patients]
        if imputed:
            # placeholders a data adapter had to put in required columns are not data
            patients = patients.copy()
            patients[imputed] = np.nan
        ids = pd.Index(patients["patient_id"].astype(str), name="patient_id")
        if not ids.is_unique:
            dup = ids[ids.duplicated()][0]
            raise DataValidationError(
                [Violation("patients", None, "patient_id", dup, "patient_id must be unique")]
            )
        return cls(
            patients=patients,
            measurements=_cut(cohort.measurements, ids, L),
            events=_cut(cohort.events, ids, L),
            landmark_day=L,
            extra_columns=dict(getattr(cohort, "extra_columns", {}) or {}),
            extra_markers=dict(getattr(cohort, "extra_markers", {}) or {}),
            extra_events=dict(getattr(cohort, "extra_events", {}) or {}),
            unknown_columns=tuple(getattr(cohort, "unknown_columns", ()) or ()) + tuple(imputed),
            settings=settings or FeatureSettings(),
        )

    @cached_property
    def index(self) -> pd.Index:
        """Patient ids in cohort order: the index of every feature frame."""
        return pd.Index(self.patients["patient_id"].astype(str), name="patient_id")

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    def frame(self, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        """A float feature frame indexed by patient id from ``{name: array}``."""
        return pd.DataFrame(
            {k: np.asarray(v, dtype=float) for k, v in columns.items()}, index=self.index
        )

    def samples(self, marker: str, worst: str = "max") -> MarkerSamples:
        """One marker's samples, sorted by patient and day, one value per patient-day.

        Same-day duplicates (e.g. marrow and blood) keep the most worrying value:
        the highest for ``worst="max"`` (MRD, WT1), the lowest for ``"min"`` (chimerism).
        """
        key = (marker, worst)
        if key not in self._cache:
            m = self.measurements
            sel = m["marker"].isin([marker]).to_numpy(bool)
            row = m[ROW].to_numpy()[sel]
            day = m["day"].to_numpy(dtype=float)[sel]
            value = m["value"].to_numpy(dtype=float)[sel]
            ok = ~np.isnan(value) & (day >= self.settings.first_marker_day)
            row, day, value = row[ok], day[ok], value[ok]
            order = np.lexsort((value if worst == "max" else -value, day, row))
            row, day, value = row[order], day[order], value[order]
            # the last row of each (patient, day) run holds the most worrying value
            keep = np.r_[(row[1:] != row[:-1]) | (day[1:] != day[:-1]), True][: len(row)]
            self._cache[key] = MarkerSamples(self.n_patients, row[keep], day[keep], value[keep])
        return self._cache[key]


def _cut(table: pd.DataFrame, ids: pd.Index, L: float) -> pd.DataFrame:
    """Rows of a long table dated on or before L, with the patient's row position."""
    kept = table.loc[table["day"].to_numpy(dtype=float) <= L]
    row = ids.get_indexer(kept["patient_id"].astype(str))
    kept = kept.loc[row >= 0].copy()  # ids absent from patients cannot be featurised
    kept[ROW] = row[row >= 0]
    return kept.reset_index(drop=True)


class MarkerSamples:
    """Sorted samples of one marker with per-patient group boundaries (vectorised helpers)."""

    def __init__(self, n_patients: int, row: np.ndarray, day: np.ndarray, value: np.ndarray):
        self.n_patients = n_patients
        self.row, self.day, self.value = row, day, value
        new = np.r_[True, row[1:] != row[:-1]] if len(row) else np.zeros(0, bool)
        self.starts = np.flatnonzero(new)
        self.lasts = np.r_[self.starts[1:] - 1, len(row) - 1] if len(row) else self.starts
        self.patients = row[self.starts]

    def scatter(self, per_patient: np.ndarray, fill: float = np.nan) -> np.ndarray:
        """Spread one value per sampled patient into an array over all patients."""
        out = np.full(self.n_patients, fill, dtype=float)
        out[self.patients] = per_patient
        return out

    def missing(self) -> np.ndarray:
        """1.0 for patients without any sample, else 0.0."""
        return self.scatter(np.zeros(len(self.patients)), fill=1.0)

    def latest(self) -> np.ndarray:
        return self.scatter(self.value[self.lasts])

    def latest_day(self) -> np.ndarray:
        return self.scatter(self.day[self.lasts])

    def peak(self) -> np.ndarray:
        if not len(self.row):
            return self.scatter(np.zeros(0))
        return self.scatter(np.maximum.reduceat(self.value, self.starts))

    def lowest(self) -> np.ndarray:
        if not len(self.row):
            return self.scatter(np.zeros(0))
        return self.scatter(np.minimum.reduceat(self.value, self.starts))

    def ever(self, positive: np.ndarray) -> np.ndarray:
        """1.0 when any sample is ``positive`` (a mask over samples), 0.0 when none, NaN without samples."""
        if not len(self.row):
            return self.scatter(np.zeros(0))
        hit = np.asarray(positive, dtype=np.int8)
        return self.scatter(np.maximum.reduceat(hit, self.starts).astype(float))

    def slope_last_two(self, transform=None, per_days: float = 30.0) -> np.ndarray:
        """Change of ``transform(value)`` per ``per_days`` days between the last two samples.

        NaN for patients with fewer than two samples (days are distinct after de-duplication).
        """
        two = self.lasts > self.starts
        last = self.lasts[two]
        prev = last - 1
        v = self.value if transform is None else transform(self.value)
        slope = (v[last] - v[prev]) / (self.day[last] - self.day[prev]) * per_days
        out = np.full(self.n_patients, np.nan)
        out[self.patients[two]] = slope
        return out
