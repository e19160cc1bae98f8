"""The single-patient file (data contract): JSON -> a validated one-patient `Cohort`.

``{"patient": {...}, "measurements": [...], "events": [...], "landmark_day": 60}``, plus
an optional ``"extra_columns": {"COLUMN": "number" | "string" | "bool"}`` declaring extra
patient columns (as ``cohort.json`` does for a cohort). The landmark is the visit day;
only data on or before it is used (`relapse_ml.features` cuts it). A record at a visit
need not carry a ``last_followup`` event: when it has no relapse, death or follow-up
event, the visit counts as follow-up (``last_followup`` on the latest recorded day, at
least the landmark) — the patient is alive at the visit.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from relapse_ml.errors import RelapseMLError

TOP_LEVEL = ("patient", "measurements", "events", "landmark_day", "extra_columns")
OUTCOME_EVENTS = ("relapse", "death", "last_followup")
MAX_DAY = 4000.0
MAX_BYTES = 20_000_000  # one patient's file (JSON or FHIR Bundle)
MAX_DEPTH = 40  # nesting of JSON objects and lists


@dataclass
class PatientRecord:
    """A validated one-patient cohort and the landmark (visit) day it is scored at."""

    cohort: object  # relapse_ml.data.Cohort with one patient
    landmark_day: float
    source: str
    visit_as_followup: bool  # a last_followup was added for the visit

    @property
    def patient_id(self) -> str:
        return str(self.cohort.patients["patient_id"].iloc[0])


def read_patient_file(
    path: str | os.PathLike,
    landmark_day: float | None = None,
    default_landmark: float | None = None,
) -> PatientRecord:
    """Read, validate and check a single-patient JSON file (errors name the field)."""
    path = Path(path)
    return patient_from_dict(
        parse_json(read_text(path), path.name), path.name, landmark_day, default_landmark
    )


def read_text(path: Path) -> str:
    """A one-patient file's text (at most `MAX_BYTES`), errors in one line."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise RelapseMLError(
                f"{path.name}: {size:,} bytes is too large for one patient's file "
                f"(at most {MAX_BYTES:,})"
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RelapseMLError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RelapseMLError(f"{path}: cannot be read ({type(err).__name__})") from None


