"""Population parameters of the marker-trajectory model, fitted on training rows only.

EM with approximate E-steps (each row's posterior mean and covariance by expectation
propagation, `trajectory.posterior_sites`, warm-started from the previous iteration)
for the multivariate linear mixed model with left-censored MRD: the M-step updates the
random-effect mean and covariance from the posterior moments, and each marker's residual
variance from the expected squared residuals (a censored observation's from its
truncated-normal moments, see `_residual_variances`).

With baseline covariates (the linear mixed model with fixed effects, b_i ~ N(mu + z_i B, D))
the mean's M-step is the multivariate least-squares regression of the posterior means on
(1, z_i) — every random effect has the same regressors, so it is also the GLS estimate — and
``D`` the mean residual second moment plus the mean posterior covariance.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from relapse_ml.features.trajectory import (
    MARKERS,
    History,
    TrajectoryParams,
    linear_predictor,
    mills,
    posterior_sites,
)

MIN_VARIANCE = 1e-4


def initial_params(h: History, n_markers: int) -> TrajectoryParams:
    """A start: marker means and variances of the observed values, no slope."""
    p = 2 * n_markers
    mu, D, s2 = np.zeros(p), np.eye(p), np.ones(n_markers)
    for k in range(n_markers):
        sel = h.observed & (h.marker[None, :] == k)
        y = h.y[sel]
        if y.size >= 2:
            mu[2 * k] = y.mean()
            var = max(float(y.var()), MIN_VARIANCE * 10)
            D[2 * k, 2 * k], s2[k] = 0.5 * var, 0.5 * var
            D[2 * k + 1, 2 * k + 1] = 0.05 * var
    return TrajectoryParams(mu, D, s2, tuple(m.name for m in MARKERS[:n_markers]),
                            chimerism_limit=h.chimerism_limit)


def fit_trajectory_params(h: History, max_iter: int = 100, tol: float = 1e-4,
                          max_rows: int = 4000, seed: int = 0,
                          covariates: tuple[str, ...] = ()) -> TrajectoryParams:
    """EM estimates of ``mu``, ``D`` and ``sigma2`` (and ``B``) from the rows of ``h``.

    Rows without any sample carry no information and are left out; above ``max_rows``
    informative rows a seeded random subset is used (the E-step is O(rows) per iteration).
    ``covariates``: names of ``h.covariates``' columns; they are standardised by their means
    and SDs over all rows of ``h``, and one that is constant or always missing is dropped.
    """
    n_markers = int(h.marker.max()) + 1
    cov = _standardisation(h, tuple(covariates))
    if cov is not None:  # only the covariates kept (a copy: the caller's history is not changed)
        h = replace(h, covariates=h.covariates[:, cov[3]])
    informative = h.observed.any(axis=1)
    rows = np.flatnonzero(informative)
    if rows.size > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(rows, max_rows, replace=False))
    h = _take(h, rows)
    params = initial_params(h, n_markers)
    p = 2 * n_markers
    if cov is not None:
        names, mean, scale, _ = cov
        params.covariates, params.cov_mean, params.cov_scale = names, mean, scale
        params.B = np.zeros((len(names), p))
        Z1 = np.column_stack([np.ones(len(h)), params.standardise(h.covariates)])
    if len(h) < 3:
        return params
    sites = None
    for _ in range(max_iter):
        b, V, sites = posterior_sites(params, h, sweeps=3, sites=sites)
        B = None
        if cov is None:
            mu = b.mean(axis=0)
            dev = b - mu
        else:
            coef = np.linalg.lstsq(Z1, b, rcond=None)[0]
            mu, B = coef[0], coef[1:]
            dev = b - Z1 @ coef
        D = (dev.T @ dev + V.sum(axis=0)) / len(h)
        D = 0.5 * (D + D.T) + MIN_VARIANCE * np.eye(p)
        sigma2 = _residual_variances(params, h, b, V, sites, n_markers)
        new = TrajectoryParams(mu, D, sigma2, params.markers, params.covariates, B,
                               params.cov_mean, params.cov_scale, params.chimerism_limit)
        change = max(np.max(np.abs(new.mu - params.mu)), np.max(np.abs(new.D - params.D)),
                     np.max(np.abs(np.log(new.sigma2 / params.sigma2))))
        if B is not None:
            change = max(change, float(np.max(np.abs(B - params.B), initial=0.0)))
        params = new
        if change < tol:
            break
    return params


def _residual_variances(params, h, b, V, sites, n_markers) -> np.ndarray:
    """Each marker's mean expected squared residual under the rows' posteriors.

    An observed value contributes ``(y - E eta)^2 + Var eta``. A censored one contributes
    ``E[(y - eta)^2 | y < c]`` under its cavity ``eta ~ N(mu_c, s_c)`` (the posterior
    without its own site) and ``y | eta ~ N(eta, sigma^2)``: with ``T = s_c + sigma^2``,
    ``kappa = (c - mu_c) / sqrt T``, ``sigma^2 s_c / T + sigma^4 / T (1 - kappa lambda)``.
    """
    eta, zvz = linear_predictor(h, b, V)
    s2 = params.sigma2[h.marker]
    tau, nu = sites
    zvz_safe = np.maximum(zvz, 1e-12)
    s_cav = 1.0 / np.maximum(1.0 / zvz_safe - tau, 1e-12)
    mu_cav = s_cav * (eta / zvz_safe - nu)
    T = s_cav + s2
    kappa = np.where(h.censored, (h.y - mu_cav) / np.sqrt(T), 0.0)
    cens = s2 * s_cav / T + s2**2 / T * (1.0 - kappa * mills(kappa))
    sq = np.where(h.censored, np.maximum(cens, 0.0), (h.y - eta) ** 2 + zvz)
    out = np.array(params.sigma2, float)
    for k in range(n_markers):
        sel = h.observed & (h.marker[None, :] == k)
        if sel.sum() >= 3:
            out[k] = max(float(sq[sel].mean()), MIN_VARIANCE)
    return out


def _standardisation(h: History, names: tuple[str, ...]):
    """(names kept, means, SDs) of the covariates that vary over ``h``'s rows, or None."""
    if not names or h.covariates is None:
        return None
    Z = h.covariates
    have = np.isfinite(Z)
    count = have.sum(axis=0)
    mean = np.where(count > 0, np.where(have, Z, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
    var = np.where(have, (Z - mean) ** 2, 0.0).sum(axis=0) / np.maximum(count, 1)
    keep = np.flatnonzero((count >= 2) & (var > 1e-12))
    if not keep.size:
        return None
    return tuple(names[j] for j in keep), mean[keep], np.sqrt(var[keep]), keep


def _take(h: History, rows: np.ndarray) -> History:
    z = None if h.covariates is None else h.covariates[rows]
    return History(h.t[rows], h.y[rows], h.observed[rows], h.censored[rows], h.marker,
                   h.landmark[rows], z, h.chimerism_limit)
