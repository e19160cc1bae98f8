"""An in-process cache of the trajectory step's population fits and posterior features.

Two trajectory models on the same rows with the same covariates and EM settings — e.g. an
XGBoost and a Cox model around the same step, fitted on the same cross-validation fold —
would otherwise estimate the population parameters (EM) and every row's posterior twice (the
default's two differ: its Cox model's prior mean has baseline covariates). Entries are keyed
by the *content* of the rows' marker histories (a hash of the arrays), never by object
identity: another fold, bootstrap replicate or cohort is another key, so nothing fitted on one
training set reaches another. Both
computations are deterministic, so a hit returns exactly what a recomputation would.
A few entries are kept (least recently used first out); threads may share it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

MAX_ENTRIES = 256  # a 5-fold CV keeps 3 per fold and landmark model (fit, its rows, the held-out
# rows) + the final fit: 18 per fold with 6 separate landmark models (`by_landmark`)
MAX_BYTES = 256 * 2**20  # and at most this much feature data (about 2.5 M rows' posteriors)
_LOCK = threading.Lock()
_ENTRIES: OrderedDict = OrderedDict()


def digest(*arrays) -> str:
    """A hash of the arrays' dtypes, shapes and bytes."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def history_digest(h) -> str:
    """The rows' histories, the chimerism rule they were read with and, when read with them,
    their baseline covariates."""
    extra = () if h.covariates is None else (h.covariates,)
    return digest(h.t, h.y, h.observed, h.censored, h.marker, h.landmark,
                  _rule(h.chimerism_limit), *extra)


def params_digest(p) -> str:
    """The population parameters and their chimerism rule, with the covariates' effects and
    standardisation if any."""
    extra = () if not p.covariates else (np.array(p.covariates), p.B, p.cov_mean, p.cov_scale)
    return digest(p.mu, p.D, p.sigma2, np.array(p.markers), _rule(p.chimerism_limit), *extra)


def _rule(chimerism_limit: float | None) -> np.ndarray:
    """The chimerism rule as an array to hash (NaN: full donor chimerism read as exact)."""
    return np.array([np.nan if chimerism_limit is None else chimerism_limit])


def _nbytes(value) -> int:
    if isinstance(value, dict):
        return sum(np.asarray(v).nbytes for v in value.values())
    return 0


def cached(key: tuple, compute: Callable):
    """``compute()`` once per ``key`` while the entry stays in the cache."""
    with _LOCK:
        if key in _ENTRIES:
            _ENTRIES.move_to_end(key)
            return _ENTRIES[key]
    value = compute()
    with _LOCK:
        _ENTRIES[key] = value
        _ENTRIES.move_to_end(key)
        total = sum(_nbytes(v) for v in _ENTRIES.values())
        while len(_ENTRIES) > 1 and (len(_ENTRIES) > MAX_ENTRIES or total > MAX_BYTES):
            _, old = _ENTRIES.popitem(last=False)
            total -= _nbytes(old)
    return value


def clear() -> None:
    with _LOCK:
        _ENTRIES.clear()


def size() -> int:
    with _LOCK:
        return len(_ENTRIES)
