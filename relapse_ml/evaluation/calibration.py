"""Calibration of a predicted incidence at horizon tau: table, slope / intercept, ICI.

Everything is computed on the test data alone. The observed incidence is the
Aalen–Johansen estimate (never 1 − KM); regressions use jackknife
pseudo-observations of F_cause(τ) (`relapse_ml.evaluation.pseudo`).
"""

from __future__ import annotations

import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd

from relapse_ml.errors import RelapseMLError
from relapse_ml.evaluation._inputs import check_outcome
from relapse_ml.evaluation.pseudo import leave_one_out_incidence, pseudo_observations
from relapse_ml.evaluation.times import EvaluationWarning

_EPS = 1e-6  # predictions are clipped to [_EPS, 1 - _EPS] before the cloglog


def cloglog(p) -> np.ndarray:
    """Complementary log-log, log(−log(1 − p)), with p clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1.0 - _EPS)
    return np.log(-np.log1p(-p))


def calibration_table(
    time, event, risk_at_tau, tau: float, n_groups: int = 10, cause: int = 1, level: float = 0.95
) -> pd.DataFrame:
    """Predicted vs observed incidence at ``tau`` by group of predicted risk (deciles by default).

    Groups are quantile bins of the prediction (tied predictions stay together, so
    there may be fewer groups). ``observed`` is the Aalen–Johansen incidence in the
    group; its interval uses the jackknife standard error on the cloglog scale.
    Columns: group, n, n_events (of ``cause`` by tau), mean_predicted, observed,
    observed_lower, observed_upper.
    """
    from relapse_ml.models.aalen_johansen import aalen_johansen

    t, e = check_outcome(time, event, "test")
    risk = _check_risk(risk_at_tau, t.size)
    groups = risk_groups(risk, n_groups)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    rows = []
    for g in np.unique(groups):
        m = groups == g
        n = int(m.sum())
        observed = float(aalen_johansen(t[m], e[m], [tau], cause=cause)[0])
        if n > 1:
            loo = leave_one_out_incidence(t[m], e[m], tau, cause)
            se = float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))
        else:
            se = np.nan
        lower, upper = _cloglog_interval(observed, se, z)
        rows.append(
            {
                "group": int(g),
                "n": n,
                "n_events": int(np.sum(m & (t <= tau) & (e == cause))),
                "mean_predicted": float(risk[m].mean()),
                "observed": observed,
                "observed_lower": lower,
                "observed_upper": upper,
            }
        )
    return pd.DataFrame(rows)


def risk_groups(risk, n_groups: int) -> np.ndarray:
    """Quantile group (0, 1, …) of each prediction; ties never split across groups."""
    risk = np.asarray(risk, dtype=float)
    edges = np.quantile(risk, np.linspace(0, 1, n_groups + 1)[1:-1])
    raw = np.searchsorted(np.unique(edges), risk, side="left")
    return np.unique(raw, return_inverse=True)[1].ravel()


def _cloglog_interval(f: float, se: float, z: float) -> tuple[float, float]:
    """Delta-method interval for an incidence on the cloglog scale (stays inside [0, 1])."""
    if not np.isfinite(se):
        return np.nan, np.nan
    if f <= 0.0 or f >= 1.0 or se == 0.0:
        return f, f
    eta = np.log(-np.log1p(-f))
    se_eta = se / ((1.0 - f) * -np.log1p(-f))
    lo, hi = eta - z * se_eta, eta + z * se_eta
    return float(-np.expm1(-np.exp(lo))), float(-np.expm1(-np.exp(hi)))


def calibration_slope_intercept(
    time, event, risk_at_tau, tau: float, cause: int = 1, *, pseudo: np.ndarray | None = None,
    weight=None,
) -> dict[str, float]:
    """Calibration slope and intercept at ``tau`` from pseudo-observations.

    A GLM with cloglog link, E[θ_i] = 1 − exp(−exp(a + b·cloglog(p_i))), fitted by
    iteratively reweighted least squares with the quasi-binomial variance (the GEE of
    Andersen & Perme 2010 for pseudo-observations, which may lie outside [0, 1]).
    Returns ``slope`` b and ``intercept`` a (1 and 0 when perfectly calibrated) and
    ``intercept_in_the_large`` (a with b fixed at 1; > 0: risks underestimated).
    pseudo: precomputed pseudo-observations (saves recomputing them).
    weight: frequency weight of each row (a bootstrap replicate's counts; default 1); the
        pseudo-observations must then be the weighted ones (`pseudo.LeaveOneOut`).
    """
    t, e = check_outcome(time, event, "test")
    risk = _check_risk(risk_at_tau, t.size)
    theta = pseudo_observations(t, e, tau, cause) if pseudo is None else np.asarray(pseudo)
    return calibration_glms(theta, cloglog(risk), weight)


def calibration_glms(theta, x, weight=None) -> dict[str, float]:
    """Slope, intercept and intercept-in-the-large of pseudo-observations ``theta`` on the
    cloglog predictions ``x`` (see `calibration_slope_intercept`)."""
    if np.ptp(x) == 0:
        slope, intercept = np.nan, np.nan
    else:
        intercept, slope = _cloglog_glm(theta, np.c_[np.ones_like(x), x], np.zeros_like(x),
                                        weight=weight)
    (large,) = _cloglog_glm(theta, np.ones((x.size, 1)), x, weight=weight)
    return {"slope": slope, "intercept": intercept, "intercept_in_the_large": large}


def _cloglog_glm(y, design, offset, max_iter: int = 100, tol: float = 1e-10,
                 weight=None) -> np.ndarray:
    """Quasi-binomial GLM with cloglog link, μ = 1 − exp(−exp(offset + Xβ)).

    Fisher scoring with step-halving on the quasi-log-likelihood Σ y log μ + (1 − y)
    log(1 − μ) (plain IRLS diverges from wide-ranging predictions); starts at β = 0
    (slope 1 when there are two columns: perfect calibration).
    weight: frequency weight of each row (default 1).
    """
    w = 1.0 if weight is None else np.asarray(weight, dtype=float)
    beta = np.zeros(design.shape[1])
    if design.shape[1] == 2:
        beta[1] = 1.0
    ee, mu = _cloglog_mean(offset + design @ beta)
    value = _quasi_loglik(y, mu, w)
    for _ in range(max_iter):
        dmu = ee * np.exp(-ee)  # dμ/dη = exp(η − exp(η))
        a = w * dmu / (mu * (1.0 - mu))
        info = design.T @ (design * (a * dmu)[:, None])
        try:
            step = np.linalg.solve(info, design.T @ (a * (y - mu)))
        except np.linalg.LinAlgError:
            break
        scale = 1.0
        while True:
            new = beta + scale * step
            new_ee, new_mu = _cloglog_mean(offset + design @ new)
            new_value = _quasi_loglik(y, new_mu, w)
            if new_value >= value - 1e-12 or scale < 1e-8:
                break
            scale /= 2
        if np.max(np.abs(new - beta)) < tol:
            return new
        beta, value, ee, mu = new, new_value, new_ee, new_mu
    warnings.warn("Calibration GLM did not converge.", EvaluationWarning, stacklevel=3)
    return np.full(design.shape[1], np.nan)


def _cloglog_mean(eta) -> tuple[np.ndarray, np.ndarray]:
    """exp(η) (η capped at 30) and μ = 1 − exp(−exp(η)) kept inside (0, 1)."""
    ee = np.exp(np.minimum(eta, 30.0))
    return ee, np.clip(-np.expm1(-ee), 1e-12, 1 - 1e-12)


def _inverse_cloglog(eta) -> np.ndarray:
    return _cloglog_mean(eta)[1]


def _quasi_loglik(y, mu, w=1.0) -> float:
    return float(np.sum(w * (y * np.log(mu) + (1.0 - y) * np.log1p(-mu))))


def local_linear_smooth(x, y, at, span: float = 0.75, weight=None) -> np.ndarray:
    """Local-linear regression of ``y`` on ``x`` evaluated at ``at`` (loess of degree 1).

    Tricube weights over the nearest ``span`` fraction of points, no robustness
    iterations (statsmodels' lowess is not a dependency). Reproduces straight lines.
    The k nearest points of ``a`` are a window of the sorted x: its start is the first s
    with x[s + k] − a ≥ a − x[s] (found by one binary search for all of ``at``).
    weight: frequency weight (a whole number) of each point: the smooth of the points
        repeated that many times.
    """
    x, y, at = (np.asarray(a, dtype=float) for a in (x, y, at))
    order = np.argsort(x, kind="stable")
    c = None if weight is None else np.asarray(weight, dtype=float)[order]
    return smooth_sorted(x[order], y[order], at, span, c)


def smooth_sorted(xs, ys, at, span: float = 0.75, counts=None) -> np.ndarray:
    """`local_linear_smooth` of points already sorted by ``xs``, ``counts`` copies of each."""
    if counts is None:
        xe = xs
    else:
        keep = counts > 0
        xs, ys, counts = xs[keep], ys[keep], counts[keep]
        xe = np.repeat(xs, counts.astype(np.int64))  # the repeated points, still sorted
    from relapse_ml.evaluation.loess import window_starts

    k, start = window_starts(xe, at, span)
    out = np.empty(at.size)
    for i, a in enumerate(at):
        s = int(start[i])
        radius = max(a - xe[s], xe[s + k - 1] - a)
        scale = radius * 1.000001 + 1e-300
        # points tied with the window's farthest one still weigh (next to) nothing, but they
        # count when every weight is that small: include all with distance < scale
        if counts is None:
            lo = s - int(np.count_nonzero(a - xs[:s] < scale))
            hi = s + k + int(np.count_nonzero(xs[s + k :] - a < scale))
        else:  # the same points: every one at distance < scale (those in the window are)
            lo = int(np.searchsorted(xs, a, side="left"))
            lo -= int(np.count_nonzero(a - xs[:lo] < scale))
            hi = int(np.searchsorted(xs, a, side="left"))
            hi += int(np.count_nonzero(xs[hi:] - a < scale))
        xw, yw = xs[lo:hi], ys[lo:hi]
        u = np.abs(xw - a) / scale
        w = 1.0 - u * u * u
        w = w * w * w
        if counts is not None:
            w = w * counts[lo:hi]
        # elementwise sums, not BLAS dot products (threaded BLAS is slow on busy cores)
        sw = w.sum()
        mx = np.sum(w * xw) / sw
        dx = xw - mx
        wdx = w * dx
        sxx = np.sum(wdx * dx)
        my = np.sum(w * yw) / sw
        slope = np.sum(wdx * (yw - my)) / sxx if sxx > 1e-12 * sw else 0.0
        out[i] = my + slope * (a - mx)
    return out


def weighted_quantile(sorted_values, counts, q) -> np.ndarray:
    """``np.quantile`` (linear interpolation) of ``sorted_values`` repeated ``counts`` times."""
    q = np.asarray(q, dtype=float)
    cum = np.cumsum(counts)
    n = cum[-1]
    h = (n - 1) * q
    below = np.floor(h)
    frac = h - below
    lo = sorted_values[np.searchsorted(cum, below, side="right")]
    hi = sorted_values[np.searchsorted(cum, np.minimum(below + 1, n - 1), side="right")]
    diff = hi - lo
    # numpy's _lerp: from the nearer end
    return np.where(frac >= 0.5, hi - diff * (1 - frac), lo + diff * frac)


def _local_linear_smooth_reference(x, y, at, span: float = 0.75) -> np.ndarray:
    """The direct O(n) per point definition (reference for the tests)."""
    x, y, at = (np.asarray(a, dtype=float) for a in (x, y, at))
    k = min(x.size, max(3, int(np.ceil(span * x.size))))
    out = np.empty(at.size)
    for i, a in enumerate(at):
        dist = np.abs(x - a)
        radius = np.partition(dist, k - 1)[k - 1]
        w = np.clip(1 - (dist / (radius * 1.000001 + 1e-300)) ** 3, 0, None) ** 3
        sw = w.sum()
        mx = w @ x / sw
        sxx = w @ (x - mx) ** 2
        my = w @ y / sw
        slope = (w @ ((x - mx) * (y - my))) / sxx if sxx > 1e-12 * sw else 0.0
        out[i] = my + slope * (a - mx)
    return out


def integrated_calibration_index(
    time,
    event,
    risk_at_tau,
    tau: float,
    cause: int = 1,
    *,
    span: float = 0.75,
    n_grid: int = 100,
    pseudo: np.ndarray | None = None,
) -> dict[str, float]:
    """ICI, E50 and E90 (Austin et al. 2020) at ``tau``: |predicted − smoothed observed|.

    The observed curve is a local-linear (loess, degree 1, tricube, ``span``) smooth of
    the pseudo-observations against cloglog(prediction), evaluated on ``n_grid``
    quantiles of the prediction and interpolated, then clipped to [0, 1].
    Returns ``ici`` (mean), ``e50`` (median) and ``e90`` (90th percentile).
    """
    t, e = check_outcome(time, event, "test")
    risk = _check_risk(risk_at_tau, t.size)
    theta = pseudo_observations(t, e, tau, cause) if pseudo is None else np.asarray(pseudo)
    x = cloglog(risk)
    order = np.argsort(x, kind="stable")
    return calibration_errors_sorted(risk[order], x[order], np.asarray(theta, float)[order],
                                     np.ones(x.size), span=span, n_grid=n_grid)


def calibration_errors_sorted(risk, x, theta, counts, span: float = 0.75,
                              n_grid: int = 100, smoother=None) -> dict[str, float]:
    """`integrated_calibration_index` of rows sorted by ``x`` = cloglog(``risk``), ``counts``
    copies of each (frequency weights; rows of count 0 count for nothing).

    smoother: a `loess.BlockSmoother` of ``x`` (the same smooth, faster for many counts).
    """
    n = counts.sum()
    present = x[counts > 0]
    if present[-1] == present[0]:
        observed = np.full(x.size, np.clip(np.sum(counts * theta) / n, 0, 1))
    else:
        grid = np.unique(weighted_quantile(x, counts, np.linspace(0, 1, n_grid)))
        if smoother is None:
            curve = smooth_sorted(x, theta, grid, span, counts)
        else:
            curve = smoother.smooth(theta, counts, grid, span)
        observed = np.clip(np.interp(x, grid, curve), 0.0, 1.0)
    error = np.abs(risk - observed)
    by_error = np.argsort(error)
    e50, e90 = weighted_quantile(error[by_error], counts[by_error], [0.5, 0.9])
    return {"ici": float(np.sum(counts * error) / n), "e50": float(e50), "e90": float(e90)}


def smoothed_observed(risk, pseudo, span: float = 0.75, n_grid: int = 100) -> np.ndarray:
    """The smoothed observed incidence at each prediction (the calibration curve)."""
    x = cloglog(risk)
    if np.ptp(x) == 0:
        return np.full(x.size, np.clip(np.mean(pseudo), 0, 1))
    grid = np.unique(np.quantile(x, np.linspace(0, 1, n_grid)))
    curve = local_linear_smooth(x, pseudo, grid, span=span)
    return np.clip(np.interp(x, grid, curve), 0.0, 1.0)


def _check_risk(risk, n: int) -> np.ndarray:
    r = np.asarray(risk, dtype=float).ravel()
    if r.size != n or not np.all(np.isfinite(r)):
        raise RelapseMLError(f"risk_at_tau must hold {n} finite values (one per test patient).")
    if np.any((r < 0) | (r > 1)):
        raise RelapseMLError("risk_at_tau must be probabilities in [0, 1] (the CIF at tau).")
    return r
