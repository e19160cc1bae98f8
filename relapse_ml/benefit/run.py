"""The benefit pipeline behind ``relapse-ml benefit``: `run_benefit` chains the steps,
draws the figures and logs one MLflow run.

The steps live in their own modules — ``data`` (landmark data, truth), ``estimation``
(learners, DR scores, heterogeneity tests), ``outputs`` (figures, tables, patient file,
MLflow) — and the subgroups pipeline in ``subgroups_run``. Their public names are
re-exported here, so ``from relapse_ml.benefit.run import ...`` keeps working. Patient-level
estimates leave the process only through ``save_patient_estimates``, to the file the user
names.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig
from relapse_ml.benefit.data import (
    MIN_PER_ARM,
    MIN_RELAPSES_PER_ARM,
    TRUTH_COLUMNS,
    BenefitData,
    align_truth,
    benefit_data,
    load_truth,
)
from relapse_ml.benefit.estimation import (
    average_benefit,
    baseline_risk,
    cross_fit_learners,
    evaluation_scores,
    learner_metrics,
    metric,
    nuisance_spec,
    sequential_validation,
)
from relapse_ml.benefit.individual import reported_benefit, reported_step, reported_truth_rows
from relapse_ml.benefit.intervals import bootstrap_intervals
from relapse_ml.benefit.learners import BenefitEstimates
from relapse_ml.benefit.outputs import (
    OUTCOME_TEXT,
    benefit_figures,
    explain_benefit,
    log_benefit_run,
    patient_table,
    save_patients,
    write_tables,
)
from relapse_ml.benefit.result import BenefitResult
from relapse_ml.benefit.subgroups_run import (
    SubgroupResult,
    exploratory_analysis,
    run_subgroups,
    subgroup_analysis,
)

__all__ = [
    "MIN_PER_ARM",
    "MIN_RELAPSES_PER_ARM",
    "OUTCOME_TEXT",
    "TRUTH_COLUMNS",
    "BenefitData",
    "BenefitResult",
    "SubgroupResult",
    "align_truth",
    "average_benefit",
    "baseline_risk",
    "benefit_data",
    "benefit_figures",
    "cross_fit_learners",
    "evaluation_scores",
    "explain_benefit",
    "exploratory_analysis",
    "heterogeneity_decision",
    "learner_metrics",
    "load_truth",
    "log_benefit_run",
    "metric",
    "nuisance_spec",
    "patient_table",
    "reported_benefit",
    "run_benefit",
    "run_subgroups",
    "save_patients",
    "sequential_validation",
    "subgroup_analysis",
    "write_tables",
]


def heterogeneity_decision(metrics: pd.DataFrame, primary: str, alpha: float = 0.05) -> dict:
    """The pre-specified test: sequential-validation AUTOC of the primary learner for
    relapse, two-sided."""
    out = {
        "learner": primary,
        "outcome": "relapse",
        "test": "AUTOC by sequential validation (two-sided)",
        "alpha": alpha,
    }
    for k in (
        "test_autoc",
        "test_autoc_low",
        "test_autoc_high",
        "test_autoc_p",
        "test_blp_beta",
        "test_blp_p",
        "autoc",
        "autoc_low",
        "autoc_high",
    ):
        out[k] = metric(metrics, primary, "relapse", k)
    p = out["test_autoc_p"]
    out["heterogeneity_detected"] = bool(np.isfinite(p) and p < alpha)
    return out


def run_benefit(cfg: BenefitConfig, cohort, **kwargs) -> BenefitResult:
    """Cross-fit every learner, judge them, explain the primary one, log one MLflow run
    (`_run_benefit`), with the numerical libraries on one thread: the fits are many and
    small, where threaded BLAS on a shared 2-core machine is ~10 times slower (measured:
    an SVD of 230 x 40 takes 3.4 ms on two OpenBLAS threads, 0.36 ms on one)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _run_benefit(cfg, cohort, **kwargs)


