"""Is the estimated heterogeneity real? Checks that need no truth, only outcomes.

Every check takes a ranking or prediction of the benefit that is cross-fitted (no patient's
own outcome shaped it) and doubly robust scores φ (`pseudo.dr_scores`) whose nuisance is
cross-fitted too; φ_i has conditional mean equal to patient i's true benefit, so averages
of φ over groups chosen by the predictions estimate the true benefit in those groups.

* TOC / RATE (Yadlowsky et al. 2021): TOC(q) = mean φ among the top q fraction by
  predicted benefit − mean φ overall; AUTOC = mean of TOC(j/n) over j = 1..n; Qini =
  mean of (j/n)·TOC(j/n). Tied predictions are treated as one block (their φ averaged),
  so the order inside a tie cannot matter. With the predictions held fixed AUTOC is a
  weighted sum of the scores, so its standard error has a closed form (`rate_test`);
  z = AUTOC / SE, two-sided p. It tests "is there heterogeneity this ranking can find";
  a constant prediction has AUTOC 0 and no test.
* Sequential validation (Wager 2024, "Sequential validation of treatment heterogeneity"):
  the all-data AUTOC above ranks patients with models cross-fitted on the other folds, so
  the rankings of different folds share data and an interval that holds them fixed is too
  narrow (in null simulations it rejected up to 20% of the time at 5%; docs/benefit.md).
  The test therefore orders the folds, and for each fold k from a first one on trains
  the learner — and the nuisance of the scores — on folds 0..k−1 only and evaluates fold
  k. Given the earlier folds, fold k's (ranking, score) pairs are independent, so its
  t-statistic is valid; the t-statistics form a martingale difference sequence under "no
  heterogeneity", and Σ t_k / √m is standard normal. This is the pre-specified test.
* Best linear projection / calibration test (Chernozhukov et al. 2018, as grf's
  ``test_calibration``): regress φ on mean(τ̂) and τ̂ − mean(τ̂) without intercept, HC3
  standard errors. The first coefficient is 1 when the average benefit is right; the
  second is 1 when the spread of the predictions is right and 0 when they carry no
  information about who benefits (one-sided test of > 0).
* Calibration for benefit: quantile groups of predicted benefit; in each, the observed
  benefit = Aalen–Johansen incidence at τ under control − under sorafenib.
* c-for-benefit (van Klaveren et al. 2018): sorafenib and control patients matched 1:1 by
  rank of predicted benefit; observed pair benefit = control outcome − sorafenib outcome
  (−1, 0, 1) from the status at τ; concordance with the pair's mean predicted benefit.
  Only patients whose status at τ is known enter.
* PATH risk-based analysis: quartiles of baseline predicted risk (under control); benefit
  by quartile on the absolute (Aalen–Johansen difference) and relative (hazard ratio) scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from relapse_ml.benefit.arm_stats import arm_hazard_ratio, incidence_by_arm, outcome_for
from relapse_ml.benefit.pseudo import status_known


# -- TOC and RATE ---------------------------------------------------------------------------
def _tie_averaged_sorted(priority, scores) -> np.ndarray:
    """Scores sorted by decreasing priority, each replaced by the mean of its tie block."""
    priority = np.asarray(priority, float)
    scores = np.asarray(scores, float)
    order = np.argsort(-priority, kind="stable")
    p, s = priority[order], scores[order]
    _, start, counts = np.unique(-p, return_index=True, return_counts=True)
    block_sums = np.add.reduceat(s, start)
    return np.repeat(block_sums / counts, counts)


def toc_curve(priority, scores) -> tuple[np.ndarray, np.ndarray]:
    """``(q, TOC(q))`` at q = j/n, j = 1..n."""
    s = _tie_averaged_sorted(priority, scores)
    n = s.size
    j = np.arange(1, n + 1)
    return j / n, np.cumsum(s) / j - s.mean()


def rate(priority, scores) -> dict[str, float]:
    """AUTOC and Qini coefficient of a ranking against DR scores."""
    q, toc = toc_curve(priority, scores)
    return {"autoc": float(toc.mean()), "qini": float((q * toc).mean())}


def rate_weights(priority) -> dict[str, np.ndarray]:
    """AUTOC and Qini as linear forms in the scores: ``rate(p, φ)[k] == w[k] @ φ``.

    At sorted position i (1-based, decreasing priority) AUTOC weighs the score by
    (H_n − H_{i−1})/n − 1/n (H the harmonic numbers) and Qini by (n − i + 1)/n² −
    (n + 1)/(2n²); tied priorities share their block's mean weight.
    """
    priority = np.asarray(priority, float)
    n = priority.size
    order = np.argsort(-priority, kind="stable")
    i = np.arange(1, n + 1)
    harmonic = np.cumsum(1.0 / i)
    autoc = (harmonic[-1] - np.r_[0.0, harmonic[:-1]]) / n - 1.0 / n
    qini = (n - i + 1) / n**2 - (n + 1) / (2 * n**2)
    _, start, counts = np.unique(-priority[order], return_index=True, return_counts=True)
    out = {}
    for name, w in (("autoc", autoc), ("qini", qini)):
        block = np.repeat(np.add.reduceat(w, start) / counts, counts)
        full = np.empty(n)
        full[order] = block
        out[name] = full
    return out


def rate_test(
    priority, scores, n_boot: int = 500, seed: int = 0, level: float = 0.95, method: str = "linear"
) -> dict[str, float]:
    """AUTOC and Qini with standard errors, normal intervals and two-sided p-values.

    method ``linear`` (default): with the priorities fixed, each statistic is a weighted
    sum of the scores (`rate_weights`), whose variance is Σ w_i² Var(φ_i), estimated by
    Σ w_i² (φ_i − φ̄)² · n/(n − 1) — exact in form, and right under "no heterogeneity".
    ``bootstrap``: resample patients ``n_boot`` times. In null checks with 69 patients and
    scores shaped like DR scores the bootstrap rejected 8.8% at 5%, the linear form 5.3%
    (docs/benefit.md), so the bootstrap is kept only for comparison.
    NaN p when the standard error is 0 (e.g. a constant ranking).
    """
    priority = np.asarray(priority, float)
    scores = np.asarray(scores, float)
    est = rate(priority, scores)
    n = priority.size
    z = stats.norm.ppf(0.5 + level / 2)
    if method == "linear":
        w = rate_weights(priority)
        centred = scores - scores.mean()
        se = {
            k: float(np.sqrt(np.sum(w[k] ** 2 * centred**2) * n / max(n - 1, 1)))
            for k in ("autoc", "qini")
        }
    elif n_boot >= 2:
        rng = np.random.default_rng(seed)
        reps = np.empty((n_boot, 2))
        for b in range(n_boot):
            idx = rng.integers(0, n, n)
            r = rate(priority[idx], scores[idx])
            reps[b] = r["autoc"], r["qini"]
        se = {"autoc": float(reps[:, 0].std(ddof=1)), "qini": float(reps[:, 1].std(ddof=1))}
    else:
        se = {"autoc": np.nan, "qini": np.nan}
    out: dict[str, float] = {}
    for k in ("autoc", "qini"):
        ok = np.isfinite(se[k]) and se[k] > 1e-12
        p = float(2 * stats.norm.sf(abs(est[k]) / se[k])) if ok else np.nan
        out.update(
            {
                k: est[k],
                f"{k}_se": se[k],
                f"{k}_low": est[k] - z * se[k],
                f"{k}_high": est[k] + z * se[k],
                f"{k}_p": p,
            }
        )
    return out


def combine_sequential(
    parts: list[dict[str, float]], one_sided: bool = False, level: float = 0.95
) -> dict[str, float]:
    """Combine per-fold ``{"estimate", "se"}`` of sequential validation.

    z = Σ t_k / √m with t_k = estimate_k / se_k (folds with se 0 or NaN are left out);
    p two-sided (one-sided for "> 0" with ``one_sided``). The estimate is the mean of the
    fold estimates with SE √(Σ se_k²) / m, a descriptive interval.
    """
    ok = [
        p for p in parts if np.isfinite(p["estimate"]) and np.isfinite(p["se"]) and p["se"] > 1e-12
    ]
    out = {
        "estimate": np.nan,
        "low": np.nan,
        "high": np.nan,
        "z": np.nan,
        "p": np.nan,
        "folds": len(ok),
    }
    if not ok:
        return out
    est = np.array([p["estimate"] for p in ok])
    se = np.array([p["se"] for p in ok])
    z = float(np.sum(est / se) / np.sqrt(len(ok)))
    q = stats.norm.ppf(0.5 + level / 2)
    mean, mse = float(est.mean()), float(np.sqrt(np.sum(se**2)) / len(ok))
    out.update(
        {
            "estimate": mean,
            "low": mean - q * mse,
            "high": mean + q * mse,
            "z": z,
            "p": float(stats.norm.sf(z) if one_sided else 2 * stats.norm.sf(abs(z))),
        }
    )
    return out


# -- best linear projection -----------------------------------------------------------------
def blp_test(predicted, scores) -> dict[str, float]:
    """grf-style calibration test: φ ~ α·mean(τ̂) + β·(τ̂ − mean τ̂), no intercept, HC3 errors.

    Returns alpha (1 when the average benefit is right), beta (1 when the spread is right,
    0 when the predictions carry no information about who benefits), their SEs, the
    two-sided p of alpha = 0 and the one-sided p of beta > 0. Constant predictions give
    NaN for beta (and for alpha too when their mean is 0).
    """
    tau = np.asarray(predicted, float)
    y = np.asarray(scores, float)
    center = float(tau.mean())
    out = dict.fromkeys(("alpha", "alpha_se", "alpha_p", "beta", "beta_se", "beta_p"), np.nan)
    columns = []
    if abs(center) > 1e-12:
        columns.append(("alpha", np.full(tau.size, center)))
    if np.ptp(tau) > 1e-12:
        columns.append(("beta", tau - center))
    if not columns:
        return out
    coef, se = _ols_hc3(np.column_stack([c for _, c in columns]), y)
    dof = y.size - len(columns)
    for (name, _), b, s in zip(columns, coef, se, strict=True):
        out[name], out[f"{name}_se"] = float(b), float(s)
        t = b / s if s > 0 else np.nan
        out[f"{name}_p"] = float(
            2 * stats.t.sf(abs(t), dof) if name == "alpha" else stats.t.sf(t, dof)
        )
    return out


def _ols_hc3(D: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and HC3 heteroskedasticity-robust standard errors."""
    XtX_inv = np.linalg.pinv(D.T @ D)
    coef = XtX_inv @ D.T @ y
    resid = y - D @ coef
    h = np.einsum("ij,jk,ik->i", D, XtX_inv, D)
    w = (resid / np.clip(1.0 - h, 1e-8, None)) ** 2
    cov = XtX_inv @ (D.T * w) @ D @ XtX_inv
    return coef, np.sqrt(np.diag(cov))


