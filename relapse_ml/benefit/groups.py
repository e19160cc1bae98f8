"""Observed benefit in groups chosen by the predictions — checks that need no truth.

* Calibration for benefit: quantile groups of predicted benefit; in each, the observed
  benefit = Aalen–Johansen incidence at τ under control − under sorafenib.
* c-for-benefit (van Klaveren et al. 2018): sorafenib and control patients matched 1:1 by
  rank of predicted benefit; observed pair benefit = control outcome − sorafenib outcome
  (−1, 0, 1) from the status at τ; concordance with the pair's mean predicted benefit.
  Only patients whose status at τ is known enter.
* PATH risk-based analysis: quartiles of baseline predicted risk (under control); benefit
  by quartile on the absolute (Aalen–Johansen difference) and relative (hazard ratio) scale.

The rankings and scores tests (RATE, sequential validation, BLP) are in `benefit.heterogeneity`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.arm_stats import arm_hazard_ratio, incidence_by_arm, outcome_for
from relapse_ml.benefit.pseudo import status_known


def benefit_groups(predicted, n_groups: int) -> np.ndarray:
    """Quantile group (0 = lowest predicted benefit) of each patient; ties kept together."""
    from relapse_ml.evaluation.calibration import risk_groups

    return risk_groups(np.asarray(predicted, float), n_groups)


def _quantile_groups(score, time, event, arm, outcome: str, n_groups: int):
    """Per quantile group of ``score``: ``(group, mask, counts, (score, time, outcome events,
    arm))``, the inputs as arrays."""
    score, time = np.asarray(score, float), np.asarray(time, float)
    arm, ev = np.asarray(arm).astype(int), outcome_for(event, outcome)
    groups = benefit_groups(score, n_groups)
    for g in np.unique(groups):
        m = groups == g
        counts = {
            "n": int(m.sum()),
            "n_control": int((m & (arm == 0)).sum()),
            "n_sorafenib": int((m & (arm == 1)).sum()),
        }
        yield int(g), m, counts, (score, time, ev, arm)


def benefit_calibration(
    predicted, time, event, arm, tau: float, n_groups: int = 5, outcome: str = "relapse"
) -> pd.DataFrame:
    """Observed (Aalen–Johansen by arm) vs mean predicted benefit per predicted-benefit group."""
    rows = []
    for g, m, counts, (pred, t, ev, a) in _quantile_groups(
        predicted, time, event, arm, outcome, n_groups
    ):
        row = {"group": g, **counts, "mean_predicted": float(pred[m].mean())}
        if row["n_control"] and row["n_sorafenib"]:
            inc = incidence_by_arm(t[m], ev[m], a[m], tau)
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
    rows = []
    for g, m, counts, (risk, t, ev, a) in _quantile_groups(
        baseline_risk, time, event, arm, outcome, n_groups
    ):
        row = {"risk_group": g + 1, **counts, "mean_baseline_risk": float(risk[m].mean())}
        if row["n_control"] and row["n_sorafenib"]:
            row.update(incidence_by_arm(t[m], ev[m], a[m], tau))
            row.update(arm_hazard_ratio(t[m], ev[m], a[m]))
        rows.append(row)
    return pd.DataFrame(rows)