def _run_benefit(
    cfg: BenefitConfig,
    cohort,
    *,
    track: bool = True,
    progress=print,
    save_patient_estimates: str | Path | None = None,
    out_dir: str | Path | None = None,
    truth: pd.DataFrame | None = None,
    export_benefit: str | Path | None = None,
) -> BenefitResult:
    """`run_benefit`'s body.

    truth: a simulation's truth table (patient_id, benefit, rfs_benefit); default: read
    from the cohort directory when it holds one for this landmark and horizon.
    out_dir: also write the figures and aggregate tables there.
    export_benefit: also write the reported estimate, with its bootstrap replicates, for
    ``relapse-ml score --benefit DIR`` (`benefit.export`).
    """
    from relapse_ml.benefit import groups as G
    from relapse_ml.benefit.observational import OBSERVATIONAL_NOTE, effective_config

    if export_benefit is not None:  # a bad DIR is refused before any work
        from relapse_ml.benefit.export import check_export_dir

        check_export_dir(export_benefit)
    cfg = effective_config(cfg, cohort)
    data = benefit_data(cohort, cfg)
    c = data.counts()
    progress(
        f"{cohort.name}: {data.n} randomized patients at risk at day "
        f"{cfg.landmark.landmark_day:g} (control {c['control']['patients']}, sorafenib "
        f"{c['sorafenib']['patients']}); benefit at {data.tau:g} days after the landmark"
    )
    if cfg.treatment.assignment == "observational":
        progress(f"  {OBSERVATIONAL_NOTE}")
    if data.n_not_randomized:
        progress(f"  ({data.n_not_randomized} patients without an arm left out)")
    truth_frame = (
        align_truth(truth, data.patient_id)
        if truth is not None
        else load_truth(cohort, cfg, data.patient_id)
    )

    estimates, folds, cache = cross_fit_learners(cfg, data, progress)
    scores, mu = evaluation_scores(cfg, data, folds, cache)
    primary = cfg.primary_label
    progress("  heterogeneity test by sequential validation...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sequential = sequential_validation(cfg, data, specs=[cfg.learner(primary)])
        metrics, calibration, toc = learner_metrics(
            cfg, data, estimates, scores, truth_frame, sequential=sequential
        )
        replicates = [] if export_benefit is not None else None
        rep, rep_est, rep_lo, rep_hi, rep_info = reported_step(
            cfg, data, folds, cache, estimates, progress, keep=replicates
        )
    yard = rep.yardstick.melt(id_vars=["learner", "outcome"], var_name="metric")
    extra = [yard]
    if truth_frame is not None:
        extra.append(pd.DataFrame(reported_truth_rows(rep_est, rep_lo, rep_hi, data, truth_frame)))
    metrics = pd.concat([metrics, *extra], ignore_index=True)
    base = baseline_risk(cfg, data, folds, cache)
    risk_based = {
        o: G.risk_based(
            base[o], data.time, data.event, data.arm, data.tau, cfg.heterogeneity.risk_groups, o
        )
        for o in OUTCOMES
    }
    decision = heterogeneity_decision(metrics, primary, cfg.subgroups.alpha)
    result = BenefitResult(
        cohort=cohort.name,
        n=data.n,
        counts=c,
        tau=data.tau,
        primary=primary,
        estimates=estimates,
        metrics=metrics,
        average=average_benefit(scores, data),
        heterogeneity=decision,
        calibration=calibration,
        risk_based=risk_based,
        toc=toc,
        truth_used=truth_frame is not None,
        n_not_randomized=data.n_not_randomized,
        observational=cfg.treatment.assignment == "observational",
    )
    result.reported = {
        o: {
            "learner": ch.learner,
            "kind": ch.kind,
            "method": ch.method,
            "weights": ch.weights,
            "reason": ch.reason,
            "mean": float(np.mean(rep_est[o])),
            "median_interval_width": float(np.median(rep_hi[o] - rep_lo[o])),
        }
        for o, ch in rep.choices.items()
    }
    result.intervals["reported"] = rep_info

    labels = cfg.intervals.learners or []
    if cfg.intervals.n_boot > 1:
        for label in labels:
            progress(f"  bootstrap intervals for {label} ({cfg.intervals.n_boot} refits)...")
            lo, hi, n_ok = bootstrap_intervals(
                cfg.learner(label),
                data.X,
                data.time,
                data.event,
                data.arm,
                data.tau,
                cfg.treatment,
                cfg.crossfit.n_folds,
                cfg.intervals.n_boot,
                cfg.intervals.level,
                cfg.crossfit.seed,
                nuisance=cfg.heterogeneity.nuisance,
            )
            estimates[label].lower, estimates[label].upper = lo, hi
            width = {o: float(np.nanmedian(hi[o] - lo[o])) for o in OUTCOMES}
            result.intervals[label] = {
                "n_boot": cfg.intervals.n_boot,
                "n_ok": n_ok,
                "level": cfg.intervals.level,
                "median_width": width,
            }
    table = patient_table(data, estimates, mu)
    for o in OUTCOMES:
        table[f"benefit_{o}"] = rep_est[o]
        table[f"benefit_{o}_low"] = rep_lo[o]
        table[f"benefit_{o}_high"] = rep_hi[o]
    result.patient_estimates = table
    if export_benefit is not None:
        from relapse_ml.benefit.export import export_benefit as write_export

        path = write_export(
            export_benefit, cfg, data, rep, replicates, rep_est, rep_lo, rep_hi,
            info={"cohort": cohort.name, "patients": data.n, "n_boot": rep_info.get("n_boot"),
                  "n_ok": rep_info.get("n_ok"), "observational": result.observational},
            interval_info=rep_info,
        )
        export_path = str(path)
    reported_est = BenefitEstimates(
        "reported", "reported", rep_est, {o: np.full((data.n, 2), np.nan) for o in OUTCOMES}
    )
    explained = reported_est  # SHAP explains what is reported (zero for a constant)

    with tempfile.TemporaryDirectory() as tmp:
        fig_dir = Path(out_dir) if out_dir is not None else Path(tmp)
        fig_dir.mkdir(parents=True, exist_ok=True)
        result.figures = benefit_figures(result, fig_dir)
        explain = explain_benefit(cfg, data, explained, mu, fig_dir) if cfg.explain.enabled else {}
        if explain:
            explain["explained"] = explained.label
        result.figures.update(explain.pop("figures", {}))
        patient_level = explain.pop("patient_level", None)
        result.explain = explain
        tables = write_tables(result, fig_dir)
        if save_patient_estimates is not None:
            result.saved = save_patients(
                result, Path(save_patient_estimates), patient_level, cfg, data
            )
        if track:
            log_benefit_run(result, cfg, cohort, tables)
        if out_dir is None:
            result.figures = {}
    if export_benefit is not None:
        result.saved["benefit_export"] = export_path
    return result
