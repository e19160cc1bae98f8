"""Jackknife pseudo-observations of the Aalen–Johansen incidence at a horizon.

θ_i = n F̂(τ) − (n − 1) F̂_(−i)(τ) (Andersen & Perme 2010): an outcome per patient
whose mean given x is F(τ | x) under independent censoring, so it can be regressed
on predictions (calibration slope, smoothed calibration curve).
"""

from __future__ import annotations

import numpy as np


def leave_one_out_incidence(time, event, tau: float, cause: int = 1) -> np.ndarray:
    """F̂_(−i)(τ) for every i: the Aalen–Johansen incidence of ``cause`` without patient i.

    O(n + m) for m event times: removing i lowers the number at risk by one at the
    event times up to T_i (index P, the last one ≤ T_i) and, if i had an event at
    T_i, that time's event counts; after P the hazards are unchanged, so
    F̂_(−i)(τ) = F'(<P) + S'(<P) · (h1_i(P) + (1 − h_i(P)) · C(P)), where the primes
    use n − 1 at risk and C(P) is the incidence accrued after P given event-free at P.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=int)
    grid = np.unique(time[(event != 0) & (time <= tau)])
    if grid.size == 0:
        return np.zeros(time.size)
    n = (time.size - np.searchsorted(np.sort(time), grid, side="left")).astype(float)
    pos = np.searchsorted(grid, time)
    on_grid = (time <= tau) & (event != 0)
    d = np.bincount(pos[on_grid], minlength=grid.size).astype(float)
    d1 = np.bincount(pos[on_grid & (event == cause)], minlength=grid.size).astype(float)

    h, h1 = d / n, d1 / n
    # C[P] = incidence accrued after grid[P] given event-free just after it (C[m-1] = 0)
    c = np.zeros(grid.size)
    for j in range(grid.size - 2, -1, -1):
        c[j] = h1[j + 1] + (1.0 - h[j + 1]) * c[j + 1]
    # with one fewer at risk at every earlier time (i is present before P)
    n_minus = n - 1.0
    hm = np.divide(d, n_minus, out=np.zeros(grid.size), where=n_minus > 0)
    h1m = np.divide(d1, n_minus, out=np.zeros(grid.size), where=n_minus > 0)
    surv_before = np.r_[1.0, np.cumprod(1.0 - hm)]
    inc_before = np.r_[0.0, np.cumsum(surv_before[:-1] * h1m)]

    last = np.searchsorted(grid, time, side="right") - 1  # P: last event time <= T_i
    out = np.full(time.size, h1[0] + (1.0 - h[0]) * c[0])  # P = -1: i never at risk
    seen = last >= 0
    p = last[seen]
    own = (grid[p] == time[seen]) & (event[seen] != 0)
    own_cause = own & (event[seen] == cause)
    hi = np.divide(d[p] - own, n_minus[p], out=np.zeros(p.size), where=n_minus[p] > 0)
    h1i = np.divide(d1[p] - own_cause, n_minus[p], out=np.zeros(p.size), where=n_minus[p] > 0)
    out[seen] = inc_before[p] + surv_before[p] * (h1i + (1.0 - hi) * c[p])
    return out


def pseudo_observations(time, event, tau: float, cause: int = 1) -> np.ndarray:
    """Jackknife pseudo-observations θ_i of F_cause(τ) (they may fall outside [0, 1])."""
    from relapse_ml.models.aalen_johansen import aalen_johansen

    n = np.asarray(time).size
    full = float(aalen_johansen(time, event, [tau], cause=cause)[0])
    return n * full - (n - 1) * leave_one_out_incidence(time, event, tau, cause)
