"""Portable model bundles: a directory of plain JSON files plus a SHA-256 manifest.

Layout (every file listed in ``manifest.json`` with its SHA-256 and size)::

    manifest.json         format, format_version, files {name: {sha256, bytes}}
    model.json            model type and its numbers (coefficients, baselines, ...)
    booster_*.json        XGBoost boosters in XGBoost's own JSON format (tree models)
    features.json         feature columns, config feature names, landmark settings, groups
    training_ranges.json  per-feature min / 1st / 99th percentile / max / share missing
    background.json       the "typical training patient" drivers compare with (aggregates)
    metrics.json          model name, params, cross-validated metrics, run, data fingerprint
    versions.json         bundle format, relapse-ml, Python, numpy, XGBoost versions
    bootstrap/NNN/...     optional: the same model refitted on bootstrap resamples

Nothing is ever unpickled: JSON is parsed, boosters are read by XGBoost's JSON loader.
Loading refuses a bundle whose files do not match the manifest, whose format version
is unknown, or (tree models) whose XGBoost major.minor differs from the installed one.
The checksums detect corruption and edits; they are not a signature (someone who can
rewrite the manifest can rewrite a file): compare ``bundle_sha256`` (the manifest's
own hash, printed by ``score``) with the value published with the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path

from relapse_ml.errors import ModelError, RelapseMLError
from relapse_ml.scoring.model import ScoringModel
from relapse_ml.scoring.numbers import numbers_from_files
from relapse_ml.scoring.predict import TREE_TYPES, dumps
from relapse_ml.utils import atomic_directory

FORMAT = "relapse-ml-bundle"
# 2: a trajectory model's population records the chimerism limit it was fitted with (full
# donor chimerism read as censored); a relapse-ml that reads only version 1 would score such a
# bundle with the exact reading, so it refuses version 2 in one line
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # a version-1 trajectory population reads chimerism as exact
MANIFEST = "manifest.json"


class BundleError(RelapseMLError):
    """A bundle that is missing, tampered with or incompatible (exit 2, one line)."""


def bundle_files(model: ScoringModel) -> dict[str, bytes]:
    """Every file of the bundle but the manifest (``model.numbers`` must be lean numbers)."""
    files = _model_files(model.numbers, "")
    files["features.json"] = dumps(
        {
            "feature_columns": model.feature_columns,
            "features": model.features,
            "landmark_day": model.landmark_day,
            "horizon_days": model.horizon_days,
            "horizons": model.horizons,
            "super_landmark": model.super_landmark,
            "landmarks": model.landmarks,
        }
    )
    files["training_ranges.json"] = dumps(_no_nan(model.training_ranges))
    files["background.json"] = dumps(_no_nan(model.background))
    files["metrics.json"] = dumps(_no_nan(model.info))
    files["versions.json"] = dumps(model.versions)
    if model.replicates:
        files["bootstrap/bootstrap.json"] = dumps(_no_nan(model.bootstrap or {}))
        for i, rep in enumerate(model.replicates, start=1):
            files.update(_model_files(rep, f"bootstrap/{i:03d}/"))
    return files


def library_versions(model_type: str) -> dict:
    """The versions a bundle records (and ``score`` checks)."""
    import numpy

    from relapse_ml import __version__

    out = {
        "bundle_format_version": FORMAT_VERSION,
        "relapse_ml": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "xgboost": None,
    }
    if model_type in TREE_TYPES:
        from relapse_ml.scoring.predict import xgboost_version

        out["xgboost"] = xgboost_version()
    return out


def write_bundle(
    files: dict[str, bytes],
    out: str | os.PathLike,
    overwrite: bool = False,
    fmt: str = FORMAT,
    version: int = FORMAT_VERSION,
) -> Path:
    """Write ``files`` and their manifest atomically: a temporary sibling, then a rename.
    fmt/version: the manifest's format (a benefit export has its own)."""
    with atomic_directory(out, overwrite) as tmp:
        manifest = {"format": fmt, "format_version": version, "files": {}}
        for name, data in sorted(files.items()):
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            manifest["files"][name] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
        (tmp / MANIFEST).write_bytes(dumps(manifest))
    return Path(out)


