"""Preprocessing shared by the linear models (cause-specific Cox, Fine–Gray).

The arithmetic of ``transform`` is `relapse_ml.scaling.scale_columns` (numpy only, shared
with the scoring path); this class decides its numbers on the training rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from relapse_ml.errors import ModelError
from relapse_ml.landmark_strata import (
    DAY_COLUMN,
    INTERACTION_SUFFIX,
    LANDMARK_COLUMNS,
    interaction_rms,
    stacked_days,
    stratified_incidence,
    with_interactions,
)
from relapse_ml.models.penalty import resolve_penalizer
from relapse_ml.scaling import scale_columns

LOG_MIN_DISTINCT = 10  # fewer distinct values: a count or grade, kept on its own scale
LOG_MIN_SKEW = 2.0  # sample skewness above which a non-negative column is log-scaled


class LinearPreprocessor:
    """Clip to the training range, median-impute, log-scale heavy-tailed non-negative
    columns, drop constant columns, standardise.

    Raw marker values such as MRD % (mostly 0, a few up to tens of %) are heavy-tailed:
    on their own scale one patient sits 17 SD from the mean and a linear predictor built
    on them spans exp(±tens). A column that is non-negative, has at least
    ``LOG_MIN_DISTINCT`` distinct values and a skewness above ``LOG_MIN_SKEW`` is read as
    ``log(x + c)``, c its smallest positive training value (a detection limit in practice).

    Fitted state (per kept column): ``columns_``, ``lower_``/``upper_`` (training range),
    ``median_``, ``log_offset_`` (NaN: not logged), ``mean_``, ``scale_``; and
    ``log_columns_`` (names of the logged columns).
    """

    def fit(self, X: pd.DataFrame) -> LinearPreprocessor:
        arr = X.to_numpy(dtype=float)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are expected
            med = np.nanmedian(arr, axis=0) if arr.size else np.zeros(arr.shape[1])
            lower = np.nanmin(arr, axis=0) if arr.size else np.zeros(arr.shape[1])
            upper = np.nanmax(arr, axis=0) if arr.size else np.zeros(arr.shape[1])
        med = np.where(np.isfinite(med), med, 0.0)  # all-NaN column: becomes constant, dropped
        lower = np.where(np.isfinite(lower), lower, med)
        upper = np.where(np.isfinite(upper), upper, med)
        filled = np.where(np.isnan(arr), med, arr)
        offset = np.array([_log_offset(arr[:, j]) for j in range(arr.shape[1])])
        Z = scale_columns(filled, lower=None, upper=None, median=med, log_offset=offset,
                          mean=np.zeros(arr.shape[1]), scale=np.ones(arr.shape[1]))
        std = Z.std(axis=0)
        keep = std > 1e-12 * np.maximum(1.0, np.abs(Z).max(axis=0, initial=0.0))
        self.columns_ = [c for c, k in zip(X.columns, keep, strict=True) if k]
        self.lower_, self.upper_ = lower[keep], upper[keep]
        self.median_ = med[keep]
        self.log_offset_ = offset[keep]
        self.mean_ = Z[:, keep].mean(axis=0)
        self.scale_ = std[keep]
        self.log_columns_ = [c for c, o in zip(self.columns_, self.log_offset_, strict=True)
                             if not np.isnan(o)]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return scale_columns(X[self.columns_].to_numpy(dtype=float), lower=self.lower_,
                             upper=self.upper_, median=self.median_, log_offset=self.log_offset_,
                             mean=self.mean_, scale=self.scale_)

    def per_unit(self, beta: np.ndarray) -> np.ndarray:
        """Coefficients per unit of each kept column's model scale (log scale for logged ones)."""
        return np.asarray(beta, float) / self.scale_


def _log_offset(col: np.ndarray) -> float:
    """The offset c of ``log(x + c)`` for a heavy-tailed non-negative column, else NaN."""
    x = col[np.isfinite(col)]
    if x.size < 3 or x.min() < 0 or np.unique(x).size < LOG_MIN_DISTINCT:
        return np.nan
    sd = x.std()
    if sd <= 0:
        return np.nan
    skew = float(np.mean(((x - x.mean()) / sd) ** 3))
    if skew <= LOG_MIN_SKEW:
        return np.nan
    return float(x[x > 0].min())


