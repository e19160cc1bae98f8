"""Open a tracking store safely when many processes start at once.

MLflow creates (or migrates) a SQLite store's tables the first time a process touches
it, and ``set_experiment`` creates a missing experiment; neither is safe when several
``train`` / ``tune`` / ``benefit`` / ``subgroups`` processes do it at the same moment
("duplicate column name", "Online migration expected to match one row"). `open_store`
serialises both with a file lock (`filelock`) beside the database, so the first process
creates the store and the others find it ready. Everything after (runs, metrics,
artifacts, registration) is MLflow's own transactional work and needs no lock.

A remote store (``http(s)://``, a database server) is created by its server or its
administrator; for those the lock is a per-machine lock file keyed by the URI, which
still serialises the processes of this machine.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from relapse_ml.errors import RelapseMLError

LOCK_TIMEOUT_S = 300.0


def lock_path(uri: str) -> Path:
    """The lock file serialising the creation of the store at ``uri``."""
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        return db.with_name(db.name + ".lock")
    if uri.startswith("file:") or "://" not in uri:
        root = Path(uri[len("file://") :] if uri.startswith("file://") else uri.removeprefix("file:"))
        return root.with_name(root.name + ".lock")
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"relapse-ml-store-{digest}.lock"


def store_lock(uri: str, timeout: float = LOCK_TIMEOUT_S):
    """A `filelock.FileLock` for the store at ``uri`` (its directory is created)."""
    from filelock import FileLock

    path = lock_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=timeout)


def open_store(uri: str, experiment: str | None = None) -> str | None:
    """Point MLflow at ``uri``, create the store and ``experiment`` under the lock.

    Returns the experiment id (None without ``experiment``). Afterwards the process uses
    MLflow as usual (``mlflow.start_run()`` logs into the experiment).
    """
    import logging

    import mlflow
    from filelock import Timeout
    from mlflow.tracking import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    mlflow.set_tracking_uri(uri)
    try:
        with store_lock(uri):
            client = MlflowClient(tracking_uri=uri)
            client.search_experiments(max_results=1)  # creates / migrates the tables
            if experiment is None:
                return None
            return mlflow.set_experiment(experiment).experiment_id
    except Timeout:
        raise RelapseMLError(
            f"the tracking store {uri} stayed locked for {LOCK_TIMEOUT_S:g} s by another "
            f"process ({lock_path(uri)}); wait for it to finish, or delete that file if no "
            "relapse-ml process is running"
        ) from None
