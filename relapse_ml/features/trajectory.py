"""Marker trajectories: each patient's latent course of log-MRD, log-WT1 and chimerism at L.

A multivariate linear mixed model ("two-stage" landmarking, Paige et al. 2018; Putter &
van Houwelingen 2022): marker k of patient i at time t (months from day `TIME_CENTER`)
is ``y = a_ik + s_ik t + e``, ``e ~ N(0, sigma_k^2)``, the six random effects
``(a_k, s_k)`` jointly normal ``N(mu, D)`` so that one marker informs the others. An MRD
sample of 0 (below the detection limit) is LEFT-CENSORED at log10 of the limit (a Tobit
term ``log Phi((c - eta) / sigma)``), never a zero; so is a report of 100 % donor chimerism
(`trajectory_markers`).

This module is the numpy-only half (the scoring path imports it): the hidden history
columns a landmark data set carries (``_obs:*``, see `marker_history`), the patient's
posterior given population parameters (expectation propagation for the censored
values) and the features read from it. Fitting the population parameters on training
rows is `trajectory_fit.fit_trajectory_params`; the model wrapper that does both inside
each fit is `relapse_ml.models.trajectory.TrajectoryModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relapse_ml.features.trajectory_markers import (  # noqa: F401 (importable from here too)
    CHIMERISM_DETECTION_LIMIT,
    MARKERS,
    TrajectoryMarker,
    markers_for,
)

HIDDEN_PREFIX = "_obs:"  # models ignore columns starting with it (models/base.py)
HISTORY_SLOTS = 8  # the last samples kept per marker (days 30..365 hold 7 visits)
TIME_CENTER = 60.0  # day at which a random level is read when t = 0
MONTH = 30.0
LANDMARK_COLUMN = f"{HIDDEN_PREFIX}landmark_day"
# baseline (pre-transplant, time-fixed) feature columns that shift the random effects' prior
# mean (``covariates: default``): disease status, cytogenetics, pre-transplant MRD, age —
# the contract's columns that both simulators draw the latent course from
DEFAULT_COVARIATES = ("disease_status_CR2", "disease_status_CR3plus", "disease_status_NR",
                      "cytogenetic_risk_intermediate", "cytogenetic_risk_adverse",
                      "pre_hsct_mrd_positive", "age")


def history_columns(markers=MARKERS, slots: int = HISTORY_SLOTS) -> list[str]:
    """Names of the hidden history columns: per marker ``slots`` days then values, and L."""
    cols = [LANDMARK_COLUMN]
    for m in markers:
        cols += [f"{HIDDEN_PREFIX}{m.name}:day:{j}" for j in range(slots)]
        cols += [f"{HIDDEN_PREFIX}{m.name}:value:{j}" for j in range(slots)]
    return cols


def marker_history(ctx):
    """Hidden columns: each marker's last `HISTORY_SLOTS` samples by L (raw day, value), and L.

    Not a feature a model reads (models drop ``_obs:`` columns): the raw material from
    which `TrajectoryModel` computes posterior features with parameters fitted on its
    training rows. Slots fill from the oldest kept sample; unused slots are NaN.
    """
    cols: dict[str, np.ndarray] = {LANDMARK_COLUMN: np.full(ctx.n_patients, ctx.landmark_day)}
    for m in MARKERS:
        s = ctx.samples(m.name, worst=m.worst)
        days = np.full((ctx.n_patients, HISTORY_SLOTS), np.nan)
        values = np.full((ctx.n_patients, HISTORY_SLOTS), np.nan)
        if len(s.row):
            first = np.maximum(s.starts, s.lasts - HISTORY_SLOTS + 1)
            slot = np.arange(len(s.row)) - np.repeat(first, s.lasts - s.starts + 1)
            keep = slot >= 0
            rows = s.row[keep]
            days[rows, slot[keep]] = s.day[keep]
            values[rows, slot[keep]] = s.value[keep]
        for j in range(HISTORY_SLOTS):
            cols[f"{HIDDEN_PREFIX}{m.name}:day:{j}"] = days[:, j]
        for j in range(HISTORY_SLOTS):
            cols[f"{HIDDEN_PREFIX}{m.name}:value:{j}"] = values[:, j]
    return ctx.frame(cols)


@dataclass
class History:
    """Observations of n rows, flattened over markers and slots (J = K * slots).

    t: months from `TIME_CENTER`; y: transformed value (censoring point where censored);
    observed, censored: (n, J) masks; marker: (J,) marker index; landmark: (n,) days;
    covariates: (n, q) raw baseline covariates (NaN = missing), or None;
    chimerism_limit: the recipient share (%) at which full donor chimerism was read as
    censored (None: read as exact) — the rule parameters fitted on these rows record.
    """

    t: np.ndarray
    y: np.ndarray
    observed: np.ndarray
    censored: np.ndarray
    marker: np.ndarray
    landmark: np.ndarray
    covariates: np.ndarray | None = None
    chimerism_limit: float | None = None

    def __len__(self) -> int:
        return len(self.landmark)


def history_from_columns(X: np.ndarray, columns: list[str], markers=MARKERS,
                         covariates=()) -> History:
    """Read the hidden history columns of a float array ``X`` (columns named ``columns``),
    and the baseline ``covariates`` named (a column ``X`` lacks reads as missing)."""
    pos = {c: i for i, c in enumerate(columns)}
    missing = [c for c in history_columns(markers) if c not in pos]
    if missing:
        from relapse_ml.errors import ModelError

        raise ModelError(
            f"the marker-trajectory step needs the hidden history columns ({missing[0]} ...); "
            "build the landmark data with the 'marker_history' feature"
        )
    X = np.asarray(X, dtype=float)
    ts, ys, obs, cens, mk = [], [], [], [], []
    for k, m in enumerate(markers):
        day = X[:, [pos[f"{HIDDEN_PREFIX}{m.name}:day:{j}"] for j in range(HISTORY_SLOTS)]]
        raw = X[:, [pos[f"{HIDDEN_PREFIX}{m.name}:value:{j}"] for j in range(HISTORY_SLOTS)]]
        have = ~np.isnan(day) & ~np.isnan(raw)
        c = m.censored(np.nan_to_num(raw, nan=1.0)) & have
        y = np.where(c, m.limit, m.transform(np.nan_to_num(raw, nan=1.0)))
        have &= np.isfinite(y)
        ts.append(np.where(have, (day - TIME_CENTER) / MONTH, 0.0))
        ys.append(np.where(have, y, 0.0))
        obs.append(have)
        cens.append(c & have)
        mk.append(np.full(HISTORY_SLOTS, k))
    z = None
    if covariates:
        z = np.column_stack([X[:, pos[c]] if c in pos else np.full(len(X), np.nan)
                             for c in covariates])
    chim = next((m.detection_limit for m in markers if m.name == "donor_chimerism"), None)
    return History(np.hstack(ts), np.hstack(ys), np.hstack(obs), np.hstack(cens),
                   np.concatenate(mk), X[:, pos[LANDMARK_COLUMN]], z, chim)


def history_for(params: TrajectoryParams, X: np.ndarray, columns: list[str]) -> History:
    """The rows' histories read as ``params`` were fitted: the same marker rules (a model saved
    before full donor chimerism was censored keeps the exact reading) and covariates."""
    return history_from_columns(X, columns, markers_for(params), covariates=params.covariates)


# -- the standard normal without scipy (the scoring path stays numpy-only) --------------------
_ERFC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807,
         -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def log_ndtr(u: np.ndarray) -> np.ndarray:
    """log Phi(u), relative error < 2e-7 (Numerical Recipes' erfc, kept on the log scale)."""
    u = np.asarray(u, dtype=float)
    z = np.abs(u) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = np.zeros_like(t)
    for c in _ERFC[:0:-1]:
        poly = (poly + c) * t
    log_erfc = np.log(t) - z * z + _ERFC[0] + poly  # log erfc(z), z >= 0
    # Phi(u) = erfc(-u / sqrt 2) / 2; for u > 0 that is 1 - erfc(z) / 2
    return np.where(u < 0, log_erfc - np.log(2.0), np.log1p(-0.5 * np.exp(log_erfc)))


def ndtr(u: np.ndarray) -> np.ndarray:
    return np.exp(log_ndtr(u))


def mills(u: np.ndarray) -> np.ndarray:
    """phi(u) / Phi(u), stable far into the lower tail."""
    return np.exp(-0.5 * np.asarray(u, float) ** 2 - 0.5 * np.log(2 * np.pi) - log_ndtr(u))


# -- population parameters and the patient's posterior ----------------------------------------
@dataclass
class TrajectoryParams:
    """Population parameters: random-effect mean ``mu`` (2K), covariance ``D``, residual
    variances ``sigma2`` (K), for `markers` in order (level then slope per marker).

    With baseline ``covariates`` (q names) a row's prior mean is ``mu + z B``: ``z`` the
    covariates standardised by the training ``cov_mean`` / ``cov_scale`` (a missing value is
    the training mean, z = 0), ``B`` (q, 2K) their fitted effects on the random effects."""

    mu: np.ndarray
    D: np.ndarray
    sigma2: np.ndarray
    markers: tuple[str, ...] = tuple(m.name for m in MARKERS)
    covariates: tuple[str, ...] = ()
    B: np.ndarray | None = None
    cov_mean: np.ndarray | None = None
    cov_scale: np.ndarray | None = None
    # full donor chimerism was read as left-censored at this recipient share (%) when these
    # parameters were fitted; None: as an exact value (parameters saved before that rule)
    chimerism_limit: float | None = None

    def prior_mean(self, h: History) -> np.ndarray:
        """``mu`` (p,) without covariates, else each row's ``mu + z B`` (n, p)."""
        if not self.covariates:
            return self.mu
        return self.mu + self.standardise(h.covariates) @ self.B

    def standardise(self, raw: np.ndarray | None) -> np.ndarray:
        if raw is None or raw.shape[1] != len(self.covariates):
            from relapse_ml.errors import ModelError

            raise ModelError("the trajectory step's covariates "
                             f"({', '.join(self.covariates)}) were not read with the histories")
        z = (raw - self.cov_mean) / self.cov_scale
        return np.where(np.isfinite(z), z, 0.0)

    def to_json(self) -> dict:
        out = {"mu": self.mu.tolist(), "D": self.D.tolist(), "sigma2": self.sigma2.tolist(),
               "markers": list(self.markers), "time_center": TIME_CENTER, "month": MONTH}
        if self.covariates:
            out.update(covariates=list(self.covariates), B=self.B.tolist(),
                       cov_mean=self.cov_mean.tolist(), cov_scale=self.cov_scale.tolist())
        if self.chimerism_limit is not None:
            out["chimerism_limit"] = self.chimerism_limit
        return out

    @classmethod
    def from_json(cls, d: dict) -> TrajectoryParams:
        extra = {}
        if d.get("covariates"):
            extra = {"covariates": tuple(d["covariates"]), "B": np.asarray(d["B"], float),
                     "cov_mean": np.asarray(d["cov_mean"], float),
                     "cov_scale": np.asarray(d["cov_scale"], float)}
        return cls(np.asarray(d["mu"], float), np.asarray(d["D"], float),
                   np.asarray(d["sigma2"], float), tuple(d["markers"]),
                   chimerism_limit=d.get("chimerism_limit"), **extra)


def design(h: History, p: int) -> np.ndarray:
    """Z (n, J, p): each observation's row of the random-effect design (0 where absent)."""
    n, J = h.t.shape
    Z = np.zeros((n, J, p))
    j = np.arange(J)
    Z[:, j, 2 * h.marker] = 1.0
    Z[:, j, 2 * h.marker + 1] = h.t
    return Z * h.observed[:, :, None]


def posterior(params: TrajectoryParams, h: History, sweeps: int = 8, tol: float = 1e-6,
              sites: tuple[np.ndarray, np.ndarray] | None = None):
    """Approximate posterior of each row's random effects: mean (n, p), covariance (n, p, p).

    Observed values are exact Gaussian terms; each censored value's Tobit term
    ``Phi((c - eta) / sigma)`` is replaced by a Gaussian site fitted by expectation
    propagation (moment matching of the truncated normal; Minka 2001), which gives the
    posterior mean and covariance far better than a Laplace (mode) approximation when
    most of a marker is censored. Vectorised over rows; ``sites`` (precisions, shifts
    of the censored sites) warm-starts the iterations, see `posterior_sites`.
    """
    return posterior_sites(params, h, sweeps, tol, sites)[:2]


def posterior_sites(params, h, sweeps=8, tol=1e-6, sites=None):
    """`posterior` that also returns the fitted sites ``(tau, nu)`` (n, J) for a warm start.

    An observation of marker k at time t has the design row z = e_level(k) + t e_slope(k)
    (`design`); the sums below use that structure instead of the (n, J, p) design array.
    Convergence is judged row by row: a row whose own change in a sweep is below ``tol``
    is frozen, so a row's posterior does not depend on which other rows share the batch
    (one patient scored alone = the same patient in a block of the training rows).
    """
    P0 = np.linalg.inv(params.D)
    s2 = params.sigma2[h.marker]  # (J,)
    exact = h.observed & ~h.censored
    tau = np.where(exact, 1.0 / s2, 0.0)
    nu = np.where(exact, h.y / s2, 0.0)
    if sites is not None:
        tau = np.where(h.censored, sites[0], tau)
        nu = np.where(h.censored, sites[1], nu)
    cols = np.flatnonzero(h.censored.any(axis=0))
    prior = params.prior_mean(h)
    m, V = _moments(h, tau, nu, P0, prior)
    active = h.censored.any(axis=1)  # rows still iterating
    for _ in range(sweeps if cols.size else 0):
        change = np.zeros(len(h))  # each row's largest change in this sweep
        for j in cols:
            r = np.flatnonzero(h.censored[:, j] & active)
            if not r.size:
                continue
            a, sl = 2 * h.marker[j], 2 * h.marker[j] + 1
            tj = h.t[r, j]
            Vr = V[r]
            Vz = Vr[:, :, a] + tj[:, None] * Vr[:, :, sl]  # V z
            s, mj = Vz[:, a] + tj * Vz[:, sl], m[r, a] + tj * m[r, sl]
            t_old, v_old = tau[r, j], nu[r, j]
            s_cav = 1.0 / np.maximum(1.0 / s - t_old, 1e-12)
            mu_cav = s_cav * (mj / s - v_old)
            tot = s_cav + s2[j]
            kappa = (h.y[r, j] - mu_cav) / np.sqrt(tot)
            lam = mills(kappa)
            new_m = mu_cav - s_cav * lam / np.sqrt(tot)
            new_v = np.maximum(s_cav - s_cav**2 * lam * (kappa + lam) / tot, 1e-12)
            t_new = np.maximum(1.0 / new_v - 1.0 / s_cav, 0.0)
            v_new = new_m / new_v - mu_cav / s_cav
            v_new = np.where(t_new > 0, v_new, 0.0)
            dt, dv = t_new - t_old, v_new - v_old
            # rank-one update of the rows' posteriors
            denom = 1.0 + dt * s
            V[r] = Vr - (dt / denom)[:, None, None] * Vz[:, :, None] * Vz[:, None, :]
            m[r] += Vz * ((dv - dt * mj) / denom)[:, None]
            tau[r, j], nu[r, j] = t_new, v_new
            change[r] = np.maximum(change[r], np.maximum(np.abs(dt * s), np.abs(new_m - mj)))
        # refresh (round-off of rank-one steps) the rows that moved in this sweep; the
        # others' sites are unchanged since their last refresh, so their moments are too
        moved = np.flatnonzero(active)
        m[moved], V[moved] = _moments(h, tau, nu, P0, prior, moved)
        active &= change >= tol
        if not active.any():
            break
    return m, V, (tau, nu)


def _moments(h: History, tau, nu, P0, mu, rows=None):
    """Posterior mean and covariance from the sites: precision P0 + sum_j tau_j z_j z_j'.

    ``mu``: the prior mean, one (p,) for all rows or each row's (n, p); ``rows``: only
    these rows (an index array; default all)."""
    t, obs = h.t, h.observed
    if rows is not None:
        t, obs, tau, nu = t[rows], obs[rows], tau[rows], nu[rows]
        mu = mu if mu.ndim == 1 else mu[rows]
    n, p = len(t), P0.shape[0]
    onehot = (h.marker[:, None] == np.arange(p // 2)[None, :]).astype(float)  # (J, K)
    tau, nu = np.where(obs, tau, 0.0), np.where(obs, nu, 0.0)
    level, slope = np.arange(0, p, 2), np.arange(1, p, 2)
    Lam = np.repeat(P0[None, :, :], n, axis=0)
    cross = (tau * t) @ onehot
    Lam[:, level, level] += tau @ onehot
    Lam[:, level, slope] += cross
    Lam[:, slope, level] += cross
    Lam[:, slope, slope] += (tau * t * t) @ onehot
    V = np.linalg.inv(Lam)
    rhs = np.empty((n, p))
    rhs[:, level], rhs[:, slope] = nu @ onehot, (nu * t) @ onehot
    rhs += P0 @ mu if mu.ndim == 1 else mu @ P0.T
    m = np.einsum("npq,nq->np", V, rhs)
    return m, V


def linear_predictor(h: History, b: np.ndarray, V: np.ndarray):
    """z_j'b and z_j'V z_j of each observation (n, J) (0 where nothing was observed)."""
    level, slope = 2 * h.marker, 2 * h.marker + 1
    t = h.t
    eta = b[:, level] + t * b[:, slope]
    zvz = V[:, level, level] + 2 * t * V[:, level, slope] + t * t * V[:, slope, slope]
    return np.where(h.observed, eta, 0.0), np.where(h.observed, zvz, 0.0)


def feature_names(params: TrajectoryParams) -> list[str]:
    out = []
    for name in params.markers:
        out += [f"traj_{name}_level", f"traj_{name}_level_sd", f"traj_{name}_slope",
                f"traj_{name}_slope_sd"]
    return out + ["traj_mrd_mfc_p_detectable"] if "mrd_mfc" in params.markers else out


def trajectory_features(params: TrajectoryParams, h: History) -> dict[str, np.ndarray]:
    """Posterior features at each row's landmark L (level, slope per 30 days, their SDs,
    and P(true MRD > its detection limit)), in `feature_names` order."""
    m, V = posterior(params, h)
    tL = (h.landmark - TIME_CENTER) / MONTH
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(params.markers):
        a, s = 2 * k, 2 * k + 1
        level = m[:, a] + m[:, s] * tL
        var = V[:, a, a] + 2 * tL * V[:, a, s] + tL**2 * V[:, s, s]
        out[f"traj_{name}_level"] = level
        out[f"traj_{name}_level_sd"] = np.sqrt(np.maximum(var, 0.0))
        out[f"traj_{name}_slope"] = m[:, s]
        out[f"traj_{name}_slope_sd"] = np.sqrt(np.maximum(V[:, s, s], 0.0))
    if "mrd_mfc" in params.markers:
        limit = next(mk.limit for mk in MARKERS if mk.name == "mrd_mfc")
        sd = np.maximum(out["traj_mrd_mfc_level_sd"], 1e-9)
        out["traj_mrd_mfc_p_detectable"] = ndtr((out["traj_mrd_mfc_level"] - limit) / sd)
    return out
