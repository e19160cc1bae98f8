"""Gray's (1988) test that the cumulative incidence of one cause is equal in two groups.

No maintained Python library implements it (R's ``cmprsk::cuminc`` is the reference), so
it is written here and checked in ``tests/test_design_gray.py`` against independent
calculations: the score from subdistribution risk sets built patient by patient with
censoring weights, the log-rank test when there is no competing event, and the calibration
of the variance under the null by simulation.

With groups k = 0, 1, Kaplan–Meier all-cause survival S_k, Aalen–Johansen incidence F_k
of the cause and numbers at risk Y_k, the estimated subdistribution risk set of group k
is R_k(t) = Y_k(t) (1 − F_k(t−)) / S_k(t−). Gray's score (ρ = 0) is the "observed minus
expected" of the cause in group 0,

    U = Σ_t [ d_0(t) − R_0(t) d(t) / (R_0(t) + R_1(t)) ],

and its variance is Gray's martingale estimator: each group contributes through its cause
events and its competing events, each weighted by how the pooled incidence enters the
score (Gray 1988, section 2; the same estimator as ``cmprsk``'s ``crstm``). The statistic
U² / V is chi-square with one degree of freedom.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _tables(time, event, group, cause: int):
    """Distinct times and, per time and group, cause events, competing events, all leaving."""
    time = np.asarray(time, float)
    event = np.asarray(event)
    group = np.asarray(group)
    if not (time.shape == event.shape == group.shape) or time.ndim != 1:
        raise ValueError("time, event and group must be 1-d arrays of the same length")
    levels = np.unique(group)
    if levels.size != 2:
        raise ValueError(f"Gray's test here compares two groups, got {levels.size}")
    g = (group == levels[1]).astype(int)
    times, inv = np.unique(time, return_inverse=True)
    d1 = np.zeros((times.size, 2))
    d2 = np.zeros((times.size, 2))
    out = np.zeros((times.size, 2))
    np.add.at(d1, (inv[event == cause], g[event == cause]), 1)
    other = (event != cause) & (event != 0)
    np.add.at(d2, (inv[other], g[other]), 1)
    np.add.at(out, (inv, g), 1)
    at_risk = out[::-1].cumsum(axis=0)[::-1]  # Y_k(t−): still observed just before t
    return d1, d2, at_risk


def gray_test(time, event, group, cause: int = 1) -> dict[str, float]:
    """Gray's two-sample test of equal cumulative incidence of ``cause``.

    ``event``: 0 censored, ``cause`` the event of interest, any other code a competing
    event. Returns ``{"chi2", "p", "score", "variance"}``; the score is observed minus
    expected events of ``cause`` in the first group (``sorted(unique(group))[0]``), so a
    positive score means a higher incidence there. NaN when there is no event of the cause.
    """
    d1, d2, Y = _tables(time, event, group, cause)
    nan = {"chi2": np.nan, "p": np.nan, "score": np.nan, "variance": np.nan}
    if d1.sum() == 0:
        return nan
    S = np.ones(2)  # S_k(t−)
    F = np.zeros(2)  # F_k(t−)
    Fbar = 0.0  # pooled incidence from the pooled subdistribution hazard, at t−
    score = 0.0
    C = np.zeros(2)  # cumulative influence of each group's martingale on the score
    var2 = np.zeros(2)
    var3 = np.zeros(2)
    v = 0.0
    for i in range(d1.shape[0]):
        y = Y[i]
        live = y > 0
        safe_y = np.where(live, y, 1.0)
        S_new = np.where(live, S * (1 - (d1[i] + d2[i]) / safe_y), S)
        F_new = F + np.where(live, S * d1[i] / safe_y, 0.0)
        u = np.where(live & (S > 0), y / np.where(S > 0, S, 1.0), 0.0)  # Y_k / S_k(t−)
        tr = u.sum()
        tq = float((u * (1 - F)).sum())  # R_0 + R_1
        D1, D2 = d1[i].sum(), d2[i].sum()
        if D1 > 0 and tq > 0 and live[0]:
            score += d1[i, 0] - D1 * u[0] * (1 - F[0]) / tq
        # the score's derivative in each group's cause-specific increments
        a = np.array([u[0] * (1 - u[0] / tr), -u[0] * u[1] / tr]) if tr > 0 else np.zeros(2)
        if D1 > 0 and tr > 0 and Fbar < 1:
            C += a * D1 / (tr * (1 - Fbar))
        if D1 > 0 and tr > 0:
            for k in (0, 1):
                if not live[k]:
                    continue
                z = 1 - (1 - (Fbar + D1 / tr)) / S_new[k] if S_new[k] > 0 else 1.0
                denom = tr * S[k] - 1
                fc = 1 - (D1 - 1) / denom if D1 > 1 and denom > 0 else 1.0
                sig = fc * S[k] * D1 / (tr * y[k])
                var3[k] += z * z * sig
                ai = a[k] - z * C[k]
                var2[k] += ai * z * sig
                v += ai * ai * sig
        if D2 > 0:
            F_now = Fbar + (D1 / tr if D1 > 0 and tr > 0 else 0.0)
            for k in (0, 1):
                if d2[i, k] <= 0 or S_new[k] <= 0 or y[k] <= 0:
                    continue
                z = (1 - F_now) / S_new[k]
                fc = 1 - (d2[i, k] - 1) / (y[k] - 1) if d2[i, k] > 1 and y[k] > 1 else 1.0
                sig = fc * S[k] ** 2 * d2[i, k] / (y[k] * y[k])
                var3[k] += z * z * sig
                ti = z * C[k]
                var2[k] -= ti * z * sig
                v += ti * ti * sig
        if D1 > 0 and tr > 0:
            Fbar += D1 / tr
        S, F = S_new, F_new
    v += float(C @ (C * var3) + 2 * C @ var2)
    if not np.isfinite(v) or v <= 0:
        return {**nan, "score": float(score)}
    chi2 = score * score / v
    return {
        "chi2": float(chi2),
        "p": float(stats.chi2.sf(chi2, 1)),
        "score": float(score),
        "variance": float(v),
    }
