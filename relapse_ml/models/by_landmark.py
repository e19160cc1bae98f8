"""Separate landmark models: one inner model per training landmark day, mixed linearly in L.

On stacked landmark rows (super-landmark) one model shares its coefficients or trees across
the visits; the landmark interactions of the linear models let a coefficient drift linearly
with L, and a depth-2 booster can use the landmark day in few of its splits. The classical
alternative (van Houwelingen & Putter 2011, "Dynamic prediction in clinical survival
analysis", ch. 7) fits one model per landmark on that landmark's rows only. A row between
two training landmarks L_a < L < L_b gets both models' incidences mixed linearly in L, a row
outside the range the nearest landmark's (`landmark_strata.stratified_incidence`, as the
strata of the linear models do; a convex mix of coherent incidences is coherent).

Every landmark's rows must carry enough events of both causes for a model of their own:
`landmark_keys` returns None when some landmark has fewer than ``min_events`` of either
cause, and the caller then fits one model on all the rows (the super-landmark model).
numpy and pandas only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from relapse_ml.landmark_strata import (
    DAY_COLUMN,
    LANDMARK_COLUMNS,
    stacked_days,
    stratified_incidence,
)

DEFAULT_MIN_EVENTS = 10  # of each cause at every landmark, for models of their own


def landmark_keys(X: pd.DataFrame, event, min_events: int = DEFAULT_MIN_EVENTS):
    """The training landmark days when ``X`` stacks several and each has ``min_events`` of
    both causes; else None (one model on all rows)."""
    if DAY_COLUMN not in X.columns:
        return None
    days = X[DAY_COLUMN].to_numpy(float)
    keys = stacked_days(days)
    if keys is None:
        return None
    event = np.asarray(event)
    for key in keys:
        rows = days == key
        if min((event[rows] == 1).sum(), (event[rows] == 2).sum()) < min_events:
            return None
    return keys


def own_columns(columns) -> list[str]:
    """A landmark model's columns: all but the landmark's own (constant within a landmark)."""
    return [str(c) for c in columns if str(c) not in LANDMARK_COLUMNS]


def fit_each(make: Callable[[], object], X: pd.DataFrame, time, event, groups, keys) -> dict:
    """``{landmark day: make() fitted on that landmark's rows}``, without the landmark columns."""
    days = X[DAY_COLUMN].to_numpy(float)
    cols = own_columns(X.columns)
    time, event = np.asarray(time), np.asarray(event)
    models = {}
    for key in keys:
        rows = np.flatnonzero(days == key)
        g = None if groups is None else np.asarray(groups)[rows]
        models[float(key)] = make().fit(X.iloc[rows][cols].reset_index(drop=True), time[rows],
                                        event[rows], groups=g)
    return models


def predict_each(models: dict, X: pd.DataFrame, times) -> tuple[np.ndarray, np.ndarray]:
    """``(F1, F2)`` of the landmark models, each row mixed over its two nearest landmarks."""
    keys = np.array(sorted(models), float)
    cols = own_columns(X.columns)
    t = np.asarray(times, float)

    def predict(key, rows):
        ci = models[key].predict_cumulative_incidence(
            X.iloc[rows][cols].reset_index(drop=True), t)
        return ci[:, 1, :], ci[:, 2, :]

    return stratified_incidence(X[DAY_COLUMN].to_numpy(float), keys, t.size, predict)
