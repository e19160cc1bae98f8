"""The Newton–Raphson solver of the (censoring-weighted, stratified) partial likelihood.

One implementation for the linear models: the Fine–Gray fit (Geskus's censoring weights,
`models.fine_gray`), the cause-specific Cox fit (no competing event: weights 1,
`models.cox`) and the penalty search (`models.penalty`, a grid with warm starts).
w_i(t) factors into G(t-) times 1/G(T_i-), so the weighted risk-set sums are cumulative
sums and a Newton–Raphson step costs O(n p^2) (Breslow ties). Rows are sorted by
(stratum, time) once per data set (`SubdistributionProblem`).
"""

from __future__ import annotations

import numpy as np

from relapse_ml.errors import ModelError
from relapse_ml.models.breslow import BreslowBaseline


def fit_subdistribution_hazard(
    Z: np.ndarray,
    time: np.ndarray,
    event: np.ndarray,
    cause: int = 1,
    *,
    penalizer: float = 0.0,
    max_iter: int = 50,
    tol: float = 1e-9,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, BreslowBaseline | dict[float, BreslowBaseline]]:
    """Fine–Gray coefficients and weighted Breslow baseline of ``cause`` (Newton–Raphson).

    penalizer: ridge penalty n * penalizer * |beta|^2 / 2 on the log-likelihood, the
        convention of lifelines, for standardised columns of ``Z``.
    strata: optional stratum label per row (stacked landmarks: the landmark day). Risk
        sets, the censoring weights G (each stratum's own Kaplan–Meier) and the Breslow
        baseline are then each stratum's own, with one coefficient vector for all: the
        stratified model; the baseline comes back as ``{label: BreslowBaseline}``.
    """
    problem = SubdistributionProblem(Z, time, event, cause, strata=strata)
    beta = problem.fit(penalizer, max_iter=max_iter, tol=tol)
    if not np.isfinite(beta).all() or separated(Z, beta):
        raise ModelError(
            "The Fine–Gray fit did not converge (often a feature that separates events "
            "perfectly). Try: 1) a larger penalizer (e.g. 0.1); 2) fewer features."
        )
    return beta, problem.baselines(beta)


# A partial likelihood that keeps rising as coefficients grow (a feature that separates events
# perfectly) has its maximum at infinity; Newton's steps then stop on the plateau, where the
# likelihood changes by less than the tolerance, with a finite but meaningless estimate.
# Whether they stop there or overflow first depends on floating-point details (numpy 2.4
# stopped there). A hazard ratio of e^60 between two patients of the training data is no
# estimate: such a fit is reported as not converged (Fine–Gray and cause-specific Cox alike).
MAX_LP_SPREAD = 60.0


def separated(Z: np.ndarray, beta: np.ndarray) -> bool:
    """Whether the linear predictor spreads more than `MAX_LP_SPREAD` over the rows."""
    eta = np.asarray(Z, dtype=float) @ beta
    return bool(eta.size) and float(np.ptp(eta)) > MAX_LP_SPREAD


