"""The linear models' column scaling in numpy only, shared by the models and the scoring path.

A column is read as: clipped to its training range (no extrapolation beyond what the fit
saw), NaN replaced by the training median, put on a log scale ``log(x + offset)`` when the
training fit chose one (heavy-tailed non-negative markers such as MRD %, WT1 copies: the
offset is the smallest positive training value, the assay's detection limit in practice,
so an undetectable 0 stays finite), then standardised with the training mean and SD.
It lives outside `relapse_ml.models` (which imports scikit-learn) so that the clinician's
scoring path computes exactly the same numbers.
"""

from __future__ import annotations

import numpy as np


def scale_columns(arr: np.ndarray, *, lower: np.ndarray | None, upper: np.ndarray | None,
                  median: np.ndarray, log_offset: np.ndarray | None, mean: np.ndarray,
                  scale: np.ndarray) -> np.ndarray:
    """Standardised columns of ``arr`` (n × p, raw feature values in the fitted order).

    lower/upper: training range per column (None: no clipping, bundles made before it);
    log_offset: per column, NaN for a column kept on its own scale (None: no log columns).
    """
    arr = np.asarray(arr, dtype=float)
    if lower is not None and upper is not None:
        arr = np.clip(arr, lower, upper)  # NaN stays NaN
    arr = np.where(np.isnan(arr), median, arr)
    if log_offset is not None:
        logged = ~np.isnan(log_offset)
        if logged.any():
            arr = arr.copy()
            arr[:, logged] = np.log(np.maximum(arr[:, logged], 0.0) + log_offset[logged])
    return (arr - mean) / scale
