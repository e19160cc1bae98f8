"""The landmark in the linear models on stacked landmarks: baseline strata and interactions.

numpy only, shared by the models (`models.cox`, `models.fine_gray`) and their scoring twins
(`scoring.linear`), so both compute the same numbers.

On the super-landmark data set (van Houwelingen 2007) one baseline hazard shared by every
landmark, with the landmark only as L and L² in the linear predictor, left the per-landmark
mean incidence off by up to 3 points and the marker effects the same at day 60 as at
day 365. Here instead:

* **strata**: each training landmark day has its own baseline (risk sets within the
  landmark's rows, its own Breslow estimate; for Fine–Gray also its own censoring weights).
  A row at a day between two training landmarks L_a < L < L_b gets the incidences of both,
  mixed linearly in L: F = (1 − w)·F_a + w·F_b, w = (L − L_a)/(L_b − L_a) (a convex mix of
  two coherent incidence curves is coherent: monotone, F1 + F2 ≤ 1); a day outside the
  training range gets the nearest landmark's.
* **interactions**: each feature's coefficient varies linearly with the landmark:
  beta_j(L) = beta_j + gamma_j · s(L), s(L) = (L − 60)/305 (0 at day 60, 1 at day 365), fitted as
  the extra columns z_j · s(L) / rms of the standardised features z_j, rms = the root mean
  square of s(L) over the training rows (stored with the model), so that they are on the
  scale of the other columns and penalised like them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DAY_COLUMN = "landmark_day"
LANDMARK_COLUMNS = ("landmark_day", "landmark_day_sq")  # = landmark.LANDMARK_COLUMNS
INTERACTION_ORIGIN = 60.0  # s(L) = 0: the first default landmark
INTERACTION_SPAN = 305.0  # s(L) = 1 at day 365
INTERACTION_SUFFIX = ":landmark"  # name of the interaction column of feature c: c + suffix


def landmark_scale(days) -> np.ndarray:
    """s(L) = (L − 60)/305, the landmark's scale in the interaction columns."""
    return (np.asarray(days, dtype=float) - INTERACTION_ORIGIN) / INTERACTION_SPAN


def interaction_rms(days) -> float:
    """The root mean square of s(L) over training rows (1 when it is 0: one landmark at 60)."""
    rms = float(np.sqrt(np.mean(landmark_scale(days) ** 2))) if np.size(days) else 0.0
    return rms if rms > 0 else 1.0


def with_interactions(Z: np.ndarray, days, columns: np.ndarray | None,
                      rms: float = 1.0) -> np.ndarray:
    """``Z`` with the columns ``Z[:, columns] · s(L) / rms`` appended (``Z`` when None)."""
    if columns is None or len(columns) == 0:
        return Z
    s = landmark_scale(days) / rms
    return np.hstack([Z, Z[:, np.asarray(columns, dtype=int)] * s[:, None]])


def stacked_days(days) -> np.ndarray | None:
    """The distinct landmark days of stacked rows, or None when there is at most one."""
    if days is None:
        return None
    keys = np.unique(np.asarray(days, dtype=float))
    return keys if keys.size > 1 else None


def stratum_weights(days, keys) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """``(key, rows, weight)`` for each training landmark ``key`` some row needs.

    A row at a training landmark takes its stratum with weight 1; between two landmarks
    both, weighted linearly in L; outside the range the nearest one.
    """
    keys = np.asarray(keys, dtype=float)
    d = np.clip(np.asarray(days, dtype=float), keys[0], keys[-1])
    hi = np.clip(np.searchsorted(keys, d, side="left"), 0, keys.size - 1)
    lo = np.clip(hi - 1, 0, keys.size - 1)
    exact = keys[hi] == d
    lo = np.where(exact, hi, lo)
    span = keys[hi] - keys[lo]
    w_hi = np.where(span > 0, (d - keys[lo]) / np.where(span > 0, span, 1.0), 1.0)
    out = []
    for j, key in enumerate(keys):
        w = np.where(hi == j, w_hi, 0.0) + np.where((lo == j) & (lo != hi), 1.0 - w_hi, 0.0)
        rows = np.flatnonzero(w > 0)
        if rows.size:
            out.append((float(key), rows, w[rows]))
    return out


def stratified_incidence(
    days,
    keys,
    n_times: int,
    predict: Callable[[float, np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """``(F1, F2)`` mixed over strata: ``predict(key, rows)`` gives the stratum's incidences."""
    n = np.asarray(days).shape[0]
    f1, f2 = np.zeros((n, n_times)), np.zeros((n, n_times))
    for key, rows, w in stratum_weights(days, keys):
        g1, g2 = predict(key, rows)
        f1[rows] += w[:, None] * g1
        f2[rows] += w[:, None] * g2
    return f1, f2
