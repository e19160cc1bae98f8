"""One simulated trial, analysed as the trial would be: `run_trial` returns its result rows.

Every analysis reads only what a trial team would have (the contract tables); the truth
is used only to score the reported individual benefit (``benefit_accuracy``,
`design.accuracy`). The
analysis population is the benefit package's: randomized patients alive and relapse-free
at the landmark (day 60, the last randomization day), followed for ``horizon_days``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from relapse_ml.design.config import DesignConfig
from relapse_ml.design.gray import gray_test

RESULT_COLUMNS = (
    "scenario",
    "n",
    "seed",
    "analysis",
    "statistic",
    "p_value",
    "reject",
    "estimate",
    "ci_low",
    "ci_high",
    "p_holm",
    "p_bh",
    "n_at_risk",
    "note",
)
Z95 = 1.959963984540054


def _row(analysis, statistic=np.nan, p=np.nan, alpha=0.05, **extra) -> dict:
    p = float(p) if p is not None else np.nan
    reject = bool(p < alpha) if np.isfinite(p) else None
    return {"analysis": analysis, "statistic": float(statistic), "p_value": p,
            "reject": reject, **extra}


def _z_row(analysis, est, low, high, alpha, log=False) -> dict:
    """A Wald test from an estimate and its 95% interval (on the log scale with ``log``)."""
    f = np.log if log else (lambda x: x)
    null = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        se = (f(high) - f(low)) / (2 * Z95)
        z = (f(est) - null) / se
    from scipy import stats

    p = float(2 * stats.norm.sf(abs(z))) if np.isfinite(z) else np.nan
    return _row(analysis, z, p, alpha, estimate=est, ci_low=low, ci_high=high)


def primary_rows(data, cfg: DesignConfig) -> list[dict]:
    """Relapse and relapse-free survival, sorafenib vs control: Gray's test, the
    cause-specific hazard ratio (Cox; for RFS the all-cause one) and the difference in
    incidence at ``incidence_day`` (control − sorafenib, Aalen–Johansen, jackknife SE)."""
    from relapse_ml.benefit.arm_stats import arm_hazard_ratio, incidence_by_arm, outcome_for

    rows = []
    for outcome in ("relapse", "rfs"):
        ev = outcome_for(data.event, outcome)
        g = gray_test(data.time, ev, data.arm, cause=1)  # score: control minus expected
        rows.append(_row(f"{outcome}:gray", g["chi2"], g["p"], cfg.alpha, estimate=g["score"]))
        hr = arm_hazard_ratio(data.time, ev, data.arm)
        rows.append(_z_row(f"{outcome}:hr", hr["hr"], hr["hr_low"], hr["hr_high"], cfg.alpha, True))
        inc = incidence_by_arm(data.time, ev, data.arm, cfg.tau)
        rows.append(
            _z_row(f"{outcome}:incidence_diff", inc["diff"], inc["diff_low"], inc["diff_high"],
                   cfg.alpha)
        )
    return rows


def heterogeneity_rows(data, bcfg, cfg: DesignConfig, seed: int) -> list[dict]:
    """The pre-specified heterogeneity test: sequential-validation AUTOC of the primary
    learner for relapse, two-sided (`benefit.estimation.sequential_validation`), as
    ``heterogeneity:autoc``; every other learner of the per-trial benefit config
    (``benefit.learners``) the same way, as ``heterogeneity:autoc:LABEL``."""
    from relapse_ml.benefit.estimation import sequential_validation

    primary = bcfg.primary_label
    specs = [bcfg.learner(primary), *[s for s in bcfg.learners if s.display != primary]]
    seq = sequential_validation(bcfg, data, specs=specs, seed=seed + 1)
    rows = []
    for spec in specs:
        name = "heterogeneity:autoc" + ("" if spec.display == primary else f":{spec.display}")
        a = seq.get((spec.display, "relapse"), {}).get("autoc")
        if a is None:
            rows.append(_row(name, note="no sequential fold could be fitted"))
            continue
        rows.append(_row(name, a["z"], a["p"], cfg.alpha, estimate=a["estimate"],
                         ci_low=a["low"], ci_high=a["high"]))
    return rows


def oracle_rows(data, bcfg, cfg: DesignConfig, truth) -> list[dict]:
    """The AUTOC test with the TRUE benefit as the ranking (evaluation only: it reads the
    truth): the power no learner can beat with these outcomes. The ranking owes nothing to
    the outcomes, so it is held fixed and all patients are evaluated with the cross-fitted
    DR scores. ``oracle:{relapse,rfs}:autoc``."""
    from relapse_ml.benefit.data import TRUTH_COLUMNS
    from relapse_ml.benefit.estimation import evaluation_scores
    from relapse_ml.benefit.heterogeneity import rate_test
    from relapse_ml.benefit.learners import make_folds

    if truth is None:
        return [_row("oracle:relapse:autoc", note="truth missing")]
    folds = make_folds(data.arm, data.event, bcfg.crossfit.n_folds, bcfg.crossfit.seed)
    scores, _ = evaluation_scores(bcfg, data, folds, {})
    rows = []
    for o, col in TRUTH_COLUMNS.items():
        r = rate_test(truth[col].to_numpy(float), scores[o])
        z = r["autoc"] / r["autoc_se"] if r["autoc_se"] > 0 else np.nan
        rows.append(_row(f"oracle:{o}:autoc", z, r["autoc_p"], cfg.alpha, estimate=r["autoc"],
                         ci_low=r["autoc_low"], ci_high=r["autoc_high"]))
    return rows


def subgroup_rows(cohort, data, bcfg, cfg: DesignConfig) -> list[dict]:
    """Each pre-specified subgroup's arm x subgroup interaction (Cox Wald test), with Holm
    and Benjamini–Hochberg adjusted p-values; ``reject`` uses the configured correction.
    ``subgroups:any`` rejects when any adjusted p-value is below alpha."""
    from relapse_ml.benefit.arm_stats import (
        benjamini_hochberg,
        holm,
        interaction_test,
        outcome_for,
    )
    from relapse_ml.benefit.subgroups import configured_levels

    levels = configured_levels(cohort, data.patient_id, bcfg)
    ev = outcome_for(data.event, cfg.subgroup_outcome)
    tests = {name: interaction_test(data.time, ev, data.arm, lv) for name, lv in levels.items()}
    raw = np.array([t["p"] for t in tests.values()], float)
    adj = {"holm": holm(raw), "bh": benjamini_hochberg(raw)}
    use = adj[cfg.subgroup_correction]
    rows = []
    for j, (name, t) in enumerate(tests.items()):
        r = _row(f"subgroup:{name}", t["chi2"], raw[j], cfg.alpha, p_holm=adj["holm"][j],
                 p_bh=adj["bh"][j])
        r["reject"] = bool(use[j] < cfg.alpha) if np.isfinite(use[j]) else None
        rows.append(r)
    best = float(np.nanmin(use)) if np.isfinite(use).any() else np.nan
    rows.append(_row("subgroups:any", best, best, cfg.alpha,
                     p_holm=np.nanmin(adj["holm"]) if np.isfinite(raw).any() else np.nan,
                     p_bh=np.nanmin(adj["bh"]) if np.isfinite(raw).any() else np.nan))
    return rows


def run_trial(cfg: DesignConfig, scenario: str, n: int, seed: int) -> dict:
    """`_run_trial` with the numerical libraries on one thread, so that a trial gives the
    same numbers in this process and on any worker (threaded BLAS sums in another order)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_trial(cfg, scenario, n, seed)


