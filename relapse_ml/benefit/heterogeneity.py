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
* Calibration for benefit, c-for-benefit and the PATH risk-based analysis: `benefit.groups`.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


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
