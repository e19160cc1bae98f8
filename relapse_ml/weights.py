"""The weights of a convex combination of models (a stack, a blend): one check for the model
and for the numpy-only scoring twin (`scoring.stack`), so both refuse the same weights."""

from __future__ import annotations

import numpy as np

from relapse_ml.errors import ModelError

WEIGHT_TOLERANCE = 1e-9  # the weights sum to 1 within this


def check_weights(weights, fix: str = "re-export the model") -> dict[str, float]:
    """Weights of a convex combination: finite, >= 0, summing to 1 (a ModelError otherwise,
    ending in ``fix``: what to do)."""
    try:
        out = {str(k): float(v) for k, v in dict(weights).items()}
    except (TypeError, ValueError):
        out = None
    w = np.asarray(list((out or {}).values()), dtype=float)
    if w.size == 0 or not np.all(np.isfinite(w)) or (w < 0).any() \
            or abs(w.sum() - 1.0) > WEIGHT_TOLERANCE:
        shown = (", ".join(f"{k} {v}" for k, v in weights.items()) if isinstance(weights, dict)
                 else repr(weights))
        raise ModelError(f"the stack's weights must be numbers >= 0 summing to 1 (got "
                         f"{shown or 'none'}); {fix}")
    return out
