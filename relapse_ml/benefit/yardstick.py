"""The benefit yardstick without truth: cross-fitted τ-risk and R-loss on held-out patients.

For patient i with DR score φ_i (`pseudo.dr_scores`, nuisance fitted without i's fold) and a
learner's cross-fitted estimate τ̂(x_i) (fitted without i's fold):

    τ-risk = mean_i (φ_i − τ̂(x_i))²
    R-loss = mean_i ((Y*_i − m̂(x_i)) + (a_i − ê_i) τ̂(x_i))²,   m̂ = ê μ̂_1 + (1 − ê) μ̂_0

(τ̂ is the benefit, control minus sorafenib: minus the effect of the arm on the risk).

With the propensity known (a trial) E[φ | x] = τ(x), so τ-risk(A) − τ-risk(B) estimates
MSE(A) − MSE(B) against the true benefit: the pseudo-outcome's noise is common to both and
cancels in the paired difference, whose standard error is that of the mean of per-patient
loss differences. The absolute τ-risk is dominated by that noise and says nothing alone.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, TreatmentConfig
from relapse_ml.benefit.propensity import propensity_scores
from relapse_ml.benefit.pseudo import OUTCOME_CAUSES, dr_scores, ipcw_outcome


def pseudo_targets(
    nuisance,
    tau: float,
    treatment: TreatmentConfig,
    rows=None,
    extra: frozenset = frozenset(),
) -> tuple[dict, dict]:
    """DR scores and R-loss parts for ``rows`` (default: all) from a `learners.FoldFits`
    nuisance T-learner: each row's μ̂ from a fit without its fold and the folds in
    ``extra``; the censoring Kaplan–Meier and the propensity from those rows only.

    Returns ``({outcome: {"phi", "y", "m", "e", "arm"}}, mu)`` (arrays over ``rows``;
    ``mu[o]`` is (n, 2) over all rows, NaN outside ``rows``).
    """
    from relapse_ml.evaluation import censoring_km

    n = len(nuisance.folds)
    rows = np.ones(n, bool) if rows is None else np.asarray(rows, bool)
    mu = nuisance.out_of_fold(extra=extra, rows=rows)
    t, ev, a = nuisance.time[rows], nuisance.event[rows], nuisance.arm[rows].astype(float)
    G = censoring_km(t, ev)
    e = propensity_scores(
        nuisance.X, nuisance.arm, nuisance.folds, rows, treatment, extra, nuisance.propensity_cache
    )[rows]
    out = {}
    for o in OUTCOMES:
        y = ipcw_outcome(t, ev, tau, G, OUTCOME_CAUSES[o])
        mu0, mu1 = mu[o][rows, 0], mu[o][rows, 1]
        out[o] = {
            "phi": dr_scores(mu0, mu1, y, a, e),
            "y": y,
            "m": e * mu1 + (1 - e) * mu0,
            "e": e,
            "arm": a,
        }
    return out, mu


def tau_risk_losses(benefit, phi) -> np.ndarray:
    """Per-patient τ-risk losses (φ_i − τ̂_i)²."""
    return (np.asarray(phi, float) - np.asarray(benefit, float)) ** 2


def r_losses(benefit, target: dict) -> np.ndarray:
    """Per-patient R-losses ((Y* − m̂) + (a − ê) τ̂)² (τ̂ the benefit, module docstring)."""
    b = np.asarray(benefit, float)
    return ((target["y"] - target["m"]) + (target["arm"] - target["e"]) * b) ** 2


def paired(loss_a, loss_b) -> tuple[float, float]:
    """Mean of the per-patient difference loss_a − loss_b and its standard error."""
    d = np.asarray(loss_a, float) - np.asarray(loss_b, float)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else np.nan


def yardstick_table(estimates: dict, targets: dict, baseline: str | None) -> pd.DataFrame:
    """Per learner and outcome: τ-risk and R-loss (with standard errors) and their paired
    difference from the ``baseline`` learner (the constant one): negative = closer to the
    true benefit than the average effect. One row per (learner, outcome)."""
    rows = []
    for o in OUTCOMES:
        tgt = targets[o]
        base = estimates[baseline].benefit[o] if baseline in estimates else None
        for label, est in estimates.items():
            b = est.benefit[o]
            tl, rl = tau_risk_losses(b, tgt["phi"]), r_losses(b, tgt)
            row = {
                "learner": label,
                "outcome": o,
                "tau_risk": float(tl.mean()),
                "tau_risk_se": float(tl.std(ddof=1) / np.sqrt(tl.size)),
                "r_loss": float(rl.mean()),
            }
            if base is not None:
                d, se = paired(tl, tau_risk_losses(base, tgt["phi"]))
                rd, rse = paired(rl, r_losses(base, tgt))
                row.update(
                    {
                        "tau_risk_vs_constant": d,
                        "tau_risk_vs_constant_se": se,
                        "r_loss_vs_constant": rd,
                        "r_loss_vs_constant_se": rse,
                    }
                )
            rows.append(row)
    return pd.DataFrame(rows)
