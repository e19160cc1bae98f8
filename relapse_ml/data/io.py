"""Read and write cohort directories (data contract v2): CSV or Parquet per table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from relapse_ml.data import contract as C
from relapse_ml.data.cohort import Cohort
from relapse_ml.data.validate import TableSource, validate_tables
from relapse_ml.errors import DataValidationError, RelapseMLError, Violation
from relapse_ml.utils import atomic_directory


def _find_table(directory: Path, name: str) -> tuple[Path | None, Violation | None]:
    found = [directory / f"{name}.{ext}" for ext in ("csv", "parquet") if (directory / f"{name}.{ext}").exists()]
    if not found:
        return None, Violation(f"{directory}/{name}.csv", None, None, None,
                               f"table '{name}' not found: the cohort needs {name}.csv or {name}.parquet")
    if len(found) > 1:
        return None, Violation(str(directory), None, None, None,
                               f"both {name}.csv and {name}.parquet exist; keep exactly one")
    return found[0], None


def _read_raw(path: Path) -> TableSource:
    name = path.stem
    if path.suffix == ".csv":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except pd.errors.EmptyDataError:
            frame = pd.DataFrame()
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise DataValidationError(
                [Violation(str(path), None, None, None, f"not a readable CSV file ({str(err).splitlines()[0]})")]
            ) from None
        frame.columns = [str(c).strip() for c in frame.columns]
        return TableSource(name, frame, str(path), first_row=2)
    try:
        frame = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises many types for a corrupt file
        raise DataValidationError(
            [Violation(str(path), None, None, None, f"not a readable Parquet file ({type(err).__name__})")]
        ) from None
    return TableSource(name, frame.reset_index(drop=True), str(path), first_row=1)


def read_cohort_json(directory: Path) -> dict:
    """Read the optional ``cohort.json``; an invalid one is a validation error."""
    path = directory / "cohort.json"
    if not path.exists():
        return {}
    file = str(path)
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataValidationError([Violation(file, err.lineno if hasattr(err, "lineno") else None,
                                             None, None, f"not valid JSON ({err.msg if hasattr(err, 'msg') else err})")]) from None
    if not isinstance(meta, dict):
        raise DataValidationError([Violation(file, None, None, None, "must hold one JSON object")])
    extras = meta.get("extra_columns", {}) or {}
    problems = []
    if not isinstance(extras, dict):
        problems.append(Violation(file, None, "extra_columns", extras,
                                  'allowed: an object {"COLUMN": "number" | "string" | "bool"}'))
    else:
        for col, kind in extras.items():
            if kind not in C.EXTRA_COLUMN_TYPES:
                problems.append(Violation(file, None, f"extra_columns.{col}", kind,
                                          "allowed: " + ", ".join(C.EXTRA_COLUMN_TYPES)))
    problems += check_declarations(meta, file)
    problems += _near_miss_keys(meta, file)
    imputed = meta.get("imputed_columns", {}) or {}
    if isinstance(imputed, list):
        meta["imputed_columns"] = {str(c): "placeholder" for c in imputed}
    elif not isinstance(imputed, dict):
        problems.append(Violation(file, None, "imputed_columns", imputed,
                                  'allowed: an object {"COLUMN": "reason"} or a list of column names'))
    if problems:
        raise DataValidationError(problems)
    return meta


# the cohort.json keys that change what the toolkit does; any other key is free metadata
# (name, source, description, selection, …), but one that looks like a misspelling of these
# is an error: "randomised": false dropped silently would change how `benefit` treats the arm
READ_KEYS = ("extra_columns", "imputed_columns", "unknown_columns", "extra_markers",
             "extra_events", "randomized")


def _near_miss_keys(meta: dict, file: str) -> list[Violation]:
    """Keys close to a key of `READ_KEYS`: the same first four letters and a difflib ratio of
    at least 0.8 (extra_colums, unknown_column), or any other spelling of "random…"
    (randomised, randomization, Randomized)."""
    import difflib

    out = []
    for key in meta:
        k = str(key).lower()
        if key in READ_KEYS:
            continue
        close = [r for r in READ_KEYS
                 if k[:4] == r[:4] and difflib.SequenceMatcher(None, k, r).ratio() >= 0.8]
        if k.startswith("random"):
            close = ["randomized"]
        if close:
            out.append(Violation(file, None, str(key), None,
                                 f"unknown key; did you mean '{close[0]}'? (keys that change "
                                 "what the toolkit does: " + ", ".join(READ_KEYS) + ")"))
    return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def check_declarations(meta: dict, file: str = "cohort.json") -> list[Violation]:
    """Problems of the v2 declarations ``extra_markers`` / ``extra_events`` / ``unknown_columns``.

    Normalises ``meta`` in place (a marker's ``scale`` defaults to ``linear``, an event's
    ``graded`` to false).
    """
    out: list[Violation] = []
    standard = set(C.MARKERS) | set(C.EVENTS)
    for key, allowed_keys, noun in (("extra_markers", C.EXTRA_MARKER_KEYS, "marker"),
                                    ("extra_events", C.EXTRA_EVENT_KEYS, "event")):
        decl = meta.get(key)
        if decl is None:
            continue
        if not isinstance(decl, dict):
            out.append(Violation(file, None, key, str(decl)[:60],
                                 f'allowed: an object {{"NAME": {{{", ".join(allowed_keys)}}}}}'))
            continue
        for name, spec in decl.items():
            where = f"{key}.{name}"
            if name in standard:
                out.append(Violation(file, None, where, name, f"'{name}' is a standard marker or event "
                                     "of the contract and may not be redeclared; choose another name"))
                continue
            if not str(name).strip() or not isinstance(spec, dict):
                out.append(Violation(file, None, where, str(spec)[:60],
                                     f"allowed: a non-empty name and an object with {', '.join(allowed_keys)}"))
                continue
            for k in spec:
                if k not in allowed_keys:
                    out.append(Violation(file, None, f"{where}.{k}", k, "allowed keys: " + ", ".join(allowed_keys)))
            if noun == "event":
                if not isinstance(spec.setdefault("graded", False), bool):
                    out.append(Violation(file, None, f"{where}.graded", spec["graded"], "allowed: true or false"))
                continue
            for k in ("min", "max", "detection_limit"):
                if k in spec and not (_number(spec[k]) and spec[k] >= 0):
                    out.append(Violation(file, None, f"{where}.{k}", spec[k], "allowed: a number ≥ 0"))
            lo, hi = spec.get("min", 0), spec.get("max", float("inf"))
            if _number(lo) and _number(hi) and lo >= hi:
                out.append(Violation(file, None, f"{where}.max", hi, f"allowed: a number above min ({lo})"))
            scale = spec.setdefault("scale", "linear")
            if scale not in C.EXTRA_MARKER_SCALES:
                out.append(Violation(file, None, f"{where}.scale", scale,
                                     "allowed: " + ", ".join(C.EXTRA_MARKER_SCALES)))
            elif scale == "log" and not (_number(spec.get("detection_limit")) and spec["detection_limit"] > 0):
                out.append(Violation(file, None, f"{where}.detection_limit", spec.get("detection_limit"),
                                     "a log-scale marker needs a detection_limit > 0 (the offset of its log)"))
    if "randomized" in meta and not isinstance(meta["randomized"], bool):
        out.append(Violation(file, None, "randomized", meta["randomized"],
                             "allowed: true or false (false: the arm is an observational comparison)"))
    unknown = meta.get("unknown_columns")
    if unknown is not None and not (isinstance(unknown, list)
                                    and all(c in C.PATIENT_CATEGORIES or c == "ecog" for c in unknown)):
        out.append(Violation(file, None, "unknown_columns", str(unknown)[:80],
                             "allowed: a list of categorical baseline columns (or ecog) that the cohort "
                             "records as unknown for every patient: " + ", ".join([*C.PATIENT_CATEGORIES, "ecog"])))
    return out


def read_cohort(directory: str | os.PathLike) -> Cohort:
    """Load and validate a cohort directory; raise `DataValidationError` listing every violation."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RelapseMLError(f"{directory}: not a directory; a cohort is a directory holding "
                             "patients, measurements and events (.csv or .parquet)")
    meta = read_cohort_json(directory)
    paths, missing = {}, []
    for name in C.TABLES:
        path, problem = _find_table(directory, name)
        if problem:
            missing.append(problem)
        paths[name] = path
    if missing:
        raise DataValidationError(missing)
    sources = {name: _read_raw(path) for name, path in paths.items()}
    extras = dict(meta.get("extra_columns", {}) or {})
    parsed, violations = validate_tables(sources["patients"], sources["measurements"], sources["events"], extras,
                                         meta.get("extra_markers"), meta.get("extra_events"))
    if violations:
        raise DataValidationError(violations)
    return _as_cohort(parsed, meta, extras, directory)


