"""The reported individual benefit with its intervals: the step inside ``relapse-ml benefit``
(`reported_step`), its agreement with a simulation's truth (`reported_truth_rows`,
evaluation only) and the public API other commands call (`reported_benefit`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.choice import follows_risk
from relapse_ml.benefit.config import OUTCOMES, BenefitConfig
from relapse_ml.benefit.intervals import bootstrap_reported
from relapse_ml.benefit.reported import selection_procedure


def reported_step(cfg: BenefitConfig, data, folds, cache, estimates, progress=print, keep=None):
    """The reported estimate inside ``relapse-ml benefit``: selection on the analysis'
    cross-fitted estimates, refit, and (``intervals.n_boot`` > 1) the bootstrap that re-runs
    the selection. Returns ``(reported, estimate, lower, upper, interval_info)``.
    keep: a list that receives the replicates' refitted choices (`bootstrap_reported`)."""
    rep = selection_procedure(cfg, data, folds, progress, estimates=estimates, cache=cache)
    est = rep.predict(data.X)
    for o, ch in rep.choices.items():
        progress(f"  reported {o} benefit: {ch.learner} — {ch.reason}")
    if cfg.intervals.n_boot > 1:
        progress(
            f"  bootstrap of the whole selection ({cfg.intervals.n_boot} replicates, "
            f"{cfg.intervals.n_folds} folds each)..."
        )
        lo, hi, info = reported_intervals(cfg, data, rep, est, progress, keep)
    else:
        nan = {o: np.full(data.n, np.nan) for o in OUTCOMES}
        lo, hi, info = nan, dict(nan), {"n_boot": 0, "n_ok": 0}
    return rep, est, lo, hi, info


def reported_intervals(cfg: BenefitConfig, data, rep, est: dict, progress=None, keep=None):
    """The bootstrap that re-runs the selection (`intervals.bootstrap_reported`), widened
    to prediction intervals of each patient's own benefit by the heterogeneity the
    reported estimate leaves unexplained (`prediction`; ``intervals.prediction``).
    Returns ``(lower, upper, info)``."""
    from relapse_ml.benefit.prediction import patient_variances, unexplained_variance, widen

    lo, hi, info = bootstrap_reported(cfg, data, est, progress, rep.chosen_learners, keep)
    if not cfg.intervals.prediction or info["n_ok"] < 2:
        return lo, hi, info
    risk_labels = [s.display for s in cfg.learners if follows_risk(s)]  # + the constant, always
    parts = unexplained_variance(rep, rep.targets, data, risk_labels)
    variances, rep.interval_shape, rep.risk_model = patient_variances(cfg, data, parts)
    for o in OUTCOMES:
        parts[o]["shape"] = "risk" if o in rep.interval_shape else "constant"
    info["unexplained"] = parts
    info["estimate_median_width"] = info.get("median_width")
    for o in OUTCOMES:
        lo[o], hi[o] = widen(est[o], lo[o], hi[o], variances[o], cfg.intervals.level)
    info["median_width"] = {o: float(np.median(hi[o] - lo[o])) for o in OUTCOMES}
    return lo, hi, info


def reported_truth_rows(est: dict, lo: dict, hi: dict, data, truth) -> list[dict]:
    """Agreement of the reported estimate and of the trial's Aalen–Johansen average (all
    patients) with a simulation's true benefit (evaluation only)."""
    from relapse_ml.benefit import heterogeneity as H
    from relapse_ml.benefit.arm_stats import incidence_by_arm, outcome_for
    from relapse_ml.benefit.data import TRUTH_COLUMNS

    rows = []
    for o in OUTCOMES:
        true = truth[TRUTH_COLUMNS[o]].to_numpy(float)
        avg = incidence_by_arm(data.time, outcome_for(data.event, o), data.arm, data.tau)["diff"]
        base = H.truth_agreement(np.full(data.n, avg), true)
        rep = H.truth_agreement(est[o], true)
        rep["rmse_ratio"] = rep["rmse"] / base["rmse"] if base["rmse"] > 0 else np.nan
        has = np.isfinite(lo[o]) & np.isfinite(hi[o])  # none without a bootstrap
        rep["coverage"] = (float(np.mean((lo[o] <= true) & (true <= hi[o])))
                           if has.any() else np.nan)
        for label, m in (("trial_average", base), ("reported", rep)):
            rows.extend(
                {"learner": label, "outcome": o, "metric": f"truth_{k}", "value": v}
                for k, v in m.items()
                if k != "n"
            )
    return rows


def reported_benefit(cohort_or_data, cfg: BenefitConfig | None = None, progress=None):
    """Public API: each randomized patient's reported benefit and its interval.

    cohort_or_data: a cohort (`relapse_ml.data.Cohort`) or a `data.BenefitData`.
    Returns ``(frame, reported, interval_info)``: ``frame`` has ``patient_id`` and, per
    outcome, ``benefit_<o>``, ``benefit_<o>_low``, ``benefit_<o>_high`` (risk at the horizon
    under control minus under sorafenib); ``reported`` the `Reported` (with ``predict`` for
    new patients); ``interval_info`` the bootstrap summary (`intervals.bootstrap_reported`).
    """
    from relapse_ml.benefit.data import BenefitData, benefit_data
    from relapse_ml.benefit.learners import make_folds
    from relapse_ml.benefit.observational import effective_config

    cfg = cfg or BenefitConfig()
    if not isinstance(cohort_or_data, BenefitData):
        cfg = effective_config(cfg, cohort_or_data)
    data = (
        cohort_or_data
        if isinstance(cohort_or_data, BenefitData)
        else benefit_data(cohort_or_data, cfg)
    )
    folds = make_folds(data.arm, data.event, cfg.crossfit.n_folds, cfg.crossfit.seed)
    rep = selection_procedure(cfg, data, folds, progress)
    est = rep.predict(data.X)
    lo, hi, info = reported_intervals(cfg, data, rep, est, progress)
    frame = pd.DataFrame({"patient_id": data.patient_id})
    for o in OUTCOMES:
        frame[f"benefit_{o}"] = est[o]
        frame[f"benefit_{o}_low"] = lo[o]
        frame[f"benefit_{o}_high"] = hi[o]
    return frame, rep, info
