"""Landmark data sets (van Houwelingen): features known by day L, outcome from L on.

At landmark L a patient is kept when alive and relapse-free at L (outcome time > L);
features use only data dated on or before L (cut in one place, `FeatureContext`);
the outcome — relapse (1), non-relapse death (2) or censored (0) — is counted in
days from L and administratively censored ``horizon_days`` after L.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from relapse_ml.data.contract import CENSORED
from relapse_ml.errors import ConfigError
from relapse_ml.features import FeatureSettings, build_features, resolve_features
from relapse_ml.features.baseline import training_columns
from relapse_ml.landmark_strata import LANDMARK_COLUMNS

DEFAULT_LANDMARK_DAY = 60  # the trial's randomization window closes at day 60
DEFAULT_HORIZON_DAYS = 730  # counted from the landmark
DEFAULT_LANDMARKS = (60, 90, 120, 180, 270, 365)

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "DEFAULT_LANDMARKS",
    "DEFAULT_LANDMARK_DAY",
    "LANDMARK_COLUMNS",
    "LandmarkData",
    "add_landmark_columns",
    "build_features",
    "landmark_dataset",
    "super_landmark_dataset",
]


@dataclass
class LandmarkData:
    """Rows at risk at their landmark: features ``X`` and outcome from the landmark.

    All fields are aligned by row. ``X`` has a plain 0..n-1 index; ``time`` (float days
    from the landmark, > 0) and ``event`` (0 censored, 1 relapse, 2 non-relapse death)
    are administratively censored at ``horizon_days``. In a stacked (super-landmark)
    set ``patient_id`` repeats: split and bootstrap by patient, never by row.
    """

    X: pd.DataFrame
    time: np.ndarray
    event: np.ndarray
    patient_id: np.ndarray
    landmark_day: np.ndarray
    feature_names: list[str]
    horizon_days: float = DEFAULT_HORIZON_DAYS

    def __len__(self) -> int:
        return len(self.time)

    def select(self, rows) -> LandmarkData:
        """The rows picked by a boolean mask or integer positions."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return LandmarkData(
            X=self.X.iloc[rows].reset_index(drop=True),
            time=self.time[rows],
            event=self.event[rows],
            patient_id=self.patient_id[rows],
            landmark_day=self.landmark_day[rows],
            feature_names=list(self.feature_names),
            horizon_days=self.horizon_days,
        )

    def for_patients(self, patient_ids: Iterable) -> LandmarkData:
        """All rows of the given patients (every landmark of each)."""
        return self.select(np.isin(self.patient_id, np.asarray(list(map(str, patient_ids)))))


def _check(landmark_day, horizon_days) -> tuple[float, float]:
    try:
        L, H = float(landmark_day), float(horizon_days)
    except (TypeError, ValueError):
        raise ConfigError(
            f"landmark_day and horizon_days must be numbers of days, got {landmark_day!r} "
            f"and {horizon_days!r}"
        ) from None
    if not np.isfinite(L) or L < 0:
        raise ConfigError(f"landmark_day must be a day >= 0 after transplant, got {landmark_day!r}")
    if not np.isfinite(H) or H <= 0:
        raise ConfigError(
            f"horizon_days must be > 0 (days after the landmark), got {horizon_days!r}"
        )
    return L, H


def landmark_dataset(
    cohort,
    landmark_day: float = DEFAULT_LANDMARK_DAY,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    features: str | Iterable[str] | None = None,
    settings: FeatureSettings | None = None,
) -> LandmarkData:
    """The landmark data set at day L for patients alive and relapse-free at L.

    A relapse or death ON day L, or censoring on or before L, excludes the patient.
    The horizon counts from L: ``time = min(T - L, H)`` and ``event`` becomes 0 (censored)
    when ``T - L > H``. Features come from data on or before L only.
    """
    L, H = _check(landmark_day, horizon_days)
    names = resolve_features(features)  # unknown names fail before any work
    ids = cohort.patients["patient_id"].astype(str).to_numpy(object)
    outcome = cohort.outcome.reindex(pd.Index(ids, name="patient_id"))
    T = outcome["time"].to_numpy(dtype=float)
    E = outcome["event"].to_numpy(dtype=int)
    at_risk = T > L
    # features for the whole cohort, then the at-risk rows: the columns (e.g. levels of an
    # extra string column) are then the same at every landmark
    X = training_columns(build_features(cohort, L, names, settings), cohort)
    rows = np.flatnonzero(at_risk)
    from_L = T[rows] - L
    return LandmarkData(
        X=X.iloc[rows].reset_index(drop=True),
        time=np.minimum(from_L, H).astype(float),
        event=np.where(from_L <= H, E[rows], CENSORED).astype(int),
        patient_id=ids[rows],
        landmark_day=np.full(len(rows), L),
        feature_names=list(X.columns),
        horizon_days=H,
    )


def add_landmark_columns(X: pd.DataFrame, landmark_day) -> pd.DataFrame:
    """``X`` with ``landmark_day`` (days) and ``landmark_day_sq`` = (L / 365)^2 appended.

    Use it on `build_features` output to score with a super-landmark model.
    """
    L = np.broadcast_to(np.asarray(landmark_day, dtype=float), (len(X),))
    out = X.copy()
    out["landmark_day"] = L
    out["landmark_day_sq"] = (L / 365.0) ** 2
    return out


def super_landmark_dataset(
    cohort,
    landmarks: Sequence[float] = DEFAULT_LANDMARKS,
    horizon_days: float = DEFAULT_HORIZON_DAYS,
    features: str | Iterable[str] | None = None,
    settings: FeatureSettings | None = None,
) -> LandmarkData:
    """Landmark data sets at each day in ``landmarks`` stacked, the landmark as a feature.

    One model fitted on it scores a patient at any follow-up visit (van Houwelingen 2007).
    Each row's outcome counts from its own landmark, censored ``horizon_days`` after it.
    """
    days = sorted({_check(L, horizon_days)[0] for L in landmarks})
    if not days:
        raise ConfigError("super_landmark_dataset needs at least one landmark day")
    parts = [landmark_dataset(cohort, L, horizon_days, features, settings) for L in days]
    X = pd.concat([add_landmark_columns(p.X, p.landmark_day) for p in parts], ignore_index=True)
    return LandmarkData(
        X=X,
        time=np.concatenate([p.time for p in parts]),
        event=np.concatenate([p.event for p in parts]),
        patient_id=np.concatenate([p.patient_id for p in parts]),
        landmark_day=np.concatenate([p.landmark_day for p in parts]),
        feature_names=list(X.columns),
        horizon_days=float(horizon_days),
    )