class SubdistributionProblem:
    """One data set's rows sorted by (stratum, time) and its risk sets, built once and fitted
    for as many penalties as asked (`models.penalty` fits a grid with warm starts).

    Cause-specific Cox is the case with no competing event (``event`` 0/1, ``cause`` 1).
    """

    def __init__(self, Z, time, event, cause: int = 1, strata=None):
        Z = np.asarray(Z, dtype=float)
        time = np.asarray(time, dtype=float)
        event = np.asarray(event)
        self.n, self.p = Z.shape
        self.stratified = strata is not None
        self.labels, code = (np.zeros(1), np.zeros(self.n, dtype=int)) if strata is None else \
            np.unique(np.asarray(strata, dtype=float), return_inverse=True)
        order = np.lexsort((time, code))  # rows by (stratum, time): risk sets are contiguous
        self.Z, time, event, code = Z[order], time[order], event[order], code[order]
        self.status = event == cause
        competing = (event != 0) & ~self.status
        self.risk_set = _WeightedRiskSet(time, code, self.status, competing, event)
        self.d = self.risk_set.d

    def log_likelihood(self, beta: np.ndarray, ridge: float = 0.0):
        """``(log partial likelihood - ridge |beta|^2 / 2, exp(eta - max), S0)`` at ``beta``."""
        d, status = self.d, self.status
        eta = self.Z @ beta
        shift = eta.max() if self.n else 0.0
        r = np.exp(eta - shift)
        s0 = self.risk_set.sum(r)
        ll = eta[status].sum() - np.sum(d * (np.log(s0) + shift)) - 0.5 * ridge * beta @ beta
        return ll, r, s0

    def fit(self, penalizer: float, beta0: np.ndarray | None = None, max_iter: int = 50,
            tol: float = 1e-9) -> np.ndarray:
        """Ridge coefficients (penalty ``n * penalizer * |beta|^2 / 2``), from ``beta0`` (zeros)."""
        Z, status, d, risk_set, p = self.Z, self.status, self.d, self.risk_set, self.p
        beta = np.zeros(p) if beta0 is None else np.array(beta0, dtype=float)
        if d.size == 0:
            return np.zeros(p)
        ridge = self.n * penalizer
        ll, r, s0 = self.log_likelihood(beta, ridge)
        for _ in range(max_iter):
            if p == 0:
                break
            s1 = risk_set.sum(r[:, None] * Z)  # (n_times, p)
            mean = s1 / s0[:, None]
            grad = Z[status].sum(axis=0) - (d[:, None] * mean).sum(axis=0) - ridge * beta
            # sum_j d_j S2_j / S0_j without an (n_times, p, p) array: per-patient coefficient
            coef = r * risk_set.sum_transpose(d / s0)
            info = _weighted_gram(Z, coef) - (mean * d[:, None]).T @ mean + ridge * np.eye(p)
            try:
                step = np.linalg.solve(info, grad)
            except np.linalg.LinAlgError as err:
                raise ModelError(
                    "The Fine–Gray fit failed (singular information matrix). "
                    "Try: 1) a larger penalizer (e.g. 0.1); 2) dropping collinear features."
                ) from err
            for _halving in range(30):
                new_ll, new_r, new_s0 = self.log_likelihood(beta + step, ridge)
                if np.isfinite(new_ll) and new_ll >= ll - 1e-12:
                    break
                step = step / 2
            beta, converged = beta + step, abs(new_ll - ll) < tol * max(1.0, abs(ll))
            ll, r, s0 = new_ll, new_r, new_s0
            if converged:
                break
        else:
            if p:
                raise ModelError(
                    f"The Fine–Gray fit did not converge in {max_iter} iterations. "
                    "Try: 1) a larger penalizer (e.g. 0.1); 2) fewer features."
                )
        return beta

    def baselines(self, beta: np.ndarray):
        """The weighted Breslow baseline(s) at ``beta`` (``{stratum: ...}`` when stratified)."""
        if self.d.size == 0:
            return _baselines(self.risk_set, self.labels, np.zeros(0), 0.0, self.stratified)
        _, _, s0 = self.log_likelihood(beta)
        offset = float((self.Z @ beta).max()) if self.n else 0.0
        return _baselines(self.risk_set, self.labels, self.d / s0, offset, self.stratified)


