"""Tracking store resolution and run identity (git commit, data fingerprint)."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pandas as pd

DEFAULT_DB = "mlruns.db"
_NOT_MLFLOW = re.compile(r"[^A-Za-z0-9_\-. /]")


def mlflow_key(name: str) -> str:
    """A metric/param name MLflow accepts (alphanumerics, _ - . space /): '+' → '_plus_',
    anything else → '_' — a model label such as 'cox+traj' must not crash the run's logging."""
    return _NOT_MLFLOW.sub("_", str(name).replace("+", "_plus_"))


def mlflow_keys(values: dict) -> dict:
    """``values`` with every key made acceptable to MLflow (`mlflow_key`)."""
    return {mlflow_key(k): v for k, v in values.items()}


def resolve_tracking_uri(configured: str | None = None) -> str:
    """Config value, else ``$MLFLOW_TRACKING_URI``, else a SQLite file in the working directory."""
    if configured:
        return configured
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def ui_command(uri: str) -> str:
    """How to see this store's runs in a browser (a server URL is opened directly)."""
    if uri.startswith(("http://", "https://")):
        return f"open {uri} in a browser"
    return f"mlflow ui --backend-store-uri {uri}"


def data_fingerprint(*frames: pd.DataFrame) -> str:
    """SHA-256 over the tables' contents (order-independent rows); identifies data, reveals none."""
    h = hashlib.sha256()
    for frame in frames:
        cols = sorted(map(str, frame.columns))
        h.update(("|".join(cols) + "\n").encode())
        if len(frame):
            rows = pd.util.hash_pandas_object(frame[cols].astype(str), index=False).to_numpy()
            h.update(b"".join(sorted(int(x).to_bytes(8, "little") for x in rows)))
    return h.hexdigest()


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the code that ran (None outside a git checkout); '+dirty' when modified."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "")