def cohort_from_frames(patients: pd.DataFrame, measurements: pd.DataFrame, events: pd.DataFrame,
                       meta: dict | None = None, label: str = "", pandera: bool = True) -> Cohort:
    """Validate in-memory tables (e.g. a single-patient record) into a `Cohort`.

    ``pandera=False``: the same rules checked without importing pandera (one patient's rows)."""
    meta = dict(meta or {})
    problems = check_declarations(meta, f"{label}cohort.json")
    if problems:
        raise DataValidationError(problems)
    extras = dict(meta.get("extra_columns", {}) or {})
    srcs = [TableSource(n, f.reset_index(drop=True), f"{label}{n}", first_row=1)
            for n, f in (("patients", patients), ("measurements", measurements), ("events", events))]
    parsed, violations = validate_tables(*srcs, extra_columns=extras,
                                         extra_markers=meta.get("extra_markers"),
                                         extra_events=meta.get("extra_events"), pandera=pandera)
    if violations:
        raise DataValidationError(violations)
    return _as_cohort(parsed, meta, extras, None)


def _as_cohort(parsed: dict[str, pd.DataFrame], meta: dict, extras: dict, path: Path | None) -> Cohort:
    p = parsed["patients"].reset_index(drop=True)
    p["patient_id"] = p["patient_id"].astype(str)
    m = parsed["measurements"]
    e = parsed["events"]
    for t in (m, e):
        t["patient_id"] = t["patient_id"].astype(str)
    m = m.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True)
    e = e.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True)
    return Cohort(patients=p, measurements=m, events=e,
                  name=str(meta.get("name") or (path.name if path else "cohort")),
                  source=meta.get("source"), extra_columns=extras, path=path,
                  imputed_columns=dict(meta.get("imputed_columns", {}) or {}),
                  extra_markers=dict(meta.get("extra_markers") or {}),
                  extra_events=dict(meta.get("extra_events") or {}),
                  unknown_columns=list(meta.get("unknown_columns") or []),
                  randomized=meta.get("randomized"))


