"""`evaluate`'s scalar metrics of many bootstrap replicates of one data set, by frequency weights.

A bootstrap replicate of patients repeats each row as many times as its patient was drawn.
Every metric of `evaluate` (with the same rows as training and test data, as the pooled
out-of-fold evaluation of `cross_validate` uses it) is a sum over rows or pairs of rows, so the
replicate's value is the same sum with each row weighted by its count. `PooledReplicates`
sorts the data once (risks at each time, times, cloglog predictions) and evaluates a replicate
from its counts: no re-sorting of resampled rows. A replicate whose follow-up ends before the
last evaluation time (evaluate would drop times there) returns None: the caller evaluates it
on its rows (`crossval`).
"""

from __future__ import annotations

import numpy as np

from relapse_ml.evaluation._inputs import check_outcome, check_prediction, check_times
from relapse_ml.evaluation.auc import AUCPairs
from relapse_ml.evaluation.calibration import (
    calibration_errors_sorted,
    calibration_glms,
    cloglog,
)
from relapse_ml.evaluation.concordance import Concordance
from relapse_ml.evaluation.ipcw import _safe_inverse, censoring_km_counts
from relapse_ml.evaluation.loess import BlockSmoother
from relapse_ml.evaluation.pseudo import LeaveOneOut
from relapse_ml.evaluation.scoring import _integrate, accuracy_metrics