def parse_json(text: str, label: str):
    """Strict JSON for one patient: no NaN/Infinity, no repeated key in an object, nested at
    most `MAX_DEPTH` levels (each refused in one line, never a traceback)."""

    def no_constant(name):
        raise RelapseMLError(f"{label}: {name} is not a JSON number (numbers must be finite)")

    def no_repeats(pairs):
        keys = [k for k, _ in pairs]
        for k in keys:
            if keys.count(k) > 1:
                raise RelapseMLError(f"{label}: key '{k[:40]}' appears twice in one object")
        return dict(pairs)

    try:
        doc = json.loads(text, parse_constant=no_constant, object_pairs_hook=no_repeats)
    except json.JSONDecodeError as err:
        raise RelapseMLError(
            f"{label}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from None
    except RecursionError:
        raise RelapseMLError(f"{label}: nested too deeply (at most {MAX_DEPTH} levels)") from None
    stack = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RelapseMLError(f"{label}: nested too deeply (at most {MAX_DEPTH} levels)")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return doc


def patient_from_dict(
    doc,
    label: str = "patient",
    landmark_day: float | None = None,
    default_landmark: float | None = None,
) -> PatientRecord:
    """Validate a parsed single-patient document into a `PatientRecord`.

    landmark_day: overrides the document's ``landmark_day``; ``default_landmark`` is used
        when neither gives one (the model's landmark).
    """
    import pandas as pd

    from relapse_ml.data import cohort_from_frames

    if not isinstance(doc, dict):
        raise RelapseMLError(
            f"{label}: must hold one JSON object with keys {', '.join(TOP_LEVEL[:4])}"
        )
    unknown = [k for k in doc if k not in TOP_LEVEL]
    if unknown:
        raise RelapseMLError(
            f"{label}: unknown key '{unknown[0]}'; allowed: {', '.join(TOP_LEVEL)}"
        )
    patient = doc.get("patient")
    if not isinstance(patient, dict):
        raise RelapseMLError(
            f"{label}: 'patient' must be an object with one patients row "
            "(patient_id, age, sex, ...)"
        )
    pid = patient.get("patient_id")
    if pid is None or str(pid).strip() == "":
        raise RelapseMLError(f"{label}: patient.patient_id is required (a de-identified id)")
    pid = str(pid)
    L = _landmark(
        label,
        landmark_day if landmark_day is not None else doc.get("landmark_day", default_landmark),
    )
    tables = {}
    for key, required in (
        ("measurements", ("day", "marker", "value")),
        ("events", ("day", "event")),
    ):
        rows = doc.get(key, [])
        if rows is None:
            rows = []
        if not isinstance(rows, list):
            raise RelapseMLError(f"{label}: '{key}' must be a list of objects")
        clean = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise RelapseMLError(f"{label}: {key}[{i}] must be an object")
            if "patient_id" in row and str(row["patient_id"]) != pid:
                raise RelapseMLError(
                    f"{label}: {key}[{i}].patient_id {row['patient_id']!r} is not "
                    f"the patient's id {pid!r}"
                )
            clean.append({**row, "patient_id": pid})
        tables[key] = pd.DataFrame(clean, columns=None if clean else ["patient_id", *required])
    events = tables["events"]
    added = False
    if not (len(events) and events["event"].isin(OUTCOME_EVENTS).any()):
        last = max([L, *_days(tables["measurements"]), *_days(events)])
        follow = pd.DataFrame(
            [{"patient_id": pid, "day": min(last, MAX_DAY), "event": "last_followup"}]
        )
        events = pd.concat([events, follow], ignore_index=True) if len(events) else follow
        added = True
    extras = doc.get("extra_columns") or {}
    if not isinstance(extras, dict):
        raise RelapseMLError(
            f"{label}: 'extra_columns' must be an object "
            '{"COLUMN": "number" | "string" | "bool"}'
        )
    from relapse_ml.data.validate import _IDENTIFIER_NAME

    for name in extras:  # declaring a column does not make a name or a date de-identified
        if _IDENTIFIER_NAME.search(str(name)):
            raise RelapseMLError(
                f"{label}: extra column '{str(name)[:40]}' looks like a calendar date or a direct "
                "identifier (name, birth date, record number); the format is de-identified"
            )
    cohort = cohort_from_frames(
        pd.DataFrame([patient]),
        tables["measurements"],
        events,
        meta={"name": label, "extra_columns": extras},
        label=f"{label}: ",
        pandera=False,  # one patient's few rows: the contract's rules without importing pandera
    )
    check_at_risk(cohort, L)
    return PatientRecord(cohort=cohort, landmark_day=L, source=label, visit_as_followup=added)


def check_at_risk(cohort, landmark_day: float) -> None:
    """Refuse a landmark on or after the patient's relapse or death (the model's population
    is patients alive and relapse-free at the landmark)."""
    outcome = cohort.outcome.iloc[0]
    if int(outcome["event"]) in (1, 2) and float(outcome["time"]) <= landmark_day:
        what = "relapse" if int(outcome["event"]) == 1 else "death"
        raise RelapseMLError(
            f"landmark day {landmark_day:g} is on or after the patient's {what} on day "
            f"{float(outcome['time']):g}; the model scores patients alive and relapse-free at the "
            "landmark — choose an earlier --landmark-day"
        )


def record_from_cohort(cohort, patient_id: str, landmark_day: float | None = None) -> dict:
    """One patient of a cohort as a single-patient document (for tests and examples)."""
    pid = str(patient_id)
    p = cohort.patients[cohort.patients["patient_id"] == pid]
    if p.empty:
        raise RelapseMLError(f"patient {pid!r} is not in the cohort")
    doc = {
        "patient": _row_dict(p.iloc[0]),
        "measurements": [
            _row_dict(r, drop=("patient_id",))
            for _, r in cohort.measurements[cohort.measurements["patient_id"] == pid].iterrows()
        ],
        "events": [
            _row_dict(r, drop=("patient_id",))
            for _, r in cohort.events[cohort.events["patient_id"] == pid].iterrows()
        ],
    }
    if cohort.extra_columns:
        doc["extra_columns"] = dict(cohort.extra_columns)
    if landmark_day is not None:
        doc["landmark_day"] = float(landmark_day)
    return doc


def _row_dict(row, drop=()) -> dict:
    out = {}
    for k, v in row.items():
        if k in drop or v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        if hasattr(v, "item"):
            v = v.item()
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out[str(k)] = v
    return out


def _landmark(label: str, value) -> float:
    if value is None:
        raise RelapseMLError(
            f"{label}: no landmark_day: give one in the file or with --landmark-day"
        )
    if isinstance(value, bool):
        value = "bool"
    try:
        L = float(value)
    except (TypeError, ValueError):
        raise RelapseMLError(
            f"{label}: landmark_day must be a number of days since transplant, got {value!r}"
        ) from None
    if not math.isfinite(L) or not 0 <= L <= MAX_DAY:
        raise RelapseMLError(
            f"{label}: landmark_day must be between 0 and {MAX_DAY:g} days since "
            f"transplant, got {value!r}"
        )
    return L


def _days(frame) -> list[float]:
    import pandas as pd

    if "day" not in frame or not len(frame):
        return []
    d = pd.to_numeric(frame["day"], errors="coerce").dropna()
    return [float(d.max())] if len(d) else []
