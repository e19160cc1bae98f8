"""Comparisons of the two arms inside a group of patients: the Aalen–Johansen incidence at τ
by arm and its difference (jackknife 95% interval), the Cox hazard ratio of sorafenib vs
control, the Wald test of an arm × subgroup interaction, and the Holm and Benjamini–Hochberg
adjustments across subgroups.

For relapse the hazard is cause-specific: non-relapse death censors it in the Cox model
(right for a cause-specific hazard ratio), while absolute risks always come from the
Aalen–Johansen estimator, never from 1 − Kaplan–Meier. For relapse or death (``rfs``) the
event is either, and there is no competing risk.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from relapse_ml.benefit.pseudo import OUTCOME_CAUSES

Z95 = 1.959963984540054


# -- estimates within a group ---------------------------------------------------------------
def outcome_for(event, outcome: str) -> np.ndarray:
    """Event codes with ``outcome``'s causes as 1 and the rest of the events as 2."""
    event = np.asarray(event)
    causes = OUTCOME_CAUSES[outcome]
    return np.where(np.isin(event, causes), 1, np.where(event != 0, 2, 0))


def incidence_with_se(time, event, tau: float) -> tuple[float, float]:
    """Aalen–Johansen incidence of cause 1 at ``tau`` and its jackknife standard error."""
    from relapse_ml.evaluation import leave_one_out_incidence
    from relapse_ml.models import aalen_johansen

    time, event = np.asarray(time, float), np.asarray(event)
    n = time.size
    if n == 0:
        return np.nan, np.nan
    f = float(aalen_johansen(time, event, [tau], cause=1)[0])
    if n < 2:
        return f, np.nan
    loo = leave_one_out_incidence(time, event, tau, 1)
    return f, float(np.sqrt((n - 1) / n * np.sum((loo - loo.mean()) ** 2)))


def incidence_by_arm(time, event, arm, tau: float) -> dict[str, float]:
    """Incidence at ``tau`` per arm (cause 1 of ``event``) and control − sorafenib with 95% CI."""
    arm = np.asarray(arm)
    f0, se0 = incidence_with_se(time[arm == 0], event[arm == 0], tau)
    f1, se1 = incidence_with_se(time[arm == 1], event[arm == 1], tau)
    diff, se = f0 - f1, float(np.hypot(se0, se1))
    return {
        "inc_control": f0,
        "inc_sorafenib": f1,
        "diff": diff,
        "diff_low": diff - Z95 * se,
        "diff_high": diff + Z95 * se,
    }


def _cox(df: pd.DataFrame):
    """A fitted lifelines Cox model (duration ``_t``, event ``_e``), or None if it fails."""
    from lifelines import CoxPHFitter

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return CoxPHFitter().fit(df, duration_col="_t", event_col="_e")
    except Exception:  # separation or no events: the estimate does not exist
        return None


def arm_hazard_ratio(time, event, arm) -> dict[str, float]:
    """Hazard ratio of sorafenib vs control for cause 1 of ``event`` (others censored)."""
    status = np.asarray(event) == 1
    arm = np.asarray(arm, dtype=float)
    nan = {"hr": np.nan, "hr_low": np.nan, "hr_high": np.nan}
    if not (status & (arm == 0)).any() or not (status & (arm == 1)).any():
        return nan
    fit = _cox(pd.DataFrame({"_t": time, "_e": status.astype(int), "arm": arm}))
    if fit is None:
        return nan
    b, se = float(fit.params_["arm"]), float(fit.standard_errors_["arm"])
    return {"hr": np.exp(b), "hr_low": np.exp(b - Z95 * se), "hr_high": np.exp(b + Z95 * se)}


def interaction_test(time, event, arm, level: pd.Series) -> dict[str, float]:
    """Wald test of the arm × level terms in a Cox model (cause 1 of ``event``; rows with an
    unknown level left out): chi-square with (levels − 1) degrees of freedom."""
    known = level.notna().to_numpy()
    lv = level[known].astype(str)
    cats = sorted(lv.unique())
    if len(cats) < 2:
        return {"chi2": np.nan, "df": 0, "p": np.nan}
    df = pd.DataFrame(
        {
            "_t": np.asarray(time)[known],
            "_e": (np.asarray(event)[known] == 1).astype(int),
            "arm": np.asarray(arm, float)[known],
        }
    )
    inter = []
    for j, c in enumerate(cats[1:]):
        d = (lv == c).to_numpy(float)
        df[f"g{j}"] = d
        df[f"arm_x_g{j}"] = d * df["arm"].to_numpy()
        inter.append(f"arm_x_g{j}")
    fit = _cox(df)
    if fit is None:
        return {"chi2": np.nan, "df": len(inter), "p": np.nan}
    beta = fit.params_[inter].to_numpy()
    V = fit.variance_matrix_.loc[inter, inter].to_numpy()
    try:
        chi2 = float(beta @ np.linalg.solve(V, beta))
    except np.linalg.LinAlgError:
        return {"chi2": np.nan, "df": len(inter), "p": np.nan}
    if not np.isfinite(chi2):
        return {"chi2": np.nan, "df": len(inter), "p": np.nan}
    return {"chi2": chi2, "df": len(inter), "p": float(stats.chi2.sf(chi2, len(inter)))}


# -- multiplicity ---------------------------------------------------------------------------
def holm(p) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries stay NaN and are not counted)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (`scipy.stats.false_discovery_control`); NaN
    entries stay NaN and are not counted."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out
