"""Cross-fitting folds: stratified by arm × event code, a patient's rows in one fold.

Its own module (no imports from the package) so that `learners`, `subgroups` and the
bootstrap share it without an import cycle.
"""

from __future__ import annotations

import numpy as np


def make_folds(arm, event, n_folds: int, seed: int, groups=None) -> np.ndarray:
    """Fold id per row, stratified by arm × event code; rows of one group share a fold."""
    arm = np.asarray(arm).astype(int)
    event = np.asarray(event).astype(int)
    if groups is None:
        groups = np.arange(arm.size)
    uniq, first, inverse = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
    strata = arm[first] * 3 + event[first]
    rng = np.random.default_rng(seed)
    fold_of_group = np.empty(uniq.size, dtype=int)
    offset = 0
    for s in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == s))
        fold_of_group[members] = (offset + np.arange(members.size)) % n_folds
        offset += members.size
    return fold_of_group[inverse.ravel()]
