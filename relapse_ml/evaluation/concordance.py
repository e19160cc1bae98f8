"""Concordance index for competing risks (Wolbers et al. 2009), plain and IPCW.

Pair (i, j) is comparable when i has the ``cause`` event at T_i ≤ tau and j is known
to be free of it at T_i: T_j > T_i, or j censored at T_j = T_i (as scikit-survival),
or j had another cause's event at T_j ≤ T_i. Concordant when r_i > r_j; tied risks
(r_j within [r_i − tied_tol, r_i + tied_tol], as in the AUC) count ½. The IPCW version
weighs a pair 1/G(T_i−)² when j is still under observation at T_i (Uno; scikit-survival's
``concordance_index_ipcw``) and 1/(G(T_i−) G(T_j−)) when j had a competing event first (both times must be observed).

Computed in O(n log² n) without forming pairs (`_concordance`); `_concordance_pairs`
keeps the O(n²) pair-matrix definition as the reference the tests compare against.
"""

from __future__ import annotations

import warnings

import numpy as np

from relapse_ml.errors import RelapseMLError
from relapse_ml.evaluation._inputs import check_outcome, warn_beyond_follow_up
from relapse_ml.evaluation.ipcw import _safe_inverse, censoring_km
from relapse_ml.evaluation.times import EvaluationWarning

_BLOCK = 512  # cases per block: bounds memory at _BLOCK x n pair matrices


def concordance_index_wolbers(
    time, event, risk, tau: float | None = None, cause: int = 1, *, tied_tol: float = 1e-8
) -> float:
    """Wolbers' C-index truncated at ``tau`` (None: no truncation), unweighted.

    risk: one score per patient, higher = earlier ``cause`` event (e.g. the CIF at tau).
    """
    t, e = check_outcome(time, event, "test")
    return _concordance(t, e, _check_risk(risk, t.size), tau, cause, np.ones(t.size), tied_tol)


def concordance_index_ipcw(
    time_train,
    event_train,
    time_test,
    event_test,
    risk,
    tau: float | None = None,
    cause: int = 1,
    *,
    tied_tol: float = 1e-8,
    at_event: str = "before",
) -> float:
    """Wolbers' C-index with inverse probability of censoring weights (G from the training data).

    at_event: "before" reads G at T− (methods notes); "at" reads it at T, as
        scikit-survival does (they differ only on ties of events with censorings).
    """
    return concordance_indices(time_train, event_train, time_test, event_test, risk, tau, cause,
                               tied_tol=tied_tol, at_event=at_event, plain=False)["c_index_ipcw"]


def concordance_indices(
    time_train,
    event_train,
    time_test,
    event_test,
    risk,
    tau: float | None = None,
    cause: int = 1,
    *,
    tied_tol: float = 1e-8,
    at_event: str = "before",
    plain: bool = True,
) -> dict[str, float]:
    """``c_index`` (unweighted, unless ``plain`` is False) and ``c_index_ipcw`` in one pass."""
    t_train, e_train = check_outcome(time_train, event_train, "train")
    t, e = check_outcome(time_test, event_test, "test")
    if tau is not None:
        warn_beyond_follow_up(np.array([float(tau)]), t_train, t)
    G = censoring_km(t_train, e_train)
    if at_event not in ("before", "at"):
        raise ValueError(f"at_event must be 'before' or 'at', got {at_event!r}")
    w = _safe_inverse(G.before(t) if at_event == "before" else G.at(t))
    weights = [np.ones(t.size), w] if plain else [w]
    values = _concordances(t, e, _check_risk(risk, t.size), tau, cause, weights, tied_tol)
    return dict(zip(["c_index", "c_index_ipcw"][-len(values) :], values, strict=True))


def _check_risk(risk, n: int) -> np.ndarray:
    r = np.asarray(risk, dtype=float).ravel()
    if r.size != n or not np.all(np.isfinite(r)):
        raise RelapseMLError(f"risk must hold {n} finite values (one per test patient).")
    return r


def _concordance(t, e, r, tau, cause, w, tied_tol) -> float:
    """Σ_pairs w (1{r_i > r_j} + ½ tie) / Σ_pairs w over comparable pairs (i a case)."""
    return _concordances(t, e, r, tau, cause, [w], tied_tol)[0]


def _concordances(t, e, r, tau, cause, weights, tied_tol) -> list[float]:
    """The C-index under each weighting in ``weights`` (one per patient), sharing the counts."""
    return Concordance(t, e, r, tau, cause, tied_tol).values(weights)