class LandmarkTermsMixin:
    """What the linear models do with the landmark on stacked landmarks (several
    ``landmark_day`` values among the training rows; `relapse_ml.landmark_strata`).

    ``landmark_strata``: a baseline per training landmark day (the day and its square then
    leave the linear predictor: constant within a stratum, they carry nothing);
    ``landmark_interactions``: every feature × s(L) as extra columns (``"varying"``: only the
    features whose value changes between a patient's stacked rows — markers, GVHD, the arm —
    when the fit is given the patient ids, else every feature). On a single landmark (or
    without a ``landmark_day`` column) neither applies and the model is the plain one.

    Fitted: ``landmark_strata_`` (the training landmark days, or None),
    ``interaction_columns_`` (positions among ``preprocessor_.columns_`` of the features with
    an interaction column, or None), ``interaction_rms_`` (their scale, see
    `landmark_strata.with_interactions`).
    """

    landmark_strata_ = None
    interaction_columns_ = None
    interaction_rms_ = 1.0

    def _cause_penalty(self, Z, time, event, cause: int, *, cause_specific: bool,
                       strata=None) -> float:
        """One cause's ridge penalty: ``self.penalizer`` itself, or ``auto``'s choice on
        these rows (`models.penalty`), kept in ``penalizer_`` / ``penalty_choices_``."""
        penalizer, choice = resolve_penalizer(
            self.penalizer, Z, time, event, cause, cause_specific=cause_specific,
            strata=strata, groups=getattr(self, "_groups", None))
        self.penalizer_[cause] = penalizer
        if choice is not None:
            self.penalty_choices_[cause] = choice
        return penalizer

    def _fit_design(self, X: pd.DataFrame) -> np.ndarray:
        """Fit ``preprocessor_`` and the landmark terms on ``X``; return the design matrix."""
        days = X[DAY_COLUMN].to_numpy(float) if DAY_COLUMN in X.columns else None
        keys = stacked_days(days)
        self.landmark_strata_ = keys if keys is not None and self.landmark_strata else None
        drop = LANDMARK_COLUMNS if self.landmark_strata_ is not None else ()
        self.preprocessor_ = LinearPreprocessor().fit(X[[c for c in X.columns if c not in drop]])
        self.interaction_columns_ = None
        mode = self.landmark_interactions
        if mode not in (True, False, "varying"):
            raise ModelError(f"landmark_interactions must be true, false or 'varying', "
                             f"not {mode!r}.")
        if keys is not None and mode:
            names = [c for c in self.preprocessor_.columns_ if c not in LANDMARK_COLUMNS]
            groups = getattr(self, "_groups", None)
            if mode == "varying" and groups is not None:  # only columns that change over visits
                changes = X[names].groupby(np.asarray(groups)).nunique(dropna=False).max() > 1
                names = [c for c in names if changes[c]]
            where = {c: j for j, c in enumerate(self.preprocessor_.columns_)}
            self.interaction_columns_ = np.array([where[c] for c in names], dtype=int)
            self.interaction_rms_ = interaction_rms(days)
        return self._design(X)

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        """Preprocessed features, with the interaction columns when the model has them."""
        Z = self.preprocessor_.transform(X)
        if self.interaction_columns_ is None:
            return Z
        return with_interactions(Z, X[DAY_COLUMN].to_numpy(float), self.interaction_columns_,
                                 self.interaction_rms_)

    def _strata_rows(self, X: pd.DataFrame):
        """The ``landmark_day`` of each row (None for an unstratified model)."""
        return None if self.landmark_strata_ is None else X[DAY_COLUMN].to_numpy(float)

    def _coef_frame(self, betas: dict) -> pd.DataFrame:
        """Coefficients per unit of each kept feature (interaction rows: per unit × s(L))."""
        names = list(self.preprocessor_.columns_)
        scale = np.asarray(self.preprocessor_.scale_, float)
        if self.interaction_columns_ is not None:
            names += [names[j] + INTERACTION_SUFFIX for j in self.interaction_columns_]
            scale = np.r_[scale, scale[self.interaction_columns_] * self.interaction_rms_]
        return pd.DataFrame({c: b / scale for c, b in betas.items()},
                            index=pd.Index(names, name="feature"))

    def _incidence(self, X: pd.DataFrame, times: np.ndarray, combine):
        """``(F1, F2)`` of both causes' margins and ``baselines_`` by ``combine`` (the model's
        incidence formula), per landmark stratum and mixed between them when stratified."""
        Z = self._design(X)
        m1, m2 = Z @ self.beta_std_[1], Z @ self.beta_std_[2]
        b1, b2 = self.baselines_[1], self.baselines_[2]
        days = self._strata_rows(X)
        if days is None:
            return combine(b1, m1, b2, m2, times)
        return stratified_incidence(days, self.landmark_strata_, times.size, lambda k, rows: (
            combine(b1[k], m1[rows], b2[k], m2[rows], times)))
