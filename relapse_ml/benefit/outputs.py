"""What a benefit run leaves behind: the patient table, figures, SHAP explanations,
aggregate tables, the patient-level file the user asks for, and the MLflow run.

MLflow receives aggregates, tables and figures only; patient-level estimates leave the
process only through `save_patients`, to the file the user names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig
from relapse_ml.benefit.data import BenefitData
from relapse_ml.benefit.learners import BenefitEstimates
from relapse_ml.benefit.result import BenefitResult
from relapse_ml.utils import json_safe

OUTCOME_TEXT = {"relapse": "relapse", "rfs": "relapse or death"}


def patient_table(data: BenefitData, estimates: dict[str, BenefitEstimates], mu) -> pd.DataFrame:
    """One row per patient: arm, and per learner and outcome the benefit (risks and interval
    where available). Patient-level: kept in memory, saved only on request."""
    cols = {"patient_id": data.patient_id, "arm": np.where(data.arm == 1, "sorafenib", "control")}
    for o in OUTCOMES:
        cols[f"nuisance_{o}_risk_control"] = mu[o][:, 0]
        cols[f"nuisance_{o}_risk_sorafenib"] = mu[o][:, 1]
    for label, est in estimates.items():
        for o in OUTCOMES:
            cols[f"{label}_{o}_benefit"] = est.benefit[o]
            if np.isfinite(est.risk[o]).any():
                cols[f"{label}_{o}_risk_control"] = est.risk[o][:, 0]
                cols[f"{label}_{o}_risk_sorafenib"] = est.risk[o][:, 1]
            if o in est.lower:
                cols[f"{label}_{o}_benefit_low"] = est.lower[o]
                cols[f"{label}_{o}_benefit_high"] = est.upper[o]
    return pd.DataFrame(cols)


def benefit_figures(result: BenefitResult, out: Path) -> dict[str, Path]:
    """Calibration for benefit, TOC and Qini curves, PATH quartiles (aggregates only)."""
    from relapse_ml.benefit import figures as F

    paths = {}
    for o in OUTCOMES:
        t = result.calibration.get((result.primary, o))
        if t is not None and len(t):
            ax = F.plot_benefit_calibration(
                t,
                outcome=o,
                title=f"Calibration for benefit: {OUTCOME_TEXT[o]} at "
                f"{result.tau:g} days ({result.primary}, cross-fitted)",
            )
            paths[f"benefit_calibration_{o}"] = _save(ax, out / f"benefit_calibration_{o}.png")
        curves = {
            label: result.toc[(label, o)] for label in result.estimates if (label, o) in result.toc
        }
        if curves:
            ax = F.plot_toc(
                curves,
                title=f"TOC, {OUTCOME_TEXT[o]} at {result.tau:g} days "
                "(DR scores; > 0: ranking finds who benefits more)",
            )
            paths[f"toc_{o}"] = _save(ax, out / f"toc_{o}.png")
            ax = F.plot_toc(curves, qini=True, title=f"Qini curve, {OUTCOME_TEXT[o]}")
            paths[f"qini_{o}"] = _save(ax, out / f"qini_{o}.png")
        ax = F.plot_risk_based(
            result.risk_based[o],
            outcome=o,
            title=f"Benefit by quartile of baseline risk (PATH), "
            f"{OUTCOME_TEXT[o]} at {result.tau:g} days",
        )
        paths[f"risk_based_{o}"] = _save(ax, out / f"risk_based_{o}.png")
    return paths


def _save(ax, path: Path) -> Path:
    """Save a figure with room for the text outside its axes (forest plot labels)."""
    import matplotlib.pyplot as plt

    ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    return path


def _json_default(x):
    if isinstance(x, np.integer | np.floating | np.bool_):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    return str(x)


def explain_benefit(
    cfg: BenefitConfig, data: BenefitData, est: BenefitEstimates, mu, out: Path
) -> dict:
    """SHAP of the primary learner's benefit (tree surrogate) and of the relapse-risk model."""
    from relapse_ml.benefit import explain as E

    info: dict = {"figures": {}, "note": E.NOT_CAUSAL, "surrogate": {}}
    patient_level = {}
    for o in OUTCOMES:
        if np.ptp(est.benefit[o]) == 0:
            info["surrogate"][o] = {
                "constant": True,
                "top_features": [],
                "note": "the same estimate for every patient: nothing to explain",
            }
            continue
        sur = E.benefit_surrogate(data.X, est.benefit[o], cfg.explain.surrogate, cfg.crossfit.seed)
        top = E.top_features(sur.values, sur.columns, cfg.explain.top_features)
        imp = E.importance_table(sur.values, sur.columns)
        info["surrogate"][o] = {
            "r2_in_sample": sur.r2,
            "r2_out_of_fold": sur.r2_cv,
            "top_features": top,
            "scale": f"absolute reduction in {OUTCOME_TEXT[o]} risk at {data.tau:g} days",
            "importance": imp.head(15).to_dict(orient="records"),
        }
        path = out / f"shap_benefit_{o}.png"
        E.beeswarm(
            100 * sur.values,
            data.X,
            sur.columns,
            f"SHAP on the estimated benefit ({est.label}, {OUTCOME_TEXT[o]} at "
            f"{data.tau:g} days); surrogate R² {sur.r2:.2f}",
            f"percentage points of absolute reduction in {OUTCOME_TEXT[o]} risk",
            path,
        )
        info["figures"][f"shap_benefit_{o}"] = path
        risk = est.risk[o] if np.isfinite(est.risk[o]).all() else mu[o]
        for feat in top:
            p = out / f"shap_dependence_{o}_{feat}.png"
            E.dependence(feat, data.X, sur, risk, data.tau, OUTCOME_TEXT[o], p)
            info["figures"][f"shap_dependence_{o}_{feat}"] = p
        patient_level[o] = sur
    values, cols, D, scale = E.risk_shap(
        cfg.explain.risk_model, data.X, data.arm, data.time, data.event, data.tau
    )
    if values is not None:
        path = out / "shap_relapse_risk.png"
        E.beeswarm(
            values,
            D,
            cols,
            f"Relapse-risk model ({cfg.explain.risk_model.name})",
            "log cause-specific hazard of relapse",
            path,
        )
        info["figures"]["shap_relapse_risk"] = path
        info["risk_model"] = {
            "scale": scale,
            "importance": E.importance_table(values, cols).head(15).to_dict(orient="records"),
        }
    info["patient_level"] = patient_level
    return info


