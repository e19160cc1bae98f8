"""The one interface every competing-risk model shares, and its input checks.

Outcome codes (data contract): 0 censored, 1 relapse, 2 non-relapse death.
``predict_cumulative_incidence`` returns ``(n_samples, 3, n_times)``: column 0 the
event-free survival, 1 the relapse incidence, 2 the NRM incidence (they sum to 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from relapse_ml.data.outcome import check_outcome as _check_outcome
from relapse_ml.errors import ModelError
from relapse_ml.incidence import assemble_incidence, cap_total_incidence, step_at  # noqa: F401 (re-exported)

CAUSES = (1, 2)
PREDICT_BLOCK = 1000  # rows predicted at a time


class ModelNotFittedError(ModelError, NotFittedError):
    """A prediction asked of a model that has not been fitted yet."""


def check_outcome(time, event, n_samples: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(time, event)`` as float and int arrays, or raise a ModelError naming the fault."""
    return _check_outcome(time, event, n_samples=n_samples, error=ModelError)


def check_times(times) -> np.ndarray:
    """Return prediction times as a 1-d float array (days from the landmark, >= 0, any order)."""
    t = np.atleast_1d(np.asarray(times, dtype=float)).ravel()
    if t.size == 0:
        raise ModelError("times is empty; give at least one time (days from the landmark).")
    if not np.all(np.isfinite(t)) or (t < 0).any():
        raise ModelError("times must be finite and >= 0 days from the landmark.")
    return t


def check_cause(cause) -> int:
    """Return ``cause`` as an int, 1 (relapse) or 2 (non-relapse death)."""
    if cause not in CAUSES:
        raise ModelError(f"cause must be 1 (relapse) or 2 (non-relapse death), not {cause!r}.")
    return int(cause)


class CompetingRiskModel(BaseEstimator):
    """Base class: ``fit(X, time, event)``, ``predict_cif``, ``predict_cumulative_incidence``.

    Subclasses implement ``_fit(X, time, event)`` with ``X`` a float DataFrame whose
    columns are ``feature_names_in_``, and ``_predict_f1_f2(X, times)`` returning two
    ``(n_samples, n_times)`` arrays that are non-decreasing in ``times``.
    """

    def fit(self, X, time, event, groups=None):
        """Fit on features ``X`` (DataFrame, NaN allowed) and outcome ``time``/``event``.

        groups: patient id per row when a patient has several rows (stacked landmarks):
        every internal split (early stopping, an ensemble's inner folds) then keeps a
        patient's rows together. Used during the fit only, never stored in the model.
        """
        frame = self._check_X(X, reset=True)
        t, e = check_outcome(time, event, n_samples=len(frame))
        if groups is not None:
            groups = np.asarray(groups)
            if groups.shape != (len(frame),):
                raise ModelError(f"groups must have one value per row ({len(frame)}), "
                                 f"got shape {groups.shape}")
        self._groups = groups
        try:
            self._fit(frame, t, e)
        finally:
            del self._groups  # patient ids never travel with a fitted model
        self.is_fitted_ = True
        return self

    def predict_cif(self, X, times, cause: int = 1) -> np.ndarray:
        """Cumulative incidence of ``cause`` (1 relapse, 2 NRM) at ``times``: ``(n_samples, n_times)``."""
        cause = check_cause(cause)
        return self.predict_cumulative_incidence(X, times)[:, cause, :]

    def predict_cumulative_incidence(self, X, times) -> np.ndarray:
        """``(n_samples, 3, n_times)``: event-free survival, relapse CIF, NRM CIF (sum to 1)."""
        self._check_fitted()
        frame = self._check_X(X, reset=False)
        t = check_times(times)
        # blocks of rows: the hazard models work on (rows × event times) arrays, which for
        # 20,000 patients and their ~7,000 event times would need gigabytes at once
        parts = [self._predict_f1_f2(frame.iloc[i:i + PREDICT_BLOCK], t)
                 for i in range(0, max(len(frame), 1), PREDICT_BLOCK)]
        f1 = np.concatenate([p[0] for p in parts], axis=0)
        f2 = np.concatenate([p[1] for p in parts], axis=0)
        return assemble_incidence(f1, f2)

    # -- helpers -------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not getattr(self, "is_fitted_", False):
            raise ModelNotFittedError(
                f"This {type(self).__name__} is not fitted yet: call fit(X, time, event) first."
            )

    def _check_X(self, X, reset: bool) -> pd.DataFrame:
        """Return ``X`` as a float DataFrame with the fitted column order.

        At prediction a DataFrame is matched by column name (extra columns are ignored);
        an array must have the fitted number of columns, in the fitted order.
        """
        if isinstance(X, pd.DataFrame):
            frame = X
        else:
            arr = np.asarray(X, dtype=float)
            if arr.ndim != 2:
                raise ModelError(f"X must be 2-d (patients x features), got shape {arr.shape}.")
            frame = pd.DataFrame(arr, columns=[f"x{j}" for j in range(arr.shape[1])])
        if not getattr(self, "keeps_hidden_columns", False):
            # hidden marker histories (``_obs:*``, features/trajectory.py) are raw material
            # for the trajectory step, never features of a model
            hidden = [c for c in frame.columns if str(c).startswith("_obs:")]
            if hidden:
                frame = frame.drop(columns=hidden)
        if reset:
            non_numeric = [c for c in frame.columns if not _is_numeric(frame[c])]
            if non_numeric:
                raise ModelError(
                    f"X columns must be numeric (encode categories first): {non_numeric[:5]}"
                )
            self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
            self.n_features_in_ = len(self.feature_names_in_)
            frame = frame.copy()
            frame.columns = list(self.feature_names_in_)
            return frame.astype(float)
        names = list(self.feature_names_in_)
        if isinstance(X, pd.DataFrame):
            cols = [str(c) for c in frame.columns]
            missing = [c for c in names if c not in cols]
            if missing:
                raise ModelError(
                    f"X lacks {len(missing)} feature(s) the model was fitted on: {missing[:5]}"
                )
            frame = frame.copy()
            frame.columns = cols
            frame = frame[names]
        elif frame.shape[1] != len(names):
            raise ModelError(
                f"X has {frame.shape[1]} columns; the model was fitted on {len(names)}."
            )
        else:
            frame.columns = names
        try:
            return frame.astype(float)
        except (TypeError, ValueError) as err:
            raise ModelError("X columns must be numeric (encode categories first).") from err

    def _fit(self, X: pd.DataFrame, time: np.ndarray, event: np.ndarray) -> None:
        raise NotImplementedError

    def _predict_f1_f2(self, X: pd.DataFrame, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def _is_numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)