def write_cohort(cohort: Cohort, out_dir: str | os.PathLike, fmt: str = "csv",
                 extra_files: dict[str, str] | None = None, overwrite: bool = False) -> Path:
    """Write a cohort directory atomically (temporary sibling, then rename).

    ``extra_files`` maps file names (e.g. ``truth.csv``) to text written beside the tables.
    """
    with atomic_directory(out_dir, overwrite) as tmp:
        for name, frame in (("patients", cohort.patients), ("measurements", cohort.measurements),
                            ("events", cohort.events)):
            if fmt == "parquet":
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            else:
                frame.to_csv(tmp / f"{name}.csv", index=False)
        meta = {"name": cohort.name, "source": cohort.source, "extra_columns": cohort.extra_columns}
        if cohort.imputed_columns:
            meta["imputed_columns"] = cohort.imputed_columns
        for key in ("extra_markers", "extra_events", "unknown_columns"):
            if getattr(cohort, key, None):
                meta[key] = getattr(cohort, key)
        if getattr(cohort, "randomized", None) is not None:
            meta["randomized"] = cohort.randomized
        (tmp / "cohort.json").write_text(json.dumps(meta, indent=2) + "\n")
        for fname, text in (extra_files or {}).items():
            (tmp / fname).write_text(text)
    return Path(out_dir)
