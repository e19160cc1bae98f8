"""Registry references scored as fast as a bundle: resolve without MLflow, cache bundles.

``models:/NAME/latest`` (or ``/VERSION``, or ``@ALIAS``) is resolved on every call —
never remembered — by reading the registry directly:

* a SQLite store (``sqlite:///…``, the default): its ``model_versions`` and
  ``registered_model_aliases`` tables, opened read-only with `sqlite3`;
* a tracking server (``http(s)://…``): its REST API (``model-versions/search``), with
  `urllib`;
* any other store (a database server): MLflow's client (slower: imports MLflow).

The version found is identified by the store, the name, the version number and its
``source`` (the logged model it points to), and its bundle is looked up in a local,
checksummed cache (`cache_dir`). Training fills the cache when it registers a version
(`cache_predictor`); a version registered elsewhere (another machine, an older
relapse-ml) is exported into the cache on its first use. A cached bundle is loaded
only after its SHA-256 manifest has been verified (`bundle.read_verified`), so a
damaged cache entry is refused and re-exported, never silently used.

Because "latest" is looked up in the registry on each call, a version registered by
another process or machine a moment ago is the one scored next; a cache entry is never
stale because it is keyed by the immutable (version, source) pair.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from relapse_ml.errors import RelapseMLError

CACHE_ENV = "RELAPSE_ML_BUNDLE_CACHE"
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RegistryVersion:
    """One registered model version, as the registry lists it."""

    uri: str
    name: str
    version: str
    source: str
    run_id: str | None


def parse_ref(ref: str) -> tuple[str, str, str] | None:
    """``("version" | "latest" | "alias", NAME, VALUE)`` of a ``models:/`` reference, else None."""
    if not ref.startswith("models:/"):
        return None
    body = ref[len("models:/") :].strip("/")
    if "@" in body and "/" not in body:
        name, alias = body.split("@", 1)
        return ("alias", name, alias) if name and alias else None
    parts = body.split("/")
    if len(parts) != 2 or not parts[0]:
        return None
    name, version = parts
    if version == "latest":
        return "latest", name, version
    if version.isdigit():
        return "version", name, version
    return None


def resolve(ref: str, uri: str) -> RegistryVersion | None:
    """The version ``ref`` names now; None when this store must be asked through MLflow.

    Raises `RelapseMLError` when the store answers that there is no such model/version.
    """
    parsed = parse_ref(ref)
    if parsed is None:
        return None
    if uri.startswith("sqlite:///"):
        return _resolve_sqlite(ref, parsed, uri)
    if uri.startswith(("http://", "https://")):
        return _resolve_http(ref, parsed, uri)
    return None


def _not_found(ref: str, uri: str, why: str) -> RelapseMLError:
    return RelapseMLError(
        f"model '{ref}' not found in the MLflow store at {uri} ({why}); train one with "
        "`relapse-ml train`, list runs with `relapse-ml runs`, or give a bundle directory"
    )


def _resolve_sqlite(ref: str, parsed, uri: str) -> RegistryVersion:
    from relapse_ml.utils import open_sqlite_readonly

    kind, name, value = parsed
    con = open_sqlite_readonly(uri)
    if con is None:
        raise _not_found(ref, uri, "no tracking database there")
    try:
        live = "status = 'READY' AND current_stage != 'Deleted_Internal'"
        if kind == "alias":
            row = con.execute(
                "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                (name, value),
            ).fetchone()
            if row is None:
                raise _not_found(ref, uri, f"no alias '{value}' of model '{name}'")
            value = str(row[0])
        if kind == "latest":
            row = con.execute(
                f"SELECT version, source, run_id FROM model_versions WHERE name = ? AND {live} "
                "ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
        else:
            row = con.execute(
                f"SELECT version, source, run_id FROM model_versions WHERE name = ? AND {live} "
                "AND version = ?",
                (name, int(value)),
            ).fetchone()
    except sqlite3.OperationalError as err:
        if "no such table" in str(err):
            raise _not_found(ref, uri, "the store has no model registry yet") from None
        raise RelapseMLError(f"tracking store {uri} cannot be read ({err})") from None
    finally:
        con.close()
    if row is None:
        raise _not_found(ref, uri, f"no registered version of '{name}'"
                         + ("" if kind == "latest" else f" numbered {value}"))
    return RegistryVersion(uri, name, str(row[0]), str(row[1]), row[2])


def _resolve_http(ref: str, parsed, uri: str) -> RegistryVersion:
    import urllib.error
    import urllib.parse
    import urllib.request

    kind, name, value = parsed
    base = uri.rstrip("/") + "/api/2.0/mlflow/"
    if kind == "alias":
        path = "registered-models/alias?" + urllib.parse.urlencode({"name": name, "alias": value})
    elif kind == "version":
        path = "model-versions/get?" + urllib.parse.urlencode({"name": name, "version": value})
    else:
        path = "model-versions/search?" + urllib.parse.urlencode(
            {"filter": f"name='{name}'", "max_results": 1000}
        )
    try:
        with urllib.request.urlopen(base + path, timeout=HTTP_TIMEOUT_S) as resp:
            doc = json.loads(resp.read())
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise _not_found(ref, uri, "the server has no such model or version") from None
        raise RelapseMLError(f"tracking server {uri} answered {err.code} for '{ref}'") from None
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise RelapseMLError(f"tracking server {uri} cannot be reached ({err})") from None
    if kind == "latest":
        versions = [
            v for v in doc.get("model_versions", [])
            if v.get("status", "READY") == "READY"
        ]
        if not versions:
            raise _not_found(ref, uri, f"no registered version of '{name}'")
        mv = max(versions, key=lambda v: int(v["version"]))
    else:
        mv = doc.get("model_version") or {}
    if "version" not in mv or "source" not in mv:
        raise RelapseMLError(f"tracking server {uri} gave an unexpected answer for '{ref}'")
    return RegistryVersion(uri, name, str(mv["version"]), str(mv["source"]), mv.get("run_id"))


# -- the local bundle cache -------------------------------------------------------------------
def cache_root(uri: str) -> Path:
    """Where the bundles of the store at ``uri`` are cached.

    ``$RELAPSE_ML_BUNDLE_CACHE/STORE_KEY`` when set; else, for a SQLite store in a writable
    directory, ``DB.bundles/`` beside the database (the cache lives and goes with its store);
    else ``$XDG_CACHE_HOME/relapse-ml/bundles/STORE_KEY`` (default ``~/.cache``).
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / store_key(uri)
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        if os.access(db.parent, os.W_OK):
            return db.with_name(db.name + ".bundles")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relapse-ml" / "bundles" / store_key(uri)


