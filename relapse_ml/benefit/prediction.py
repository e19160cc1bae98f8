"""Per-patient intervals that aim at each patient's OWN benefit, not at the estimate's mean.

The bootstrap of `intervals.bootstrap_reported` gives the uncertainty of the reported
estimate τ̂(x) — where it would land on another trial of the same size. When the estimate
is the trial's average (or the risk-based one), a patient's own benefit τ_i differs from
it by heterogeneity the estimate does not explain, and an interval of the estimate alone
covers the average, not the patient. Each interval is therefore widened to a prediction
interval,

    τ̂_i ± sqrt(h_i² + (z σ_u)²),

h_i the bootstrap half-width on that side, z the normal quantile of the level, σ_u² the
heterogeneity left unexplained by the reported estimate:

    V̂     = max(V_path + B, max_L D_L)      total variance of the benefit across patients
    B     = max(0, max_L D_L − max(0, max_{L follows risk} D_L))
    σ_u²  = max(0, V̂ − D_reported)

* D_L = τ-risk(constant) − τ-risk(L), cross-fitted (`yardstick`): an estimate of
  MSE(average) − MSE(L) = the part of Var(τ) that learner L explains. It is a LOWER bound
  of Var(τ): heterogeneity no learner finds (and any driven by what the data do not
  record, e.g. the latent disease burden) is not in it.
* V_path = τ̄² (1 − p₀) / p₀ + SE(τ̄)² (1 − p₀) / p₀: the largest variance of the absolute
  benefit when every patient keeps the trial's relative effect (risk under sorafenib =
  RR × risk under control, RR = p₁ / p₀, the PATH assumption) and individual risks are as
  spread as a risk with mean p₀ can be (Var(risk) ≤ p₀(1 − p₀)); τ̄ = p₀ − p₁ the trial's
  Aalen–Johansen average, τ̄² + SE² its expected square given the estimate. An upper bound
  under that assumption, and only under it.
* B: the heterogeneity some learner finds beyond what the best risk-following learner
  (the constant, PATH, an S-learner without arm interactions: one relative effect for
  everyone) finds. It is effect modification — a relative effect that differs between
  patients, or an effect that changes sign in a subgroup — which the PATH assumption
  excludes, so V_path does not contain it and it is added to V_path, not compared with
  it. Without effect modification B ≈ 0 and V̂ is the PATH bound as before; the rule is
  never narrower than max(V_path, max_L D_L).

Shape (``intervals.shape``, per outcome): ``constant`` gives every patient σ_u²; ``risk``
gives patient i σ_u² r_i² / mean(r²), r_i his baseline risk under control from the
S-learner without arm interactions on the heterogeneity nuisance model (arm a covariate;
`baseline_risk_model`, fitted on all analysed patients, exported for ``score``) and the mean
over the analysed patients, so the total stays σ_u². Under a multiplicative latent burden a
patient's unexplained deviation scales with his risk: the constant shape is too wide for
low-risk patients and too narrow for high-risk ones (measured in
``experiments/benefit_interval_shape.py``, rule fixed before its trials).

The assumption is stated in ``docs/benefit.md``: without it nothing in data of one outcome
per patient identifies how much patients with the same recorded features differ.
Modelling code only: no simulation truth is read here.
"""

from __future__ import annotations

import numpy as np

from relapse_ml.benefit.config import OUTCOMES
from relapse_ml.benefit.yardstick import tau_risk_losses
from relapse_ml.scoring.benefit_model import (  # noqa: F401 (one implementation, numpy-only)
    shaped_variance,
    widen,
)


def reported_cross_fitted(rep, outcome: str) -> np.ndarray:
    """The reported estimate's cross-fitted values (weights and offset of the choice over
    the learners' cross-fitted estimates; a shrunk S-learner's label carries ``@scale``)."""
    ch = rep.choices[outcome]
    return ch.offset + sum(
        w * rep.estimates[lab.split("@")[0]].benefit[outcome] for lab, w in ch.weights.items()
    )