def _weighted_gram(Z: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Z' diag(w) Z for w >= 0 by BLAS ``syrk`` (half the flops of a general product)."""
    from scipy.linalg.blas import dsyrk

    zw = Z * np.sqrt(np.maximum(w, 0.0))[:, None]
    upper = dsyrk(1.0, zw.T, trans=0)  # zw.T is Fortran-ordered: no copy; upper triangle
    return np.triu(upper) + np.triu(upper, 1).T


def _baselines(risk_set, labels, increments, offset, stratified):
    """One BreslowBaseline, or ``{stratum label: BreslowBaseline}`` for a stratified fit."""
    out = {}
    for j, label in enumerate(labels):
        m = risk_set.event_stratum == j
        out[float(label)] = BreslowBaseline(risk_set.event_times[m], increments[m], offset)
    return out if stratified else out[float(labels[0])]


class _WeightedRiskSet:
    """Weighted risk-set sums of the subdistribution hazard at the event times u_j.

    sum_l w_l(u_j) v_l over the rows l of u_j's stratum, with w_l(u) = 1 if T_l >= u,
    G(u-)/G(T_l-) if l had the competing event before u, else 0 (G: the stratum's censoring
    Kaplan–Meier). Rows are sorted by (stratum, time) (``fit_subdistribution_hazard`` passes
    them sorted already, so no gather is needed); a stratum's rows are the positions [S, E)
    of that order and u_j's risk set the rows from its first at-risk row k_j to E.
    """

    def __init__(self, time, code, status, competing, event):
        from relapse_ml.evaluation.ipcw import censoring_km

        order = np.lexsort((time, code))
        self.order, n = order, time.size
        t, c = time[order], code[order]
        # distinct (stratum, event time) pairs, in the sorted order, with their counts
        ev = status[order]
        first = np.r_[True, (t[1:] != t[:-1]) | (c[1:] != c[:-1])]
        group = np.cumsum(first) - 1
        event_groups, self.d = np.unique(group[ev], return_counts=True)
        starts = np.flatnonzero(first)
        self.first_at_risk = starts[event_groups]  # first row of u_j's stratum with T >= u_j
        self.event_times = t[self.first_at_risk]
        self.event_stratum = c[self.first_at_risk]
        bounds = np.searchsorted(c, np.arange(c.max() + 2 if n else 1), side="left")
        self.row_start, self.row_end = bounds[c], bounds[c + 1]
        self.comp_weight = np.zeros(n)
        self.g_at_event = np.ones(self.d.size)
        comp = competing[order]
        for j in np.unique(c[comp]) if comp.any() and self.d.size else ():
            rows = np.flatnonzero(c == j)
            G = censoring_km(t[rows], event[order][rows])
            with np.errstate(divide="ignore"):
                w = np.where(comp[rows], 1.0 / G.before(t[rows]), 0.0)
            self.comp_weight[rows] = np.where(np.isfinite(w), w, 0.0)
            m = self.event_stratum == j
            self.g_at_event[m] = G.before(self.event_times[m])
        self.is_sorted = bool(np.all(order == np.arange(n)))
        self.parts, self.comp_rows = [], {}
        for j in np.unique(self.event_stratum):
            J = np.flatnonzero(self.event_stratum == j)
            S, E = int(bounds[j]), int(bounds[j + 1])
            self.parts.append((S, E, slice(J[0], J[-1] + 1)))
            self.comp_rows[S] = S + np.flatnonzero(self.comp_weight[S:E] > 0)

    def sum(self, values: np.ndarray) -> np.ndarray:
        """``values`` per patient (n,) or (n, p) -> weighted sums per event time.

        Per stratum: one pass over its rows (``np.add.reduceat`` between consecutive event
        times, then a reverse cumulative sum over those few segments), and the competing
        rows' weighted sums over those rows only; no (n, p) temporary beyond the input.
        """
        v = values if self.is_sorted else values[self.order]
        out = np.empty((self.d.size,) + v.shape[1:])
        extra = (slice(None),) + (None,) * (v.ndim - 1)
        for S, E, J in self.parts:  # stratum rows [S, E), its events J (contiguous)
            k = self.first_at_risk[J] - S
            seg = np.add.reduceat(v[S:E], k, axis=0)  # rows [k_j, k_{j+1}) and [k_last, E)
            out[J] = np.cumsum(seg[::-1], axis=0)[::-1]
            rows = self.comp_rows[S]
            if rows.size:  # competing rows before u_j, weight G(u_j-)/G(T_l-)
                cum = np.cumsum(v[rows] * self.comp_weight[rows][extra], axis=0)
                cum = np.concatenate([np.zeros((1,) + v.shape[1:]), cum])
                out[J] += self.g_at_event[J][extra] * cum[np.searchsorted(rows, k + S)]
        return out

    def sum_transpose(self, a: np.ndarray) -> np.ndarray:
        """For each patient l: sum_j a_j w_l(u_j) (the adjoint of ``sum``), shape (n,)."""
        k = self.first_at_risk
        n = self.order.size
        pos = np.arange(n)
        # rows at position >= k_j of u_j's stratum are at risk with weight 1
        upto = np.r_[0.0, np.cumsum(np.bincount(k, weights=a, minlength=n + 1))]  # sum k_j < m
        direct = upto[pos + 1] - upto[self.row_start]
        # competing rows at position < k_j get G(u_j-)/G(T_l-): the stratum's k_j > pos
        ga = np.bincount(k, weights=a * self.g_at_event, minlength=n + 1)
        later = np.r_[np.cumsum(ga[::-1])[::-1], 0.0]  # later[m] = sum over k_j >= m
        out_sorted = direct + self.comp_weight * (later[pos + 1] - later[self.row_end])
        out = np.empty(n)
        out[self.order] = out_sorted
        return out
