"""A benefit learner refitted: on all patients (the reported estimate's members: the fitted
model and its ``predict``; the constant learner's refit), and on the rows given with the
benefit predicted for new rows (`fit_predict`: what each bootstrap replicate, `intervals`,
and each step of the sequential heterogeneity test, `estimation.sequential_validation`,
refit — every data-driven choice made inside those rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig, TreatmentConfig
from relapse_ml.benefit.folds import make_folds
from relapse_ml.benefit.learner_specs import LearnerSpec
from relapse_ml.benefit.learners import FoldFits, arm_risk_factory, dr_fit_final, fold_fits
from relapse_ml.benefit.tuned import full_sample_scale, shrunk_fits


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


def fit_predict(
    spec: LearnerSpec,
    X: pd.DataFrame,
    time,
    event,
    arm,
    X_new: pd.DataFrame,
    tau: float,
    treatment: TreatmentConfig,
    n_folds: int,
    seed: int,
    groups=None,
    nuisance=None,
) -> dict[str, np.ndarray]:
    """Fit a learner on all rows given and predict the benefit at ``X_new`` (for bootstraps
    and the sequential heterogeneity test).

    The DR learner cross-fits its nuisance internally (folds by ``groups``, so a patient
    drawn twice stays in one fold); a shrunk S-learner chooses its interaction scale on
    these rows (`_fit_predict_shrunk`), judged by DR scores from ``nuisance`` (the config's
    ``heterogeneity.nuisance``, as in the cross-fitted analysis; None: the learner's own model).
    """
    folds = make_folds(arm, event, n_folds, seed, groups)
    if spec.shrink is not None:
        return _fit_predict_shrunk(spec, X, time, event, arm, X_new, tau, treatment, folds,
                                   nuisance or spec.model)
    fits = FoldFits(arm_risk_factory(spec, tau, list(X.columns)), X, time, event, arm, folds)
    if spec.kind not in ("dr", "r"):
        model = fits.make().fit(X, time, event, np.asarray(arm))
        risk = model.predict(X_new)
        return {o: risk[o][:, 0] - risk[o][:, 1] for o in OUTCOMES}
    models = dr_fit_final(fits, tau, spec.final, treatment, seed, kind=spec.kind)
    return {o: models[o].predict(X_new) for o in OUTCOMES}


def _fit_predict_shrunk(spec, X, time, event, arm, X_new, tau, treatment, folds, nuisance):
    """A shrunk S-learner fitted on these rows only: its interaction scale per outcome chosen
    by the cross-fitted yardstick on them (`tuned.full_sample_scale`, the nuisance a
    T-learner on the ``nuisance`` model), then refitted on all of them at that scale. Only
    that choice is made here: the per-fold choices of `tuned.cross_fit_shrunk`, which give
    cross-fitted estimates, are not needed for a refit."""
    cache: dict = {}
    on = (X, time, event, arm, folds, tau)
    t_fits = fold_fits(LearnerSpec(kind="t", model=nuisance, interactions=[]), *on, cache)
    scale = full_sample_scale(shrunk_fits(spec, *on, cache), t_fits, tau, treatment)
    risk = {}
    for s in set(scale.values()):
        model = arm_risk_factory(spec, tau, list(X.columns), s)()
        risk[s] = model.fit(X, time, event, np.asarray(arm)).predict(X_new)
    return {o: risk[scale[o]][o][:, 0] - risk[scale[o]][o][:, 1] for o in OUTCOMES}
