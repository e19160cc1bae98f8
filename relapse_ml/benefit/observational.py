"""Cohorts whose arm was not randomized: estimated propensity, an adjusted average effect.

A cohort directory whose ``cohort.json`` says ``"randomized": false`` (or a config with
``treatment.assignment: observational``) is analysed as an observational comparison: P(arm
= 1 | x) comes from a cross-fitted logistic regression (`propensity.propensity_scores`), and
the constant learner is the doubly robust (AIPW) average effect — the mean DR score of the
training rows — instead of the unadjusted Aalen–Johansen difference, which would carry the
confounding. The output says plainly that the comparison is observational.
"""

from __future__ import annotations

import numpy as np

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig

OBSERVATIONAL_NOTE = (
    "OBSERVATIONAL comparison: the arm was not randomized. Treatment probabilities are "
    "estimated (cross-fitted logistic regression) and the average effect is the doubly "
    "robust (AIPW) one; every estimate is only as good as the measured confounders."
)


def effective_config(cfg: BenefitConfig, cohort) -> BenefitConfig:
    """``cfg`` with ``treatment.assignment: observational`` when the cohort declares that
    its arm was not randomized."""
    if getattr(cohort, "randomized", None) is False and cfg.treatment.assignment != (
        "observational"
    ):
        return cfg.model_copy(
            update={"treatment": cfg.treatment.model_copy(update={"assignment": "observational"})}
        )
    return cfg


def is_observational(cfg: BenefitConfig) -> bool:
    return cfg.treatment.assignment == "observational"


class FittedConstant:
    """The same benefit for everyone: ``predict(X) -> {outcome: value}``."""

    kind = "constant"

    def __init__(self, value: dict[str, float]):
        self.value = value

    def predict(self, X) -> dict[str, np.ndarray]:
        return {o: np.full(len(X), self.value[o]) for o in OUTCOMES}


def cross_fit_adjusted_constant(spec, nuisance, tau: float, treatment):
    """The AIPW average effect, cross-fitted: fold k gets the mean DR score of the other
    folds (nuisance and censoring fitted without fold k). Returns ``(BenefitEstimates,
    all-data value per outcome)``."""
    from relapse_ml.benefit.learners import BenefitEstimates
    from relapse_ml.benefit.yardstick import pseudo_targets

    folds = nuisance.folds
    n = folds.size
    benefit = {o: np.full(n, np.nan) for o in OUTCOMES}
    for k in np.unique(folds):
        train = folds != k
        targets, _ = pseudo_targets(nuisance, tau, treatment, train, frozenset({int(k)}))
        for o in OUTCOMES:
            benefit[o][folds == k] = float(np.mean(targets[o]["phi"]))
    targets, _ = pseudo_targets(nuisance, tau, treatment)
    full = {o: float(np.mean(targets[o]["phi"])) for o in OUTCOMES}
    nan = {o: np.full((n, 2), np.nan) for o in OUTCOMES}
    return BenefitEstimates(spec.display, spec.kind, benefit, nan), full