def _run_trial(cfg: DesignConfig, scenario: str, n: int, seed: int) -> dict:
    """Simulate trial ``seed`` of ``scenario`` (a label of the config) with ``n`` randomized
    patients and run the configured analyses: ``{"scenario", "n", "seed", "rows", "seconds",
    "cpu_seconds"}`` with rows of `RESULT_COLUMNS`. Deterministic: the same arguments give
    the same rows in any process of the same installation."""
    from relapse_ml.benefit.data import benefit_data
    from relapse_ml.design.accuracy import accuracy_rows, read_truth
    from relapse_ml.errors import RelapseMLError
    from relapse_ml.simulate import simulate_trial

    start = time.perf_counter(), time.process_time()
    spec = cfg.scenario(scenario)
    need_truth = bool({"benefit_accuracy", "oracle"} & set(cfg.analyses))
    trial = simulate_trial(n=int(n), seed=int(seed), scenario=spec.name,
                           landmark_day=int(cfg.landmark_day), horizon_days=int(cfg.horizon_days),
                           truth=need_truth, truth_draws=cfg.truth_draws, effect=spec.effect)
    cohort = trial.to_cohort()
    bcfg = cfg.benefit_config()
    rows: list[dict] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            data = benefit_data(cohort, bcfg)
        except RelapseMLError as err:
            return _finish([_row("primary", note=str(err))], scenario, n, seed, 0, start)
        if "primary" in cfg.analyses:
            rows += primary_rows(data, cfg)
        if "heterogeneity" in cfg.analyses:
            rows += heterogeneity_rows(data, bcfg, cfg, seed)
        if "subgroups" in cfg.analyses:
            rows += subgroup_rows(cohort, data, bcfg, cfg)
        truth = read_truth(trial.truth, data.patient_id) if need_truth else None  # evaluation
        if "oracle" in cfg.analyses:
            rows += oracle_rows(data, bcfg, cfg, truth)
        if "benefit_accuracy" in cfg.analyses:
            for r in accuracy_rows(data, cfg.reported_config(), truth, cfg.accuracy.careful_cox):
                rows.append(_row(r.pop("analysis"), r.pop("statistic", np.nan), **r))
    return _finish(rows, scenario, n, seed, data.n, start)


def _finish(rows, scenario, n, seed, n_at_risk, start) -> dict:
    out = []
    for r in rows:
        full = {c: np.nan for c in RESULT_COLUMNS}
        full.update(scenario=scenario, n=int(n), seed=int(seed), n_at_risk=int(n_at_risk),
                    note="")
        full.update(r)
        out.append(full)
    return {"scenario": scenario, "n": int(n), "seed": int(seed), "rows": out,
            "seconds": time.perf_counter() - start[0],
            "cpu_seconds": time.process_time() - start[1]}
