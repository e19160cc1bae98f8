"""Log one training run to MLflow: params, identity tags, metrics, figures, model, registry.

Artifacts hold aggregates, models and figures only — never patient rows.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from relapse_ml.config import TrainConfig, flatten
from relapse_ml.tracking.store import (
    data_fingerprint,
    git_commit,
    mlflow_key,
    mlflow_keys,
    resolve_tracking_uri,
)


def log_training_run(result, cfg: TrainConfig, cohort, ld, force: bool = False) -> None:
    """Fill ``result.run_id``, ``tracking_uri``, ``model_version`` and ``figures``.

    A final model that failed the registration guard is logged but not registered (unless
    ``force``); ``result.registration_refused`` then says why.
    """
    import logging
    import os
    import warnings

    import mlflow

    from relapse_ml.tracking.figures import figures

    # MLflow's own chatter (database creation, pickling advice) is not for our users
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    # a tracking server makes MLflow print "View run" links to stdout, which breaks --json
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    warnings.filterwarnings("ignore", message=".*input example.*")

    from relapse_ml.tracking.lock import open_store

    uri = resolve_tracking_uri(cfg.tracking.tracking_uri)
    open_store(uri, cfg.tracking.experiment)  # safe when many processes create the store at once
    fingerprint = data_fingerprint(cohort.patients, cohort.measurements, cohort.events)
    with mlflow.start_run(run_name=cfg.name) as run:
        mlflow.log_params(mlflow_keys(flatten(cfg)))
        mlflow.set_tags({
            "relapse_ml.kind": "train",
            "relapse_ml.final_model": result.final_model,
            "relapse_ml.data_name": cohort.name,
            "relapse_ml.data_fingerprint": fingerprint,
            "relapse_ml.git_commit": git_commit() or "unknown",
            "relapse_ml.tau_days": str(result.tau),
        })
        mlflow.log_metrics({"n_rows": result.n_rows, "n_patients": result.n_patients,
                            **{f"n_{k}": v for k, v in result.events.items()}})
        metrics = {}
        for row in result.metrics.itertuples(index=False):
            for stat, suffix in (("pooled", ""), ("ci_low", "_ci_low"), ("ci_high", "_ci_high"),
                                 ("mean", "_fold_mean"), ("sd", "_fold_sd")):
                value = getattr(row, stat)
                if value is not None and math.isfinite(value):
                    metrics[f"{row.model}.{row.metric}{suffix}"] = float(value)
        if result.oracle is not None:
            for metric, r in result.oracle.iterrows():
                for col in ("oracle", "ratio"):
                    if math.isfinite(r[col]):
                        metrics[f"oracle.{metric}" if col == "oracle" else f"{result.final_model}.{metric}_oracle_ratio"] = float(r[col])
        by_day = result.oracle_by_landmark
        if by_day is not None and len(by_day):
            for r in by_day.itertuples(index=False):
                if str(r.landmark) == "pooled":
                    continue
                day = f"day_{float(r.landmark):g}"
                for col, key in (("model", f"{result.final_model}.{day}.{r.metric}"),
                                 ("oracle", f"oracle.{day}.{r.metric}")):
                    value = getattr(r, col)
                    if value is not None and math.isfinite(value):
                        metrics[key] = float(value)
        mlflow.log_metrics(mlflow_keys(metrics))
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            result.figures = figures(result, ld, cohort, tmp)
            for path in result.figures.values():
                mlflow.log_artifact(str(path), artifact_path="figures")
            result.metrics.to_csv(tmp / "metrics.csv", index=False)
            mlflow.log_artifact(str(tmp / "metrics.csv"), artifact_path="tables")
            if result.oracle is not None:
                result.oracle.to_csv(tmp / "oracle_comparison.csv")
                mlflow.log_artifact(str(tmp / "oracle_comparison.csv"), artifact_path="tables")
            if by_day is not None and len(by_day):
                by_day.to_csv(tmp / "oracle_by_landmark.csv")
                mlflow.log_artifact(str(tmp / "oracle_by_landmark.csv"), artifact_path="tables")
            (tmp / "training_ranges.json").write_text(json.dumps(result.predictor.training_ranges, indent=1))
            mlflow.log_artifact(str(tmp / "training_ranges.json"), artifact_path="model_card")
        result.predictor.info.update({"run_id": run.info.run_id,
                                      "data_fingerprint": fingerprint})
        for label, w in (result.predictor.info.get("stack_weights") or {}).items():
            mlflow.log_metric(mlflow_key(f"{result.final_model}.weight.{label}"), float(w))
        for cause, v in (result.predictor.info.get("penalizer_chosen") or {}).items():
            mlflow.log_metric(mlflow_key(f"{result.final_model}.penalizer.{cause}"), float(v))
        guard = result.guard
        if guard is not None:
            mlflow.log_metrics({mlflow_key(f"guard.{k}"): v for k, v in guard.to_dict().items()
                                if isinstance(v, float) and math.isfinite(v)})
        register_as = cfg.tracking.register_as
        if register_as and guard is not None and not guard.passed:
            mlflow.set_tag("relapse_ml.registration", "forced" if force else "refused")
            mlflow.set_tag("relapse_ml.registration_guard", guard.reason)
            if not force:
                result.registration_refused = guard.reason
                register_as = None
        if cfg.tracking.log_model:
            from relapse_ml.tracking.pyfunc import log_predictor

            info = log_predictor(result.predictor, list(ld.X.columns), register_as, training=ld)
            version = getattr(info, "registered_model_version", None)
            result.model_version = str(version) if version is not None else None
        result.run_id = run.info.run_id
        result.tracking_uri = uri
