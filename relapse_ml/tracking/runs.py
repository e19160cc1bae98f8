"""List recent runs with their key metrics (reads the tracking store; imports mlflow)."""

from __future__ import annotations

from contextlib import contextmanager

KEY_METRICS = ("c_index", "c_index_ipcw", "auc_tau", "ibs", "ipa_tau", "calibration_slope")


def recent_runs(tracking_uri: str, experiment: str | None = None, limit: int = 20) -> list[dict]:
    """Most recent first: id, name, status, start, final model and its key metrics.

    Listing never creates or changes a store: a local store that does not exist has no runs,
    and a SQLite file is read only when it already holds MLflow's tables. A store that cannot
    be read is a user error naming the URI."""
    from relapse_ml.errors import RelapseMLError

    if not _local_store_exists(tracking_uri):
        return []
    try:
        with _quick_http(tracking_uri):
            return _recent_runs(tracking_uri, experiment, limit)
    except Exception as err:  # an unknown scheme, a server that does not answer
        if type(err).__module__.split(".")[0] in ("mlflow", "sqlalchemy", "requests", "urllib3"):
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RelapseMLError(f"tracking store {tracking_uri} cannot be read ({first})") from None
        raise


def _local_store_exists(uri: str) -> bool:
    """False for a SQLite file or file-store directory that does not exist; a SQLite file
    without MLflow's tables (another database, an empty file) is a user error, checked
    read-only (MLflow would create its tables in it)."""
    import sqlite3
    from pathlib import Path
    from urllib.parse import urlparse

    from relapse_ml.errors import RelapseMLError
    from relapse_ml.utils import open_sqlite_readonly

    if uri.startswith("sqlite:///"):
        con = open_sqlite_readonly(uri)
        if con is None:
            return False
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
        except sqlite3.Error as err:
            raise RelapseMLError(f"tracking store {uri} cannot be read ({err})") from None
        finally:
            con.close()
        if not {"experiments", "runs"} <= tables:
            raise RelapseMLError(f"tracking store {uri}: not an MLflow tracking database "
                                 "(no experiments or runs tables); give the store `train` wrote to")
        return True
    if uri.startswith("file:") or "://" not in uri:
        return Path(urlparse(uri).path if uri.startswith("file:") else uri).exists()
    return True


@contextmanager
def _quick_http(uri: str):
    """For an http(s) store only, and only while listing: no retries and a 15-s timeout,
    unless the user set MLflow's variables (a silent server answers in seconds, not after
    minutes of retries); the environment is restored afterwards."""
    import os

    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}
    added = ([k for k in quick if k not in os.environ]
             if uri.startswith(("http://", "https://")) else [])
    os.environ.update({k: quick[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


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
