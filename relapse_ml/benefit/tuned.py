"""The S-learner whose arm-interaction shrinkage is chosen by the yardstick, inside the
training folds.

For held-out fold k and each candidate interaction scale s (`effect_learners.ShrunkFineGray`),
the S-learner is cross-fitted on the other folds (the model for the rows of fold j excludes
folds j and k) and scored by the τ-risk against DR scores whose nuisance also excludes fold
k; the scale with the lowest τ-risk is then fitted without fold k and predicts fold k. Fold
k's own outcomes shape neither the choice nor the fit. The pairwise fits are memoised
(`learners.FoldFits`), so every scale costs K(K+1)/2 fits, shared with the final refit.
"""

from __future__ import annotations

import numpy as np

from relapse_ml.benefit.config import OUTCOMES, LearnerSpec, TreatmentConfig
from relapse_ml.benefit.yardstick import pseudo_targets, tau_risk_losses


def _benefit(risk: dict, rows) -> dict:
    return {o: risk[o][rows, 0] - risk[o][rows, 1] for o in OUTCOMES}


def cross_fit_shrunk(
    spec: LearnerSpec,
    X,
    time,
    event,
    arm,
    folds,
    tau: float,
    treatment: TreatmentConfig,
    nuisance,
    cache: dict,
):
    """Cross-fitted estimates of a shrunk S-learner (module docstring).

    nuisance: the `learners.FoldFits` of the nuisance T-learner on the same folds.
    Returns ``(BenefitEstimates, {outcome: scale chosen on all folds})``; the latter (from
    the outer cross-fitted τ-risk against the all-patient DR scores) is the scale a refit on
    all patients uses.
    """
    from relapse_ml.benefit.learners import BenefitEstimates

    folds = np.asarray(folds)
    n = folds.size
    fits = shrunk_fits(spec, X, time, event, arm, folds, tau, cache)
    benefit = {o: np.full(n, np.nan) for o in OUTCOMES}
    risk = {o: np.full((n, 2), np.nan) for o in OUTCOMES}
    for k in np.unique(folds):
        k = int(k)
        train, test = folds != k, folds == k
        targets, _ = pseudo_targets(nuisance, tau, treatment, train, frozenset({k}))
        inner = {s: _benefit(f.out_of_fold(frozenset({k}), train), train) for s, f in fits.items()}
        for o in OUTCOMES:
            losses = {s: tau_risk_losses(inner[s][o], targets[o]["phi"]).mean() for s in fits}
            best = min(losses, key=losses.get)
            pred = fits[best].model(frozenset({k})).predict(X.loc[test])
            benefit[o][test] = pred[o][:, 0] - pred[o][:, 1]
            risk[o][test] = pred[o]
    full_scale = full_sample_scale(fits, nuisance, tau, treatment)
    return BenefitEstimates(spec.display, spec.kind, benefit, risk), full_scale


def shrunk_fits(spec: LearnerSpec, X, time, event, arm, folds, tau: float, cache: dict) -> dict:
    """The memoised fold fits of a shrunk S-learner, one set per candidate scale."""
    from relapse_ml.benefit.learners import fold_fits

    return {
        s: fold_fits(spec, X, time, event, arm, folds, tau, cache, scale=float(s))
        for s in spec.shrink
    }


def full_sample_scale(fits: dict, nuisance, tau: float, treatment: TreatmentConfig) -> dict:
    """``{outcome: scale}`` with the lowest cross-fitted τ-risk against the DR scores of all
    rows given: the scale a refit on all of them uses."""
    targets, _ = pseudo_targets(nuisance, tau, treatment)
    outer = {s: f.out_of_fold() for s, f in fits.items()}
    full_scale = {}
    for o in OUTCOMES:
        losses = {
            s: tau_risk_losses(r[o][:, 0] - r[o][:, 1], targets[o]["phi"]).mean()
            for s, r in outer.items()
        }
        full_scale[o] = float(min(losses, key=losses.get))
    return full_scale
