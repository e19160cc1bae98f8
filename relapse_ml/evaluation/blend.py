"""A fixed-weight blend's cross-validation from its members' own (nothing refitted).

A stack with fixed weights (`models.stack`, ``weights: equal`` or given) predicts
Σ_m w_m F_k,m(t | x): in a fold it fits each member on the fold's training rows exactly as
the member alone would, so its out-of-fold incidences are the weighted sum of the members'
out-of-fold incidences — when the members were cross-validated on the same folds as
candidates of the same run (same name, same parameters). `blend_predictions` returns that
sum for `cross_validate(predicted=...)`, or None when a weighted member has no such
candidate (the blend is then cross-validated by fitting, as any model).
"""

from __future__ import annotations

import numpy as np


def blend_predictions(weights: dict[str, float], members: dict[str, tuple[str, dict]],
                      candidates: dict[str, tuple[str, dict]], cvs: dict):
    """``(oof_cif, oof_incidence)`` of the blend, or None.

    weights: label → weight (the null model's under its member label, e.g.
    ``aalen_johansen``); members: label → (model name, parameters) of each weighted part;
    candidates: run label → (model name, parameters) of the models already cross-validated,
    with their `CVResult` in ``cvs`` (same folds, grid and extra times as the blend's).
    """
    parts = []
    for label, w in weights.items():
        if w <= 0:
            continue
        match = next((c for c, spec in candidates.items()
                      if c in cvs and label in members and _same(spec, members[label])), None)
        if match is None:
            return None
        parts.append((w, cvs[match]))
    if not parts:
        return None
    cif = sum(w * np.asarray(cv.oof_cif, dtype=float) for w, cv in parts)
    inc = None
    if all(cv.oof_incidence is not None for _, cv in parts):
        inc = sum(w * np.asarray(cv.oof_incidence, dtype=float) for w, cv in parts)
    return cif, inc


def _same(a: tuple[str, dict], b: tuple[str, dict]) -> bool:
    return a[0] == b[0] and dict(a[1] or {}) == dict(b[1] or {})