# -- calibration for benefit ----------------------------------------------------------------
def benefit_groups(predicted, n_groups: int) -> np.ndarray:
    """Quantile group (0 = lowest predicted benefit) of each patient; ties kept together."""
    from relapse_ml.evaluation.calibration import risk_groups

    return risk_groups(np.asarray(predicted, float), n_groups)


def benefit_calibration(
    predicted, time, event, arm, tau: float, n_groups: int = 5, outcome: str = "relapse"
) -> pd.DataFrame:
    """Observed (Aalen–Johansen by arm) vs mean predicted benefit per predicted-benefit group."""
    predicted = np.asarray(predicted, float)
    time = np.asarray(time, float)
    arm = np.asarray(arm).astype(int)
    ev = outcome_for(event, outcome)
    groups = benefit_groups(predicted, n_groups)
    rows = []
    for g in np.unique(groups):
        m = groups == g
        row = {
            "group": int(g),
            "n": int(m.sum()),
            "n_control": int((m & (arm == 0)).sum()),
            "n_sorafenib": int((m & (arm == 1)).sum()),
            "mean_predicted": float(predicted[m].mean()),
        }
        if row["n_control"] and row["n_sorafenib"]:
            inc = incidence_by_arm(time[m], ev[m], arm[m], tau)
            row.update(
                {
                    "observed": inc["diff"],
                    "observed_low": inc["diff_low"],
                    "observed_high": inc["diff_high"],
                    "inc_control": inc["inc_control"],
                    "inc_sorafenib": inc["inc_sorafenib"],
                }
            )
        rows.append(row)
    return pd.DataFrame(rows)