class PooledReplicates:
    """Scalar metrics of ``evaluate(t, e, t, e, cif, times, tau, cause, null_cif=null)`` for
    frequency weights of the rows (`metrics`)."""

    def __init__(self, time, event, cif, null_cif, times, tau: float, cause: int = 1, *,
                 at_event: str = "before", tied_tol: float = 1e-8, span: float = 0.75,
                 n_grid: int = 100):
        t, e = check_outcome(time, event, "test")
        grid = check_times(times)
        cif = check_prediction(cif, t.size, grid.size)
        null = check_prediction(null_cif, t.size, grid.size)
        if at_event not in ("before", "at"):
            raise ValueError(f"at_event must be 'before' or 'at', got {at_event!r}")
        self.t, self.e, self.grid, self.cause = t, e, grid, cause
        self.k = int(np.flatnonzero(np.isclose(grid, tau))[0])
        self.tau = float(grid[self.k])
        self.span, self.n_grid = span, n_grid
        # censoring Kaplan–Meier: the distinct times once; G(T−) or G(T) of each row
        self.ut, inverse = np.unique(t, return_inverse=True)
        self.inverse = inverse.ravel()
        self.g_row = self.inverse if at_event == "before" else self.inverse + 1
        self.g_grid = np.searchsorted(self.ut, grid, side="right")
        # Brier: IPCW weight of row i at time k is had_event w_event_i + event_free w_tau_k
        had_event = (e != 0)[:, None] & (t[:, None] <= grid[None, :])
        event_free = t[:, None] > grid[None, :]
        observed = (t[:, None] <= grid[None, :]) & (e[:, None] == cause)
        sq, sq_null = np.square(observed - cif), np.square(observed - null)
        self.brier_parts = [(had_event * s, event_free * s) for s in (sq, sq_null)]
        # AUC at each time: cases against the controls still event-free (all weighing 1/G(t):
        # their sums take the counts alone) and those who died of the other cause (1/G(T−)),
        # each pair set sorted by risk once; rows kept in the sorted orders
        competing = (e != 0) & (e != cause)
        self.auc = []
        for k, g in enumerate(grid):
            case = np.flatnonzero((t <= g) & (e == cause))
            parts = []
            for control in (np.flatnonzero(t > g), np.flatnonzero((t <= g) & competing)):
                pairs = AUCPairs(cif[case, k], cif[control, k], tied_tol)
                parts.append((pairs, case[pairs.case_order], control[pairs.control_order]))
            self.auc.append(parts)
        from relapse_ml.models.aalen_johansen import AalenJohansenCounts

        self.aj = AalenJohansenCounts(t, e)
        # C-index, pseudo-observations, calibration at tau
        self.risk = risk = cif[:, self.k]
        self.concordance = Concordance(t, e, risk, self.tau, cause, tied_tol)
        self.loo = LeaveOneOut(t, e, self.tau, cause)
        self.x = cloglog(risk)
        self.by_x = np.argsort(self.x, kind="stable")
        self.smoother = BlockSmoother(self.x[self.by_x])
        self.n_cases_tau = (t <= self.tau) & (e == cause)

    def metrics(self, counts) -> dict[str, float] | None:
        """The scalar metrics with row i counted ``counts[i]`` times (None: evaluate the
        replicate's rows instead, its follow-up ends before the last evaluation time)."""
        return self.metrics_batch(np.asarray(counts)[None, :])[0]

    def metrics_batch(self, counts) -> list[dict[str, float] | None]:
        """`metrics` of each row of ``counts`` (R, n); the pairwise sums run on all at once."""
        t, e, grid, k = self.t, self.e, self.grid, self.k
        counts = np.asarray(counts, dtype=float)
        out: list[dict[str, float] | None] = [None] * counts.shape[0]
        ok = [r for r, c in enumerate(counts) if c.any() and grid[-1] < t[c > 0].max()]
        if not ok:
            return out
        C = counts[ok]
        n = C.sum(axis=1)
        W_event = np.empty_like(C)
        W_tau = np.empty((len(ok), grid.size))
        for r, c in enumerate(C):
            surv = np.r_[1.0, censoring_km_counts(self.ut, self.inverse, e == 0, c).survival_]
            W_event[r], W_tau[r] = _safe_inverse(surv[self.g_row]), _safe_inverse(surv[self.g_grid])
        CW = C * W_event
        brier = [(CW @ a + W_tau * (C @ b)) / n[:, None] for a, b in self.brier_parts]
        # the pairwise sums, one column per replicate
        CT, WT = np.ascontiguousarray(C.T), np.ascontiguousarray(W_event.T)
        CWT = CT * WT
        auc = np.full((len(ok), grid.size), np.nan)
        for j, ((free, case_s, free_s), (died, _, died_s)) in enumerate(self.auc):
            if case_s.size == 0:
                continue
            w_case = CWT[case_s]
            conc_free, case_total, free_total = free.sums_sorted(w_case, CT[free_s])
            conc_died, _, died_total = died.sums_sorted(w_case, CWT[died_s])
            control_total = W_tau[:, j] * free_total + died_total
            defined = (case_total > 0) & (control_total > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = (W_tau[:, j] * conc_free + conc_died) / (case_total * control_total)
            auc[:, j] = np.where(defined, value, np.nan)
        c_plain, c_ipcw = self.concordance.values([np.ones((t.size, 1)), WT], count=CT)

        for r, c in enumerate(C):
            theta = self.loo.pseudo(c)
            keep = c > 0
            slope = calibration_glms(theta[keep], self.x[keep], c[keep])
            o = self.by_x
            errors = calibration_errors_sorted(self.risk[o], self.x[o], theta[o], c[o],
                                               span=self.span, n_grid=self.n_grid,
                                               smoother=self.smoother)
            b, b0 = brier[0][r], brier[1][r]
            ibs, null_ibs = _integrate(b, grid), _integrate(b0, grid)
            result = {
                "tau": self.tau,
                "n_test": n[r],
                "n_cases_tau": float(np.sum(c[self.n_cases_tau])),
                "c_index": c_plain[r],
                "c_index_ipcw": c_ipcw[r],
                **accuracy_metrics(auc[r, k], self._mean_auc(auc[r], c), b[k], b0[k], ibs,
                                   null_ibs, slope),
                **errors,
            }
            out[ok[r]] = {key: float(value) for key, value in result.items()}
        return out

    def _mean_auc(self, auc: np.ndarray, c: np.ndarray) -> float:
        """`auc._mean_auc` on the weighted rows: AUC(t) weighted by Aalen–Johansen increments."""
        if auc.size == 1:
            return float(auc[0])
        from relapse_ml.incidence import step_at

        times, f1, f2 = self.aj.table(c)
        incidence = step_at(times, f1 if self.cause == 1 else f2, self.grid)
        increments = np.diff(np.r_[0.0, incidence])
        ok = ~np.isnan(auc)
        total = increments[ok].sum()
        return float(np.sum(auc[ok] * increments[ok]) / total) if total > 0 else np.nan