def store_key(uri: str) -> str:
    if uri.startswith("sqlite:///"):
        uri = "sqlite:///" + str(Path(uri[len("sqlite:///") :]).resolve())
    return hashlib.sha256(uri.encode()).hexdigest()[:16]


def cache_dir(v: RegistryVersion) -> Path:
    """Where the bundle of version ``v`` lives: keyed by store, name, version and source."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in v.name)
    source = hashlib.sha256(v.source.encode()).hexdigest()[:12]
    return cache_root(v.uri) / safe / f"v{v.version}-{source}"


def load_cached(v: RegistryVersion, ref: str):
    """The cached bundle of ``v`` as a `ScoringModel` (source: the registry), or None."""
    from relapse_ml.scoring.bundle import BundleError, load_bundle

    d = cache_dir(v)
    if not (d / "manifest.json").is_file():
        return None
    try:
        model = load_bundle(d)
    except BundleError:
        return None  # damaged: re-exported from the registry by the caller
    model.source = {
        "kind": "mlflow",
        "ref": ref,
        "tracking_uri": v.uri,
        "run_id": v.run_id,
        "version": v.version,
        "bundle_sha256": model.source.get("bundle_sha256"),
        "cache": str(d),
    }
    model.info = {**model.info, "model_version": v.version}
    return model


def cache_predictor(predictor, v: RegistryVersion, *, training=None, data=None) -> Path:
    """Export ``predictor`` (version ``v``) into the cache; returns the bundle directory.

    training: the model's landmark training data when at hand (training passes it);
    else ``data`` (a cohort directory) or the demo cohort when its fingerprint matches.
    """
    from relapse_ml.scoring.export import export_predictor

    source = {"kind": "mlflow", "ref": f"models:/{v.name}/{v.version}", "tracking_uri": v.uri,
              "run_id": v.run_id, "version": v.version}
    path, _ = export_predictor(predictor, cache_dir(v), source=source, data=data,
                               training=training, overwrite=True, progress=None)
    return path


def export_to_cache(predictor, v: RegistryVersion, *, training=None, data=None) -> Path:
    """`cache_predictor` under a file lock (two processes may export the same version)."""
    from filelock import FileLock

    d = cache_dir(v)
    d.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(d.with_name(d.name + ".lock")), timeout=600):
        if (d / "manifest.json").is_file():
            from relapse_ml.scoring.bundle import BundleError, read_verified

            try:
                read_verified(d)
                return d
            except BundleError:
                pass  # damaged: export again
        return cache_predictor(predictor, v, training=training, data=data)


# -- entry points -----------------------------------------------------------------------------
def load_registered(ref: str):
    """A `ScoringModel` for a ``models:/`` or ``runs:/`` reference: from the cache when the
    version is there (fast, no MLflow), else loaded through MLflow and cached for next time."""
    from relapse_ml.scoring.model import from_predictor, load_mlflow_predictor
    from relapse_ml.tracking.store import resolve_tracking_uri

    uri = resolve_tracking_uri(None)
    v = resolve(ref, uri) if parse_ref(ref) else None
    if v is None and parse_ref(ref):
        v = _resolve_client(ref, uri)
    if v is not None:
        model = load_cached(v, ref)
        if model is not None:
            return model
    pinned = f"models:/{v.name}/{v.version}" if v is not None else ref
    predictor, source = load_mlflow_predictor(pinned)
    source = {**source, "ref": ref}
    if v is not None:
        try:
            export_to_cache(predictor, v)
        except RelapseMLError:
            pass  # e.g. a tree model whose training cohort is not at hand: score it directly
        else:
            model = load_cached(v, ref)
            if model is not None:
                return model
    return from_predictor(predictor, source)


def cache_registered(predictor, uri: str, name: str, version: str, training=None) -> Path | None:
    """Training's hook: cache the bundle of the version it just registered.

    Never fails training: a version that could not be cached here is exported on first use.
    """
    import warnings

    try:
        ref = f"models:/{name}/{version}"
        v = resolve(ref, uri) or _resolve_client(ref, uri)
        if training is not None and list(training.X.columns) != list(predictor.feature_columns):
            training = None
        return export_to_cache(predictor, v, training=training)
    except Exception as err:  # noqa: BLE001 - an optimisation must not lose a training run
        warnings.warn(
            f"the bundle cache of {name} version {version} was not written ({err}); "
            "`score` will export it on first use",
            stacklevel=2,
        )
        return None


def _resolve_client(ref: str, uri: str) -> RegistryVersion:
    """Resolve through MLflow's client (stores without a direct reader; imports MLflow)."""
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    kind, name, value = parse_ref(ref)
    client = MlflowClient(tracking_uri=uri)
    try:
        if kind == "alias":
            mv = client.get_model_version_by_alias(name, value)
        elif kind == "version":
            mv = client.get_model_version(name, value)
        else:
            versions = client.search_model_versions(f"name='{name}'")
            if not versions:
                raise _not_found(ref, uri, f"no registered version of '{name}'")
            mv = max(versions, key=lambda m: int(m.version))
    except MlflowException as err:
        first = str(getattr(err, "message", err)).splitlines()[0]
        raise _not_found(ref, uri, first) from None
    return RegistryVersion(uri, name, str(mv.version), str(mv.source), mv.run_id)