# -- c-for-benefit --------------------------------------------------------------------------
def match_by_benefit(predicted, arm) -> tuple[np.ndarray, np.ndarray]:
    """1:1 pairs (control index, sorafenib index) matched by rank of predicted benefit.

    The smaller arm is kept whole; from the larger, patients at the matching quantile
    positions of its sorted predictions are taken.
    """
    predicted = np.asarray(predicted, float)
    arm = np.asarray(arm).astype(int)
    c = np.flatnonzero(arm == 0)
    t = np.flatnonzero(arm == 1)
    c = c[np.argsort(predicted[c], kind="stable")]
    t = t[np.argsort(predicted[t], kind="stable")]
    m = min(c.size, t.size)
    if m == 0:
        return np.zeros(0, int), np.zeros(0, int)

    def pick(idx):
        if idx.size == m:
            return idx
        pos = np.floor((np.arange(m) + 0.5) * idx.size / m).astype(int)
        return idx[pos]

    return pick(c), pick(t)


def concordance(pred, obs) -> tuple[float, int]:
    """Harrell-type C of ``pred`` against an ordinal ``obs``: pairs with different obs, ties in
    pred count one half. Returns ``(c, n_comparable_pairs)``."""
    pred = np.asarray(pred, float)
    obs = np.asarray(obs, float)
    levels = np.unique(obs)
    conc = 0.0
    comparable = 0
    for i, lo in enumerate(levels):
        low = np.sort(pred[obs == lo])
        for hi in levels[i + 1 :]:
            high = pred[obs == hi]
            below = np.searchsorted(low, high, side="left")
            ties = np.searchsorted(low, high, side="right") - below
            conc += float(below.sum() + 0.5 * ties.sum())
            comparable += low.size * high.size
    return (conc / comparable if comparable else np.nan), comparable


