"""A benefit learner refitted on all patients (the reported estimate's members): the
fitted model and its ``predict``; the constant learner's refit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig


class FittedBenefit:
    """A learner refitted on all patients: ``predict(X) -> {outcome: benefit}``."""

    def __init__(self, spec, model, kind: str):
        self.spec, self.model, self.kind = spec, model, kind

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        if self.kind in ("dr", "r"):
            return {o: self.model[o].predict(X) for o in OUTCOMES}
        risk = self.model.predict(X)
        return {o: risk[o][:, 0] - risk[o][:, 1] for o in OUTCOMES}


def fit_full(cfg: BenefitConfig, spec, data, folds, scale=None) -> FittedBenefit:
    """Refit one learner on all of ``data`` (DR/R: nuisance cross-fitted on ``folds``)."""
    from relapse_ml.benefit.learners import FoldFits, arm_risk_factory, dr_fit_final

    make = arm_risk_factory(spec, data.tau, list(data.X.columns), scale)
    if spec.kind in ("dr", "r"):
        fits = FoldFits(make, data.X, data.time, data.event, data.arm, folds)
        models = dr_fit_final(
            fits, data.tau, spec.final, cfg.treatment, cfg.crossfit.seed, kind=spec.kind
        )
        return FittedBenefit(spec, models, spec.kind)
    return FittedBenefit(spec, make().fit(data.X, data.time, data.event, data.arm), spec.kind)


def fit_constant(cfg, spec, data, folds, estimates):
    """The constant learner refitted on all patients (the adjusted, AIPW, average effect
    when observational)."""
    if "value" in estimates[spec.display].info:
        from relapse_ml.benefit.observational import FittedConstant

        return FittedConstant(estimates[spec.display].info["value"])
    return fit_full(cfg, spec, data, folds)
