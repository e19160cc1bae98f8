"""List recent runs with their key metrics (reads the tracking store; imports mlflow)."""

from __future__ import annotations

KEY_METRICS = ("c_index", "c_index_ipcw", "auc_tau", "ibs", "ipa_tau", "calibration_slope")


def recent_runs(tracking_uri: str, experiment: str | None = None, limit: int = 20) -> list[dict]:
    """Most recent first: id, name, status, start, final model and its key metrics.

    Listing never creates a store: a SQLite URI whose file does not exist has no runs. A
    store MLflow cannot open is a user error naming the URI."""
    import os
    from pathlib import Path

    if tracking_uri.startswith("sqlite:///") and not Path(tracking_uri[10:]).is_file():
        return []
    # a server that does not answer: a few seconds, not MLflow's minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    try:
        return _recent_runs(tracking_uri, experiment, limit)
    except Exception as err:  # an unknown scheme, a file that is not a database, no server
        from relapse_ml.errors import RelapseMLError

        if type(err).__module__.split(".")[0] in ("mlflow", "sqlalchemy", "requests", "urllib3"):
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RelapseMLError(
                f"tracking store {tracking_uri} cannot be read ({first[:200]}); "
                "allowed: a sqlite:///PATH, a file: directory or an http(s):// server"
            ) from None
        raise


def _recent_runs(tracking_uri: str, experiment: str | None, limit: int) -> list[dict]:
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        exp_ids = [exp.experiment_id] if exp else []
    else:
        exp_ids = [e.experiment_id for e in client.search_experiments()]
    if not exp_ids:
        return []
    runs = client.search_runs(exp_ids, filter_string="tags.`relapse_ml.kind` != ''",
                              order_by=["attributes.start_time DESC"], max_results=limit)
    out = []
    for r in runs:
        final = r.data.tags.get("relapse_ml.final_model", "")
        metrics = {k: r.data.metrics.get(f"{final}.{k}") for k in KEY_METRICS} if final else {}
        out.append({
            "run_id": r.info.run_id,
            "name": r.data.tags.get("mlflow.runName", ""),
            "kind": r.data.tags.get("relapse_ml.kind", ""),
            "status": r.info.status,
            "start_time": r.info.start_time,
            "data": r.data.tags.get("relapse_ml.data_name", ""),
            "final_model": final,
            "metrics": metrics,
        })
    return out
