"""Jackknife pseudo-observations of the Aalen–Johansen incidence at a horizon.

θ_i = n F̂(τ) − (n − 1) F̂_(−i)(τ) (Andersen & Perme 2010): an outcome per patient
whose mean given x is F(τ | x) under independent censoring, so it can be regressed
on predictions (calibration slope, smoothed calibration curve).
"""

from __future__ import annotations

import numpy as np


def leave_one_out_incidence(time, event, tau: float, cause: int = 1, weight=None) -> np.ndarray:
    """F̂_(−i)(τ) for every i: the Aalen–Johansen incidence of ``cause`` without patient i.

    O(n + m) for m event times: removing i lowers the number at risk by one at the
    event times up to T_i (index P, the last one ≤ T_i) and, if i had an event at
    T_i, that time's event counts; after P the hazards are unchanged, so
    F̂_(−i)(τ) = F'(<P) + S'(<P) · (h1_i(P) + (1 − h_i(P)) · C(P)), where the primes
    use n − 1 at risk and C(P) is the incidence accrued after P given event-free at P.
    weight: frequency weight of each row (default 1): the data are the rows repeated that
        many times and one copy of row i is left out (a bootstrap replicate's counts).
    """
    return LeaveOneOut(time, event, tau, cause).incidence(weight)


class LeaveOneOut:
    """The sorting part of `leave_one_out_incidence`, done once for many weightings."""

    def __init__(self, time, event, tau: float, cause: int = 1):
        time = np.asarray(time, dtype=float)
        event = np.asarray(event, dtype=int)
        self.time, self.tau = time, float(tau)
        self.grid = np.unique(time[(event != 0) & (time <= tau)])
        order = np.argsort(time, kind="stable")
        self.order = order
        # rows with time < each grid time are the first `before` ones in time order
        self.before = np.searchsorted(time[order], self.grid, side="left")
        pos = np.searchsorted(self.grid, time)
        on_grid = (time <= tau) & (event != 0)
        self.pos_event, self.event_rows = pos[on_grid], np.flatnonzero(on_grid)
        self.cause_rows = event[on_grid] == cause
        self.last = np.searchsorted(self.grid, time, side="right") - 1  # P: last grid time <= T_i
        seen = self.last >= 0
        self.seen = seen
        p = self.last[seen]
        self.own = (self.grid[p] == time[seen]) & (event[seen] != 0)
        self.own_cause = self.own & (event[seen] == cause)

    def incidence(self, weight=None) -> np.ndarray:
        """F̂_(−i)(τ) for every row under frequency weights ``weight`` (default 1)."""
        m = self.grid.size
        if m == 0:
            return np.zeros(self.time.size)
        w = np.ones(self.time.size) if weight is None else np.asarray(weight, dtype=float)
        total = w.sum()
        n = total - np.r_[0.0, np.cumsum(w[self.order])][self.before]
        we = w[self.event_rows]
        d = np.bincount(self.pos_event, weights=we, minlength=m)
        d1 = np.bincount(self.pos_event[self.cause_rows], weights=we[self.cause_rows], minlength=m)
        h = np.divide(d, n, out=np.zeros(m), where=n > 0)
        h1 = np.divide(d1, n, out=np.zeros(m), where=n > 0)
        # C[P] = incidence accrued after grid[P] given event-free just after it (C[m-1] = 0)
        c = np.zeros(m)
        for j in range(m - 2, -1, -1):
            c[j] = h1[j + 1] + (1.0 - h[j + 1]) * c[j + 1]
        # with one fewer at risk at every earlier time (i is present before P)
        n_minus = n - 1.0
        ok = n_minus > 1e-9
        hm = np.divide(d, n_minus, out=np.zeros(m), where=ok)
        h1m = np.divide(d1, n_minus, out=np.zeros(m), where=ok)
        surv_before = np.r_[1.0, np.cumprod(1.0 - hm)]
        inc_before = np.r_[0.0, np.cumsum(surv_before[:-1] * h1m)]

        out = np.full(self.time.size, h1[0] + (1.0 - h[0]) * c[0])  # P = -1: i never at risk
        p, own, own_cause = self.last[self.seen], self.own, self.own_cause
        nm, okp = n_minus[p], ok[p]
        hi = np.divide(d[p] - own, nm, out=np.zeros(p.size), where=okp)
        h1i = np.divide(d1[p] - own_cause, nm, out=np.zeros(p.size), where=okp)
        out[self.seen] = inc_before[p] + surv_before[p] * (h1i + (1.0 - hi) * c[p])
        return out

    def pseudo(self, weight=None) -> np.ndarray:
        """Jackknife pseudo-observations of F_cause(τ) under frequency weights ``weight``."""
        total = float(self.time.size if weight is None else np.sum(weight))
        loo = self.incidence(weight)
        full = self.full_incidence(weight)
        return total * full - (total - 1) * loo

    def full_incidence(self, weight=None) -> float:
        """F̂(τ) of all rows (weighted), the Aalen–Johansen estimate."""
        from relapse_ml.models.aalen_johansen import incidence_steps

        m = self.grid.size
        if m == 0:
            return 0.0
        w = np.ones(self.time.size) if weight is None else np.asarray(weight, dtype=float)
        n = w.sum() - np.r_[0.0, np.cumsum(w[self.order])][self.before]
        we = w[self.event_rows]
        d = np.bincount(self.pos_event, weights=we, minlength=m)
        d1 = np.bincount(self.pos_event[self.cause_rows], weights=we[self.cause_rows], minlength=m)
        f1, _ = incidence_steps(n, d1, d - d1)
        return float(f1[-1])


def pseudo_observations(time, event, tau: float, cause: int = 1) -> np.ndarray:
    """Jackknife pseudo-observations θ_i of F_cause(τ) (they may fall outside [0, 1])."""
    from relapse_ml.models.aalen_johansen import aalen_johansen

    n = np.asarray(time).size
    full = float(aalen_johansen(time, event, [tau], cause=cause)[0])
    return n * full - (n - 1) * leave_one_out_incidence(time, event, tau, cause)