def read_verified(
    directory: str | os.PathLike,
    fmt: str = FORMAT,
    version_ok: int | tuple[int, ...] = READABLE_VERSIONS,
    what: str = "model bundle",
    create: str = "`relapse-ml export --model REF --out DIR`",
) -> tuple[dict, dict[str, bytes], str]:
    """``(manifest, files, bundle_sha256)`` after checking every file against the manifest.
    fmt/version_ok/what/create: the expected format (``version_ok``: one version, or every
    version this relapse-ml reads) and the words of the errors."""
    d = Path(directory)
    mpath = d / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{d}: not a {what} (no {MANIFEST}); create one with {create}")
    expected = fmt
    raw = mpath.read_bytes()
    try:
        manifest = json.loads(raw)
        entries = manifest["files"]
        fmt, version = manifest["format"], manifest["format_version"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        raise BundleError(
            f"{d}: {MANIFEST} is damaged (not the bundle manifest format); re-export the bundle"
        ) from None
    if fmt != expected:
        raise BundleError(f"{d}: {MANIFEST} is not a {what} manifest (format {fmt!r})")
    readable = version_ok if isinstance(version_ok, tuple) else (version_ok,)
    if version not in readable:
        raise BundleError(
            f"{d}: {what} format version {version!r} is not supported by this relapse-ml (it "
            f"reads version {', '.join(map(str, readable))}); create it again with {create}"
        )
    files = {}
    for name, entry in sorted(entries.items()):
        path = (d / name).resolve()
        if d.resolve() not in path.parents or not path.is_file():
            raise BundleError(
                f"{d}: file {name} listed in {MANIFEST} is missing; re-export the bundle"
            )
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise BundleError(
                f"{d}: {name} does not match its SHA-256 in {MANIFEST} "
                "(tampered or corrupted); refusing to load it — re-export the bundle"
            )
        files[name] = data
    return manifest, files, hashlib.sha256(raw).hexdigest()


def load_bundle(directory: str | os.PathLike) -> ScoringModel:
    """Verify and load a bundle (no pickle; XGBoost JSON for boosters)."""
    d = Path(directory)
    manifest, files, digest = read_verified(d)
    try:
        versions = _json(files, "versions.json")
        feat = _json(files, "features.json")
        model_doc = _json(files, "model.json")
        check_versions(d, versions, model_doc["model_type"])
        columns = list(feat["feature_columns"])
        numbers = _numbers(files, "", columns)
        replicates, boot = [], None
        if "bootstrap/bootstrap.json" in files:
            boot = _json(files, "bootstrap/bootstrap.json")
            prefixes = sorted(
                {
                    n.rsplit("/", 1)[0] + "/"
                    for n in files
                    if n.startswith("bootstrap/") and n.endswith("/model.json")
                }
            )
            replicates = [_numbers(files, p, columns) for p in prefixes]
        return ScoringModel(
            numbers=numbers,
            model_type=model_doc["model_type"],
            feature_columns=columns,
            features=feat["features"],
            landmark_day=float(feat["landmark_day"]),
            horizon_days=float(feat["horizon_days"]),
            horizons=[float(h) for h in feat["horizons"]],
            super_landmark=bool(feat["super_landmark"]),
            landmarks=[float(x) for x in feat["landmarks"]],
            training_ranges=_json(files, "training_ranges.json"),
            background=_json(files, "background.json"),
            info=_json(files, "metrics.json"),
            replicates=replicates,
            bootstrap=boot,
            versions=versions,
            source={"kind": "bundle", "ref": str(d), "bundle_sha256": digest},
        )
    except (KeyError, TypeError, ValueError) as err:
        raise BundleError(
            f"{d}: the bundle's contents are not in the expected format "
            f"({type(err).__name__}: {err}); re-export it"
        ) from None


def check_versions(d: Path, versions: dict, model_type: str) -> None:
    """Refuse a bundle made for another bundle format or another XGBoost major.minor."""
    if versions.get("bundle_format_version") not in READABLE_VERSIONS:
        raise BundleError(
            f"{d}: versions.json says bundle format "
            f"{versions.get('bundle_format_version')!r}; this relapse-ml reads "
            f"{' and '.join(map(str, READABLE_VERSIONS))} — re-export the model"
        )
    if model_type in TREE_TYPES:
        from relapse_ml.scoring.predict import xgboost_version

        want, have = _major_minor(versions.get("xgboost")), _major_minor(xgboost_version())
        if want != have:
            raise BundleError(
                f"{d}: the bundle's boosters were written by XGBoost "
                f"{versions.get('xgboost')}, this environment has {xgboost_version()}"
                " (major.minor must match); re-export the model here or install "
                f"xgboost {versions.get('xgboost')}"
            )


def _model_files(numbers, prefix: str) -> dict[str, bytes]:
    spec, extra = numbers.to_files()
    files = {f"{prefix}{name}": data for name, data in extra.items()}
    files[f"{prefix}model.json"] = dumps({"model_type": numbers.model_type, "spec": spec})
    return files


def _numbers(files: dict[str, bytes], prefix: str, columns: list[str]):
    doc = _json(files, f"{prefix}model.json")
    local = {
        n[len(prefix) :]: data
        for n, data in files.items()
        if n.startswith(prefix) and "/" not in n[len(prefix) :]
    }
    try:
        return numbers_from_files(doc["model_type"], doc["spec"], local, columns)
    except KeyError as err:
        raise ModelError(
            f"{prefix}model.json refers to a file missing from the bundle: {err}"
        ) from None


def _json(files: dict[str, bytes], name: str):
    if name not in files:
        raise BundleError(f"the bundle lacks {name}; re-export it")
    try:
        return json.loads(files[name])
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BundleError(f"{name} in the bundle is not valid JSON; re-export it") from None


def _major_minor(version) -> tuple[str, ...] | None:
    if not version:
        return None
    return tuple(str(version).split(".")[:2])


def _no_nan(obj):
    """JSON has no NaN: store missing numbers as null."""
    if isinstance(obj, dict):
        return {str(k): _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_no_nan(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, str | bytes):
        obj = obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj
