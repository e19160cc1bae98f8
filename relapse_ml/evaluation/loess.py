"""Local-linear smoothing (loess of degree 1, tricube weights) of points sorted once.

`BlockSmoother` gives `calibration.smooth_sorted`'s curve for many weightings of the same
sorted x (bootstrap replicates' counts) without a pass over each window: on each side of a
point a the tricube weight (1 − |u|³)³, u = (x − a)/s, is a polynomial of degree 9 in u, so
a window's weighted sums Σ c w u^q (and Σ c w y u^q) follow from power sums of blocks of
consecutive points about each block's centre (binomial shift to a; every block wholly inside
one side of the window has width below s and |centre − a| below s, so the shift is stable).
Only the blocks cut by the window's ends or by a are summed point by point.
"""

from __future__ import annotations

from math import comb

import numpy as np

DEGREE = 12  # u^0 .. u^11: tricube (degree 9) times u^2
# tricube on the left of a (u < 0): (1 + u³)³; on the right: (1 − u³)³, as {power: coefficient}
_LEFT = {0: 1.0, 3: 3.0, 6: 3.0, 9: 1.0}
_RIGHT = {0: 1.0, 3: -3.0, 6: 3.0, 9: -1.0}


def _shift_matrix() -> np.ndarray:
    """K with (G.reshape(144) @ K)[m] = Σ_j C(m, j) G[m − j, j]: the moments of u = δ/s + A
    from G[i, j] = Σ A^i (δ/s)^j."""
    K = np.zeros((DEGREE * DEGREE, DEGREE))
    for m in range(DEGREE):
        for j in range(m + 1):
            K[(m - j) * DEGREE + j, m] = comb(m, j)
    return K


def _tricube_matrix(coef: dict[int, float], n_q: int) -> np.ndarray:
    """T with (M @ T)[q] = Σ_t coef_t M[t + q]: Σ c w u^q from the moments M[m] = Σ c u^m."""
    T = np.zeros((DEGREE, n_q))
    for q in range(n_q):
        for power, c in coef.items():
            T[power + q, q] = c
    return T


_K = _shift_matrix()
_T = {side: (_tricube_matrix(c, 3), _tricube_matrix(c, 2)) for side, c in
      (("left", _LEFT), ("right", _RIGHT))}


class BlockSmoother:
    """`smooth_sorted` of points at sorted ``xs`` for many count vectors and responses."""

    def __init__(self, xs: np.ndarray, block: int | None = None):
        xs = np.asarray(xs, dtype=float)
        if block is None:  # whole blocks against cut ones: ~512 points at n = 100,000
            block = int(np.clip(round(1.6 * np.sqrt(xs.size)), 16, 1024))
        self.xs, self.B = xs, block
        n = xs.size
        self.n_blocks = nb = -(-n // block)
        first = np.arange(nb) * block
        last = np.minimum(first + block, n) - 1
        self.center = 0.5 * (xs[first] + xs[last])
        delta = np.zeros(nb * block)
        delta[:n] = xs - np.repeat(self.center, block)[:n]
        self.powers = delta[:, None] ** np.arange(DEGREE)[None, :]  # (nb * B, DEGREE)

    def smooth(self, ys, counts, at, span: float = 0.75) -> np.ndarray:
        """The local-linear smooth of ``ys`` at ``at`` with point i counted ``counts[i]`` times
        (as `calibration.smooth_sorted`, up to rounding)."""
        xs, B, nb = self.xs, self.B, self.n_blocks
        n = xs.size
        c = np.zeros(nb * B)
        c[:n] = counts
        cy = np.zeros(nb * B)
        cy[:n] = counts * ys
        # power sums of each block about its centre: counts and counts * y, (nb, 2 * DEGREE)
        weights = np.stack([c.reshape(nb, B), cy.reshape(nb, B)], axis=1)  # (nb, 2, B)
        PQ = np.matmul(weights, self.powers.reshape(nb, B, DEGREE)).reshape(nb, 2 * DEGREE)
        at = np.asarray(at, dtype=float)
        g = at.size
        scale = _window_scale(xs, counts, at, span)
        lo = np.searchsorted(xs, at - scale, side="right")
        mid = np.searchsorted(xs, at, side="left")
        hi = np.searchsorted(xs, at + scale, side="left")
        S = np.zeros((g, 3))
        Y = np.zeros((g, 2))
        inv_s = scale[:, None] ** -np.arange(DEGREE)[None, :]  # (g, DEGREE)
        A = (self.center[None, :] - at[:, None]) / scale[:, None]  # (g, nb)
        Apow = np.empty((g, DEGREE, nb))
        Apow[:, 0] = 1.0
        for i in range(1, DEGREE):
            Apow[:, i] = Apow[:, i - 1] * A
        blocks = np.arange(nb)[None, :]
        partial = []
        for side, r0, r1 in (("left", lo, mid), ("right", mid, hi)):
            f0, f1 = -(-r0 // B), r1 // B  # whole blocks f0 .. f1 - 1
            inside = (blocks >= f0[:, None]) & (blocks < f1[:, None])
            G = ((Apow * inside[:, None, :]).reshape(g * DEGREE, nb) @ PQ).reshape(
                g, DEGREE, 2, DEGREE) * inv_s[:, None, None, :]
            S += (G[:, :, 0, :].reshape(g, -1) @ _K) @ _T[side][0]
            Y += (G[:, :, 1, :].reshape(g, -1) @ _K) @ _T[side][1]
            end_a = np.minimum(np.maximum(f0 * B, r0), r1)
            start_b = np.maximum(np.minimum(f1 * B, r1), end_a)
            partial += [(r0, end_a), (start_b, r1)]
        # the cut blocks, point by point
        offsets = np.arange(B)[None, :]
        for start, stop in partial:
            idx = start[:, None] + offsets
            ok = idx < stop[:, None]
            idx = np.where(ok, idx, 0)
            u = (xs[idx] - at[:, None]) / scale[:, None]
            w = 1.0 - np.abs(u) ** 3
            w = np.where(ok, w * w * w, 0.0) * c[idx]
            wy = w * ys[idx]
            S += np.stack([w.sum(axis=1), (w * u).sum(axis=1), (w * u * u).sum(axis=1)], axis=1)
            Y += np.stack([wy.sum(axis=1), (wy * u).sum(axis=1)], axis=1)
        s0, s1, s2 = S.T
        y0, y1 = Y.T
        mu = s1 / s0
        suu = s2 - s1 * mu
        my = y0 / s0
        ok = scale**2 * suu > 1e-12 * s0
        slope = np.where(ok, (y1 - mu * y0) / np.where(ok, suu, 1.0), 0.0)
        return my - slope * mu


def window_starts(xe: np.ndarray, at: np.ndarray, span: float) -> tuple[int, np.ndarray]:
    """Loess windows on the sorted points ``xe``: ``k = ⌈span · n⌉`` (at least 3, at most n)
    and, for each of ``at``, the first of its k nearest points (the window xe[start:start+k])."""
    n = xe.size
    k = min(n, max(3, int(np.ceil(span * n))))
    if k < n:
        start = np.searchsorted(xe[k:] + xe[: n - k], 2.0 * at, side="left")
    else:
        start = np.zeros(at.size, dtype=int)
    return k, start


def _window_scale(xs, counts, at, span: float) -> np.ndarray:
    """Each point's window half-width: the distance to its k-th nearest of the repeated points
    (k = ⌈span · n⌉), times 1.000001 (as `calibration.smooth_sorted`)."""
    keep = counts > 0
    xe = np.repeat(xs[keep], np.asarray(counts[keep]).astype(np.int64))
    k, start = window_starts(xe, at, span)
    radius = np.maximum(at - xe[start], xe[start + k - 1] - at)
    return radius * 1.000001 + 1e-300