def path_variance_bound(time, event, arm, tau: float, outcome: str) -> dict:
    """V_path (module docstring) from the trial's Aalen–Johansen risks by arm."""
    from relapse_ml.benefit.arm_stats import Z95, incidence_by_arm, outcome_for

    aj = incidence_by_arm(time, outcome_for(event, outcome), arm, tau)
    p0, diff = float(aj["inc_control"]), float(aj["diff"])
    se = (float(aj["diff_high"]) - diff) / Z95
    p0 = min(max(p0, 1e-3), 1 - 1e-3)
    return {"v_path": (diff**2 + se**2) * (1 - p0) / p0, "p0": p0, "average": diff, "se": se}


def unexplained_variance(rep, targets: dict, data, risk_labels=()) -> dict[str, dict]:
    """σ_u² per outcome and its parts (module docstring).

    rep: a `reported.Reported` with the cross-fitted ``estimates`` (the constant learner
    among them); targets: the yardstick's DR scores ``{outcome: {"phi": ...}}``;
    risk_labels: the learners whose benefit follows baseline risk alone
    (`reported.follows_risk`; the constant always counts).
    """
    from relapse_ml.benefit.choice import CONSTANT

    out = {}
    const = next(lab for lab, e in rep.estimates.items() if e.kind == CONSTANT.kind)
    follows = {const, *(lab for lab in risk_labels if lab in rep.estimates)}
    for o in OUTCOMES:
        phi = targets[o]["phi"]
        risk = {lab: tau_risk_losses(e.benefit[o], phi).mean() for lab, e in rep.estimates.items()}
        explained = {lab: risk[const] - r for lab, r in risk.items()}
        d_rep = risk[const] - tau_risk_losses(reported_cross_fitted(rep, o), phi).mean()
        bound = path_variance_bound(data.time, data.event, data.arm, data.tau, o)
        best = max(explained, key=explained.get)
        by_risk = max(0.0, max(explained[lab] for lab in follows))
        beyond = max(0.0, explained[best] - by_risk)
        v_total = max(bound["v_path"] + beyond, explained[best])
        out[o] = {
            "sigma2": float(max(0.0, v_total - d_rep)),
            "v_total": float(v_total),
            "v_path": float(bound["v_path"]),
            "explained_best": float(explained[best]),
            "best": best,
            "explained_by_risk": float(by_risk),
            "beyond_path": float(beyond),
            "explained_reported": float(d_rep),
        }
    return out


def baseline_risk_model(cfg, data):
    """The baseline-risk model of the ``risk`` shape (module docstring), fitted on all of
    ``data``: a `refit.FittedBenefit` whose ``model.predict`` gives risks by arm."""
    from relapse_ml.benefit.estimation import nuisance_spec
    from relapse_ml.benefit.learners import arm_risk_factory
    from relapse_ml.benefit.refit import FittedBenefit

    spec = nuisance_spec(cfg, "s")
    model = arm_risk_factory(spec, data.tau, list(data.X.columns))()
    return FittedBenefit(spec, model.fit(data.X, data.time, data.event, np.asarray(data.arm)), "s")


def control_risk(risk_model, X) -> dict[str, np.ndarray]:
    """Each row's risk at the horizon under control, per outcome."""
    risk = risk_model.model.predict(X)
    return {o: risk[o][:, 0] for o in OUTCOMES}


def patient_variances(cfg, data, parts: dict):
    """σ_i² per outcome for the analysed patients (``intervals.shape``) and the shape to
    export: ``(variances, shape, risk_model)``; ``shape`` holds only the risk-shaped outcomes,
    risk_model is None when there is none."""
    wanted = [o for o in OUTCOMES if cfg.intervals.shape[o] == "risk"]
    model = baseline_risk_model(cfg, data) if wanted else None
    risk = control_risk(model, data.X) if model is not None else {}
    variances, shape = {}, {}
    for o in OUTCOMES:
        mean_r2 = float(np.mean(np.clip(risk[o], 0, 1) ** 2)) if o in wanted else np.nan
        if np.isfinite(mean_r2) and mean_r2 > 0:  # else (no risk, a NaN risk): constant
            shape[o] = {"shape": "risk", "mean_r2": mean_r2}
        variances[o] = shaped_variance(parts[o]["sigma2"], shape.get(o), risk.get(o))
    return variances, shape, model if shape else None
