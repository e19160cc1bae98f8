"""Where a study lives: a local SQLite file by default, PostgreSQL (or any RDB) for many workers.

Each worker beats a heartbeat into the storage while it runs a trial; a trial whose worker
has been silent for the grace period is marked FAIL by the next worker that starts a trial,
and `RetryFailedTrialCallback` queues a copy with the same parameters.
"""

from __future__ import annotations

import os
import random
import socket
import time
from pathlib import Path

from relapse_ml.errors import ConfigError, RelapseMLError

DEFAULT_DB = "optuna.db"
STORAGE_ATTEMPTS = 5


def default_storage_url() -> str:
    """``sqlite:///<working directory>/optuna.db`` (absolute, so the study is found from elsewhere)."""
    return f"sqlite:///{Path.cwd() / DEFAULT_DB}"


def display_url(url: str) -> str:
    """The URL with any password masked, for printing and logging."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL: show only the scheme
        return url.split("://", 1)[0] + "://…"


def worker_id() -> str:
    """This process as a worker: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def driver_url(url: str) -> str:
    """``postgresql://`` with the PostgreSQL driver that is installed named explicitly.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3, while relapse-ml's
    ``postgres`` extra installs psycopg2; ``postgres://`` is accepted as a common alias.
    """
    import importlib.util

    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return url
    for module, dialect in (("psycopg2", "postgresql+psycopg2"), ("psycopg", "postgresql+psycopg")):
        if importlib.util.find_spec(module) is not None:
            return f"{dialect}://{rest}"
    return f"postgresql://{rest}"


def make_storage(
    url: str, heartbeat_interval: int | None, grace_period: int | None, max_retry: int
):
    """An Optuna RDB storage with heartbeat and retry of dead workers' trials."""
    import warnings

    import optuna
    from optuna import storages

    if "://" not in url:
        raise ConfigError(
            f"storage '{url}' is not a database URL; try sqlite:///optuna.db or "
            "postgresql://user:password@host:5432/dbname"
        )
    engine_kwargs = {}
    if url.startswith("sqlite"):
        # several local processes may write at once: wait for the lock rather than fail
        engine_kwargs = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the CLI prints its own lines
    heartbeat = {}
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if heartbeat_interval is not None:
        heartbeat = {
            "heartbeat_interval": heartbeat_interval,
            "grace_period": grace_period or 2 * heartbeat_interval,
        }
        # Optuna 4.9 renamed the retry callback and its argument; accept both generations
        if hasattr(storages, "RetryHeartbeatStaleTrialCallback"):
            heartbeat["heartbeat_stale_trial_callback"] = storages.RetryHeartbeatStaleTrialCallback(
                max_retry=max_retry
            )
        else:
            heartbeat["failed_trial_callback"] = storages.RetryFailedTrialCallback(
                max_retry=max_retry
            )
    # workers starting together on a fresh database race to create Optuna's tables; the
    # loser's CREATE fails on a unique constraint, and a retry finds the tables made
    jitter = random.Random(os.getpid())
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                warnings.simplefilter("ignore", FutureWarning)
                return storages.RDBStorage(
                    driver_url(url), engine_kwargs=engine_kwargs, **heartbeat
                )
        except ImportError as err:
            raise RelapseMLError(
                f"storage {display_url(url)}: the database driver is missing ({err}); "
                "for PostgreSQL install psycopg2-binary"
            ) from None
        except Exception as err:  # SQLAlchemy's errors: say where, not the traceback
            if attempt + 1 < STORAGE_ATTEMPTS and _is_creation_race(err):
                time.sleep(0.5 + jitter.random())
                continue
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RelapseMLError(f"storage {display_url(url)}: cannot open it ({first})") from None


def _is_creation_race(err: Exception) -> bool:
    text = str(err).lower()
    return any(
        s in text for s in ("already exists", "duplicate key", "unique constraint", "locked")
    )


def occupied(study, count_running: bool, before: int | None = None) -> int:
    """Finished trials, plus running ones when a heartbeat vouches that their workers are alive.

    before: count only trials numbered below this one.
    """
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED) + (
        (TrialState.RUNNING,) if count_running else ()
    )
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=states)
        if before is None or t.number < before
    )