def c_for_benefit(
    predicted,
    time,
    event,
    arm,
    tau: float,
    outcome: str = "relapse",
    n_boot: int = 0,
    seed: int = 0,
) -> dict[str, float]:
    """c-for-benefit on patients whose status at ``tau`` is known (module docstring).

    n_boot > 0 adds a percentile interval from resampling the matched pairs.
    """
    predicted = np.asarray(predicted, float)
    time = np.asarray(time, float)
    arm = np.asarray(arm).astype(int)
    ev = outcome_for(event, outcome)
    known = status_known(time, ev, tau)
    had = ((ev == 1) & (time <= tau)).astype(float)
    idx = np.flatnonzero(known)
    ci, ti = match_by_benefit(predicted[idx], arm[idx])
    ci, ti = idx[ci], idx[ti]
    pair_pred = (predicted[ci] + predicted[ti]) / 2
    pair_obs = had[ci] - had[ti]
    c, n_comp = concordance(pair_pred, pair_obs)
    out = {
        "c_for_benefit": c,
        "n_pairs": int(ci.size),
        "n_known": int(known.sum()),
        "n_unknown_status": int((~known).sum()),
        "comparable_pairs": int(n_comp),
        "c_low": np.nan,
        "c_high": np.nan,
    }
    if n_boot > 1 and ci.size > 1:
        rng = np.random.default_rng(seed)
        reps = []
        for _ in range(n_boot):
            b = rng.integers(0, ci.size, ci.size)
            reps.append(concordance(pair_pred[b], pair_obs[b])[0])
        reps = np.asarray(reps)
        reps = reps[np.isfinite(reps)]
        if reps.size > 1:
            out["c_low"], out["c_high"] = (float(x) for x in np.quantile(reps, [0.025, 0.975]))
    return out


# -- PATH risk-based analysis ---------------------------------------------------------------
def risk_based(
    baseline_risk, time, event, arm, tau: float, n_groups: int = 4, outcome: str = "relapse"
) -> pd.DataFrame:
    """Benefit by quantile group of baseline predicted risk: absolute and relative scale."""
    risk = np.asarray(baseline_risk, float)
    time = np.asarray(time, float)
    arm = np.asarray(arm).astype(int)
    ev = outcome_for(event, outcome)
    groups = benefit_groups(risk, n_groups)
    rows = []
    for g in np.unique(groups):
        m = groups == g
        row = {
            "risk_group": int(g) + 1,
            "n": int(m.sum()),
            "n_control": int((m & (arm == 0)).sum()),
            "n_sorafenib": int((m & (arm == 1)).sum()),
            "mean_baseline_risk": float(risk[m].mean()),
        }
        if row["n_control"] and row["n_sorafenib"]:
            row.update(incidence_by_arm(time[m], ev[m], arm[m], tau))
            row.update(arm_hazard_ratio(time[m], ev[m], arm[m]))
        rows.append(row)
    return pd.DataFrame(rows)


# -- agreement with a simulation's truth ----------------------------------------------------
def truth_agreement(estimate, true) -> dict[str, float]:
    """Spearman and Pearson correlation, RMSE and mean error of estimates vs true benefit."""
    est = np.asarray(estimate, float)
    tru = np.asarray(true, float)
    ok = np.isfinite(est) & np.isfinite(tru)
    est, tru = est[ok], tru[ok]
    if est.size < 3 or np.ptp(est) == 0 or np.ptp(tru) == 0:
        rho = r = np.nan
    else:
        rho = float(stats.spearmanr(est, tru).statistic)
        r = float(np.corrcoef(est, tru)[0, 1])
    return {
        "spearman": rho,
        "pearson": r,
        "rmse": float(np.sqrt(np.mean((est - tru) ** 2))),
        "bias": float(np.mean(est - tru)),
        "n": int(est.size),
    }
