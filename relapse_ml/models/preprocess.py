"""Preprocessing shared by the linear models (cause-specific Cox, Fine–Gray)."""

from __future__ import annotations

import numpy as np
import pandas as pd


class LinearPreprocessor:
    """Median-impute NaN with training medians, drop constant columns, standardise.

    Fitted state: ``columns_`` kept, ``median_``, ``mean_``, ``scale_`` (all per kept column).
    """

    def fit(self, X: pd.DataFrame) -> LinearPreprocessor:
        arr = X.to_numpy(dtype=float)
        import warnings

        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are expected
            med = np.nanmedian(arr, axis=0) if arr.size else np.zeros(arr.shape[1])
        med = np.where(np.isfinite(med), med, 0.0)  # all-NaN column: becomes constant, dropped
        filled = np.where(np.isnan(arr), med, arr)
        std = filled.std(axis=0)
        keep = std > 1e-12 * np.maximum(1.0, np.abs(filled).max(axis=0, initial=0.0))
        self.columns_ = [c for c, k in zip(X.columns, keep, strict=True) if k]
        self.median_ = med[keep]
        self.mean_ = filled[:, keep].mean(axis=0)
        self.scale_ = std[keep]
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        arr = X[self.columns_].to_numpy(dtype=float)
        arr = np.where(np.isnan(arr), self.median_, arr)
        return (arr - self.mean_) / self.scale_