def write_tables(result: BenefitResult, out: Path) -> dict[str, Path]:
    """Aggregate tables as CSV (metrics, calibration for benefit, PATH, SHAP importance)."""
    paths = {"metrics": out / "benefit_metrics.csv"}
    result.metrics.to_csv(paths["metrics"], index=False)
    cal = [t.assign(learner=k[0], outcome=k[1]) for k, t in result.calibration.items()]
    if cal:
        paths["calibration"] = out / "benefit_calibration.csv"
        pd.concat(cal, ignore_index=True).to_csv(paths["calibration"], index=False)
    paths["risk_based"] = out / "risk_based.csv"
    pd.concat(
        [t.assign(outcome=o) for o, t in result.risk_based.items()], ignore_index=True
    ).to_csv(paths["risk_based"], index=False)
    paths["summary"] = out / "benefit_summary.json"
    summary = result.summary()
    summary.pop("metrics")
    paths["summary"].write_text(json.dumps(json_safe(summary), indent=1, default=_json_default))
    return paths


def save_patients(
    result: BenefitResult, path: Path, surrogates, cfg: BenefitConfig, data: BenefitData
) -> dict[str, str]:
    """Write the patient-level estimates (and per-patient SHAP explanations) where asked.

    All or nothing: the estimates, the explanations and the waterfall figures are written into
    a temporary sibling directory and moved into place only when all are done, so an
    interrupted run leaves none of them (a rerun's waterfalls replace the last run's)."""
    import os
    import shutil
    import tempfile

    check_patient_paths(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        staged = _stage_patient_files(result, path, stage, surrogates, cfg, data)
        for final, tmp in staged.items():
            if final.is_dir():  # only the waterfalls' own directory (check_patient_paths)
                shutil.rmtree(final)
            os.replace(tmp, final)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    names = ("patient_estimates", "explanations", "waterfalls")
    return {k: str(f) for k, f in zip(names, staged, strict=False)}


def patient_paths(path: Path) -> tuple[Path, Path, Path]:
    """The estimates FILE and its siblings FILE_explanations.csv and FILE_waterfalls/."""
    path = Path(path)
    return (path, path.with_name(path.stem + "_explanations.csv"),
            path.with_name(path.stem + "_waterfalls"))


def check_patient_paths(path: Path) -> None:
    """Refuse, before any work, paths `save_patients` could not write without harm: the
    table must be a .csv or .parquet file path, the explanations a file path, and the
    waterfalls either absent or a real directory (it is replaced; a link or a file there is
    refused rather than followed or deleted)."""
    from relapse_ml.errors import RelapseMLError
    from relapse_ml.utils import check_output_file

    table, expl, figs = patient_paths(path)
    check_output_file(table, (".csv", ".parquet"))
    check_output_file(expl)
    if figs.is_symlink() or (figs.exists() and not figs.is_dir()):
        raise RelapseMLError(f"{figs}: exists and is not a directory of figures; move it away "
                             "(--save-patient-estimates writes its waterfall figures there)")


def _stage_patient_files(result, path: Path, stage: Path, surrogates, cfg, data) -> dict:
    """Write every patient-level file into ``stage``; {final path: staged path}, in order."""
    from relapse_ml.benefit import explain as E

    table = result.patient_estimates
    staged = {path: stage / path.name}
    if path.suffix.lower() == ".parquet":
        table.to_parquet(staged[path], index=False)
    else:
        staged[path].write_text(table.to_csv(index=False))
    if not surrogates:
        return staged
    rows = np.arange(data.n)
    parts = [
        E.patient_explanations(s.values, s.base, data.X, data.patient_id, rows).assign(outcome=o)
        for o, s in surrogates.items()
    ]
    _, expl, fig_dir = patient_paths(path)
    staged[expl] = stage / expl.name
    staged[expl].write_text(pd.concat(parts, ignore_index=True).to_csv(index=False))
    sur = surrogates.get("relapse") or next(iter(surrogates.values()))
    order = np.argsort(-sur.fitted)
    picks = list(
        dict.fromkeys(
            [
                *order[: cfg.explain.n_patients // 2 + 1],
                *order[::-1][: cfg.explain.n_patients // 2],
            ]
        )
    )
    staged[fig_dir] = stage / fig_dir.name
    staged[fig_dir].mkdir()
    for r in picks[: cfg.explain.n_patients]:
        E.waterfall(
            100 * sur.values[r],
            100 * sur.base,
            data.X.iloc[r].to_numpy(float),
            sur.columns,
            f"Patient {data.patient_id[r]}: estimated relapse "
            f"benefit at {data.tau:g} days (surrogate)",
            staged[fig_dir] / f"{data.patient_id[r]}.png",
        )
    return staged


def _tracking_start(cfg: BenefitConfig, cohort, kind: str, tau: float):
    import logging

    import mlflow

    from relapse_ml.config import flatten
    from relapse_ml.tracking.store import data_fingerprint, git_commit, resolve_tracking_uri

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    from relapse_ml.tracking.lock import open_store

    uri = resolve_tracking_uri(cfg.tracking.tracking_uri)
    open_store(uri, cfg.tracking.experiment)  # safe when many processes create the store at once
    run = mlflow.start_run(run_name=f"{cfg.name}-{kind}")
    params = flatten(cfg)
    mlflow.log_params({k: v[:500] for k, v in params.items()})
    mlflow.set_tags(
        {
            "relapse_ml.kind": kind,
            "relapse_ml.data_name": cohort.name,
            "relapse_ml.data_fingerprint": data_fingerprint(
                cohort.patients, cohort.measurements, cohort.events
            ),
            "relapse_ml.git_commit": git_commit() or "unknown",
            "relapse_ml.tau_days": str(tau),
        }
    )
    return mlflow, run, uri


def _finite(metrics: dict) -> dict:
    return {
        k: float(v)
        for k, v in metrics.items()
        if v is not None
        and isinstance(v, int | float | np.floating | np.integer)
        and np.isfinite(v)
    }


def log_benefit_run(result: BenefitResult, cfg: BenefitConfig, cohort, tables: dict) -> None:
    """One MLflow run (kind ``benefit``): params, per-learner metrics, figures, tables."""
    mlflow, run, uri = _tracking_start(cfg, cohort, "benefit", result.tau)
    with run:
        mlflow.set_tag("relapse_ml.primary_learner", result.primary)
        m = {
            f"{r.learner}.{r.outcome}.{r.metric}": r.value
            for r in result.metrics.itertuples(index=False)
        }
        m.update({f"average.{o}.{k}": v for o, d in result.average.items() for k, v in d.items()})
        m["heterogeneity.test_autoc_p"] = result.heterogeneity["test_autoc_p"]
        m["heterogeneity.detected"] = float(result.heterogeneity["heterogeneity_detected"])
        for o, s in result.explain.get("surrogate", {}).items():
            if not s.get("constant"):
                m[f"surrogate.{o}.r2"] = s["r2_in_sample"]
                m[f"surrogate.{o}.r2_out_of_fold"] = s["r2_out_of_fold"]
        for o, r in result.reported.items():
            m[f"reported.{o}.mean"] = r["mean"]
            m[f"reported.{o}.median_interval_width"] = r["median_interval_width"]
            mlflow.set_tag(f"relapse_ml.reported_{o}", f"{r['learner']} ({r['kind']})")
        m["n_patients"] = result.n
        mlflow.log_metrics(_finite(m))
        for path in result.figures.values():
            mlflow.log_artifact(str(path), artifact_path="figures")
        for path in tables.values():
            mlflow.log_artifact(str(path), artifact_path="tables")
        result.run_id, result.tracking_uri = run.info.run_id, uri