class Concordance:
    """Comparable-pair sums of the C-index, sorted once for many weightings (`values`).

    O(n log² n): every case's sums over its comparable partners are weighted counts of
    points below a threshold in two orders at once (time and risk), `DominanceIndex`.
    The at-risk partners' weight w_i² depends on the case only, so their plain counts serve
    every weighting; a case of weight 0 contributes nothing (as if left out).
    Ties in risk: r_j within [r_i − tied_tol, r_i + tied_tol] (as the AUC's).
    """

    def __init__(self, t, e, r, tau, cause, tied_tol):
        horizon = np.inf if tau is None else float(tau)
        self.cases = cases = np.flatnonzero((e == cause) & (t <= horizon))
        self.competing = competing = np.flatnonzero((e != 0) & (e != cause))
        u = np.unique(t, return_inverse=True)[1].ravel()  # time ranks, ties equal
        order = np.argsort(r)  # any order of tied risks: thresholds are found by value
        rank = np.empty(r.size, dtype=np.int64)
        rank[order] = np.arange(r.size)
        r_sorted = r[order]
        # per case: partners with r_j < r_i − tol (lo) and with r_j ≤ r_i + tol (hi), in ranks
        lo = np.searchsorted(r_sorted, r[cases] - tied_tol, side="left")
        hi = np.searchsorted(r_sorted, r[cases] + tied_tol, side="right")
        thresholds = np.r_[lo, hi, np.full(cases.size, r.size)]
        # j still at risk after T_i: T_j > T_i, or censored at T_j = T_i. With key 2u +
        # (censored), that is key_j > 2u_i; the position max_key − key_j < max_key − 2u_i
        # orders it "below".
        key = 2 * u + (e == 0)
        top = int(key.max()) + 1 if key.size else 1
        self.at_risk = DominanceIndex(top - key, rank, np.tile(top - 2 * u[cases], 3), thresholds)
        # j had a competing event at T_j ≤ T_i, weighted w_j (one column per weighting)
        self.competed = DominanceIndex(u[competing], rank[competing], np.tile(u[cases] + 1, 3),
                                       thresholds)
        self.n = t.size

    def values(self, weights, count=None) -> list:
        """The C-index under each weighting (one weight per row); ``count``: frequency weight
        of each row (a bootstrap replicate's counts), default 1. Weights and count may be
        ``(n, R)``, one column per replicate: each value is then an array of R."""
        cases, competing = self.cases, self.competing
        batch = count is not None and np.ndim(count) == 2
        c = np.ones((self.n, 1)) if count is None else np.asarray(count, dtype=float)
        c = c if c.ndim == 2 else c[:, None]
        w = [np.asarray(x, dtype=float) for x in weights]
        w = [x if x.ndim == 2 else x[:, None] for x in w]
        n_rep = c.shape[1]
        # whole counts sum exactly in float32 (below 2**24): half the memory traffic
        exact32 = c.sum() < 2**24 and np.array_equal(c, np.round(c))
        at_risk = self.at_risk.sums(c, np.float32 if exact32 else float)
        at_risk = at_risk.astype(float).reshape(3, cases.size, n_rep)
        stacked = np.concatenate([x[competing] * c[competing] for x in w], axis=1)
        competed = self.competed.sums(stacked).reshape(3, cases.size, len(w), n_rep)
        values = []
        for k, wk in enumerate(w):
            wi = wk[cases]
            below, tied_or_below, every = (wi * wi * at_risk + wi * competed[:, :, k]) * c[cases]
            numerator = np.sum(below + 0.5 * (tied_or_below - below), axis=0)
            denominator = np.sum(every, axis=0)
            if np.any(denominator == 0) and not batch:
                warnings.warn(
                    "C-index undefined: no relapse before the horizon with someone known to be "
                    "relapse-free at that time (returning NaN).",
                    EvaluationWarning,
                    stacklevel=5,
                )
            with np.errstate(invalid="ignore", divide="ignore"):
                value = np.where(denominator == 0, np.nan, numerator / denominator)
            values.append(value if batch else float(value[0]))
        return values


def _dominance_sums(pos, rank, weight, q_pos, q_rank) -> np.ndarray:
    """For each query k: Σ weight_j over points j with pos_j < q_pos[k] and rank_j < q_rank[k].

    pos, q_pos: non-negative integers; rank, q_rank: integers ≥ 0; weight: (n,) or (n, m)
    (then the result is (n_queries, m)). See `DominanceIndex`.
    """
    return DominanceIndex(pos, rank, q_pos, q_rank).sums(weight)


class DominanceIndex:
    """The sorting part of `_dominance_sums`, done once for many weightings of the points.

    The rank range [0, q) splits into dyadic blocks, one per set bit of q; at each level the
    points sorted by (block, pos) (a stable radix sort by block of the points sorted by pos)
    answer "pos < q_pos inside this block" with one binary search. `sums` then costs a
    cumulative sum per level.
    """

    def __init__(self, pos, rank, q_pos, q_rank):
        pos = np.asarray(pos, dtype=np.int64)
        rank = np.asarray(rank, dtype=np.int64)
        q_pos = np.asarray(q_pos, dtype=np.int64)
        q_rank = np.asarray(q_rank, dtype=np.int64)
        self.n_queries = q_pos.size
        self.levels = []  # per level: (points in (block, pos) order, query ids, start, end)
        if pos.size == 0 or q_pos.size == 0:
            return
        # queries in (rank, pos) order: each level's binary searches then run in key order
        by_query = np.lexsort((q_pos, q_rank))
        q_pos, q_rank = q_pos[by_query], q_rank[by_query]
        stride = int(max(pos.max(), q_pos.max())) + 1
        by_pos = np.argsort(_small(pos, stride), kind="stable")
        pos_sorted, rank_by_pos = pos[by_pos], rank[by_pos]
        level = 0
        while (1 << level) <= int(q_rank.max()):
            block = rank_by_pos >> level
            n_blocks = int(block.max()) + 1
            within = np.argsort(_small(block, n_blocks), kind="stable")  # radix: keeps pos order
            keys = block[within] * stride + pos_sorted[within]
            starts = np.r_[0, np.cumsum(np.bincount(block, minlength=n_blocks))]
            q = np.flatnonzero((q_rank >> level) & 1)
            b = (q_rank[q] >> level) - 1
            inside = b < n_blocks
            q, b = q[inside], b[inside]
            end = np.searchsorted(keys, b * stride + q_pos[q], side="left")
            self.levels.append((by_pos[within], by_query[q], starts[b], end))
            level += 1

    def sums(self, weight, dtype=float) -> np.ndarray:
        """Σ weight_j over each query's points; weight (n,) or (n, m) -> (n_queries[, m])."""
        weight = np.asarray(weight, dtype=dtype)
        out = np.zeros((self.n_queries, *weight.shape[1:]), dtype=dtype)
        for points, queries, start, end in self.levels:
            cum = np.concatenate([np.zeros((1, *weight.shape[1:]), dtype=dtype),
                                  np.cumsum(weight[points], axis=0, dtype=dtype)])
            out[queries] += cum[end] - cum[start]
        return out


def _small(values: np.ndarray, bound: int) -> np.ndarray:
    """``values`` (in [0, bound)) as uint16 when they fit: numpy sorts those by radix, O(n)."""
    return values.astype(np.uint16) if bound <= np.iinfo(np.uint16).max else values


def _concordance_pairs(t, e, r, tau, cause, w_case, w_other, tied_tol) -> float:
    """The O(n²) definition, pair matrices by blocks of cases (reference for the tests)."""
    horizon = np.inf if tau is None else float(tau)
    cases = np.flatnonzero((e == cause) & (t <= horizon) & (w_case > 0))
    competing = (e != 0) & (e != cause)
    numerator = denominator = 0.0
    for start in range(0, cases.size, _BLOCK):
        i = cases[start : start + _BLOCK]
        ti, tj = t[i][:, None], t[None, :]
        at_risk = (tj > ti) | ((tj == ti) & (e[None, :] == 0))
        competed = competing[None, :] & (tj <= ti)
        # j observed beyond T_i: Uno's 1/G(T_i−)²; j's competing event first: 1/(G(T_i−) G(T_j−))
        pair_w = np.where(at_risk, w_case[i][:, None], 0.0) + np.where(
            competed, w_other[None, :], 0.0
        )
        pair_w = pair_w * w_case[i][:, None]
        diff = r[i][:, None] - r[None, :]
        score = np.where(np.abs(diff) <= tied_tol, 0.5, (diff > 0).astype(float))
        numerator += float(np.sum(pair_w * score))
        denominator += float(np.sum(pair_w))
    return numerator / denominator if denominator > 0 else np.nan
