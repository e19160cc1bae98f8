"""Validate the three contract tables: every violation, located by table, row and column.

Per-column rules (types, codes, ranges, uniqueness) run through pandera schemas built
from `relapse_ml.data.schemas` (one patient's few rows: the same rules without pandera);
rules that span rows or tables (events after death, orphan ids, outcome present) are
checked here with vectorised pandas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from relapse_ml.data import contract as C
from relapse_ml.data.schemas import (
    ColumnSpec,
    direct_failures,
    extra_spec,
    pandera_schema,
    specs_for,
)
from relapse_ml.errors import Violation

# Column names that betray a calendar date or a direct identifier (the format is de-identified).
_IDENTIFIER_NAME = re.compile(
    r"(^|_)(name|names|first_?name|last_?name|surname|given_?name|birth|dob|mrn|"
    r"medical_?record|record_?number|ssn|social_?security|phone|email|e_mail|address|"
    r"zip|postcode|passport|national_?id|date|datetime|timestamp)($|_)",
    re.IGNORECASE,
)
_DATE_VALUE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T].*)?\s*$"
)
_TRUE = {"true", "1", "yes", "y", "t", "1.0"}
_FALSE = {"false", "0", "no", "n", "f", "0.0"}


@dataclass
class TableSource:
    """A raw table plus how its rows map to what the user sees (file name, line numbers)."""

    name: str  # "patients" | "measurements" | "events"
    frame: pd.DataFrame
    file: str  # e.g. "patients.csv"
    first_row: int = 2  # line of the first data row (CSV: header is line 1)


def _row(src: TableSource, idx) -> int:
    return int(idx) + src.first_row


def _parse(src: TableSource, specs: list[ColumnSpec]) -> tuple[pd.DataFrame, list[Violation]]:
    """Parse raw strings into typed columns; unparseable cells become violations and NaN."""
    out = pd.DataFrame(index=src.frame.index)
    errors: list[Violation] = []
    for spec in specs:
        if spec.name not in src.frame:
            continue
        raw = src.frame[spec.name]
        if raw.dtype == object or pd.api.types.is_string_dtype(raw.dtype):
            text = raw.astype("string").str.strip()
            blank = text.isna() | (text == "")
        else:
            text = None
            blank = raw.isna()
        if spec.kind in ("number", "integer"):
            values = pd.to_numeric(raw, errors="coerce").astype(float)
            bad = values.isna() & ~blank
            for idx in np.flatnonzero(bad.to_numpy()):
                value = raw.iloc[idx]
                hint = spec.allowed
                if isinstance(value, str) and _DATE_VALUE.match(value):
                    hint = "looks like a calendar date; times are days since transplant (day 0), " + hint
                errors.append(Violation(src.file, _row(src, raw.index[idx]), spec.name, value, hint))
            out[spec.name] = values
        elif spec.kind == "bool":
            if text is None:
                values = pd.to_numeric(raw, errors="coerce").astype(float)
                bad = ~values.isin([0.0, 1.0]) & ~blank
            else:
                low = text.str.lower()
                values = pd.Series(np.nan, index=raw.index, dtype=float)
                values[low.isin(_TRUE).fillna(False).to_numpy(bool)] = 1.0
                values[low.isin(_FALSE).fillna(False).to_numpy(bool)] = 0.0
                bad = values.isna() & ~blank
            for idx in np.flatnonzero(bad.to_numpy()):
                errors.append(
                    Violation(src.file, _row(src, raw.index[idx]), spec.name, raw.iloc[idx], spec.allowed)
                )
            out[spec.name] = values.where(~bad)
        else:
            values = (text if text is not None else raw.astype("string")).astype(object)
            values = values.where(~blank, np.nan)
            out[spec.name] = values
    return out, errors


def _spec_violations(src: TableSource, parsed: pd.DataFrame, specs: list[ColumnSpec],
                     skip: set[tuple[int, str]], pandera: bool = True) -> list[Violation]:
    """The per-column rules of ``specs`` (`relapse_ml.data.schemas.value_checks`, nullable,
    unique), run by pandera or, for one patient's few rows, by `direct_failures`."""
    by_name = {s.name: s for s in specs}
    present = [s for s in specs if s.name in parsed]
    if pandera:
        cases = _pandera_failures(parsed, present)
    else:
        cases = direct_failures(parsed, present)
    out = []
    seen = set(skip)
    for index, col, check in cases:
        if col not in by_name or index is None or (isinstance(index, float) and np.isnan(index)):
            continue
        row = _row(src, index)
        if (row, col) in seen:
            continue
        seen.add((row, col))
        value = src.frame[col].loc[index] if col in src.frame else parsed[col].loc[index]
        spec = by_name[col]
        allowed = spec.allowed
        if check == "not_nullable":
            allowed = "required value is empty; " + allowed
        elif check == "field_uniqueness":
            allowed = "duplicate value; " + allowed
        out.append(Violation(src.file, row, col, None if pd.isna(value) else value, allowed))
    return out


def _pandera_failures(parsed: pd.DataFrame, specs: list[ColumnSpec]) -> list[tuple[object, str, str]]:
    import pandera.pandas as pa

    try:
        pandera_schema(specs).validate(parsed, lazy=True)
    except pa.errors.SchemaErrors as err:
        return [(c.index, c.column, c.check) for c in err.failure_cases.itertuples(index=False)]
    return []


def _column_violations(src: TableSource, specs: list[ColumnSpec], declared_extras: set[str]) -> list[Violation]:
    out = []
    known = {s.name for s in specs}
    for s in specs:
        if s.required and s.name not in src.frame.columns:
            out.append(Violation(src.file, None, s.name, None,
                                 f"required column is missing; {src.name} needs: "
                                 + ", ".join(x.name for x in specs if x.required)))
    for col in src.frame.columns:
        if col in known:
            continue
        if _IDENTIFIER_NAME.search(str(col)):
            out.append(Violation(src.file, None, str(col), None,
                                 "looks like a calendar date or a direct identifier (name, birth date, "
                                 "record number); the format is de-identified — remove the column, "
                                 "express times as days since transplant"))
        elif src.name == "patients":
            out.append(Violation(src.file, None, str(col), None,
                                 "undeclared extra column; declare it in cohort.json as "
                                 f'{{"extra_columns": {{"{col}": "number" | "string" | "bool"}}}} or remove it'))
        else:
            out.append(Violation(src.file, None, str(col), None,
                                 f"unknown column; {src.name} allows: " + ", ".join(sorted(known))))
    # date-like values hidden in free-text columns
    for s in specs:
        if s.kind in ("string", "category") and s.name in src.frame and s.name != "patient_id":
            text = src.frame[s.name].astype("string")
            hit = text.str.match(_DATE_VALUE).fillna(False).to_numpy(bool)
            for idx in np.flatnonzero(hit)[:50]:
                out.append(Violation(src.file, _row(src, src.frame.index[idx]), s.name, text.iloc[idx],
                                     "looks like a calendar date; the format is de-identified — "
                                     "use days since transplant"))
    return out


def validate_tables(
    patients: TableSource,
    measurements: TableSource,
    events: TableSource,
    extra_columns: dict[str, str] | None = None,
    extra_markers: dict[str, dict] | None = None,
    extra_events: dict[str, dict] | None = None,
    pandera: bool = True,
) -> tuple[dict[str, pd.DataFrame], list[Violation]]:
    """Check every rule of the contract; return the parsed tables and all violations.

    ``pandera=False`` runs the same per-column rules without pandera (`direct_failures`):
    for one patient's few rows, where importing pandera (~0.3 s) costs more than the check.

    ``extra_markers`` / ``extra_events``: the cohort's declarations (contract v2, checked
    by `relapse_ml.data.io.check_declarations`), allowed beside the standard names.
    """
    extra_columns = extra_columns or {}
    extra_markers = extra_markers or {}
    extra_events = extra_events or {}
    violations: list[Violation] = []
    parsed: dict[str, pd.DataFrame] = {}
    for src in (patients, measurements, events):
        specs = list(specs_for(src.name, extra_markers, extra_events))
        if src.name == "patients":
            specs += [extra_spec(n, t) for n, t in extra_columns.items() if n not in {s.name for s in specs}]
        violations += _column_violations(src, specs, set(extra_columns))
        frame, errs = _parse(src, specs)
        violations += errs
        skip = {(v.row, v.column) for v in errs}
        violations += _spec_violations(src, frame, specs, skip, pandera)
        # keep undeclared columns out of the parsed frame (already reported)
        parsed[src.name] = frame

    violations += _marker_rules(measurements, parsed["measurements"], extra_markers)
    violations += _event_rules(events, parsed["events"], extra_events)
    violations += _cross_table_rules(patients, measurements, events, parsed)
    return parsed, violations


def _marker_rules(src: TableSource, m: pd.DataFrame, extra_markers: dict) -> list[Violation]:
    out = []
    if not {"marker", "value"} <= set(m.columns):
        return out
    ranges = dict(C.MARKERS)
    for name, spec in extra_markers.items():
        ranges[name] = (float(spec.get("min", 0.0)), float(spec.get("max", float("inf"))))
    for marker, (lo, hi) in ranges.items():
        sel = (m["marker"] == marker) & m["value"].notna()
        # a non-finite value is the value column's own violation (one line per cell)
        bad = sel & np.isfinite(m["value"]) & ((m["value"] < lo) | (m["value"] > hi))
        for idx in m.index[bad.to_numpy(bool)]:
            rng = f"{lo:g}–{hi:g}" if np.isfinite(hi) else f"≥ {lo:g}"
            out.append(Violation(src.file, _row(src, idx), "value", src.frame.at[idx, "value"],
                                 f"allowed for marker '{marker}': {rng}"))
    return out


def _event_rules(src: TableSource, e: pd.DataFrame, extra_events: dict) -> list[Violation]:
    out = []
    if "event" not in e:
        return out
    grade = e["grade"] if "grade" in e else pd.Series(np.nan, index=e.index)
    for name, spec in extra_events.items():
        if spec.get("graded", False):
            continue
        bad = ((e["event"] == name) & grade.notna()).to_numpy(bool)
        for idx in e.index[bad][:200]:
            out.append(Violation(src.file, _row(src, idx), "grade", src.frame.at[idx, "grade"],
                                 f"event '{name}' is declared with graded: false in cohort.json; "
                                 "leave grade empty or declare it graded: true"))
    for name, rng in C.EVENTS.items():
        sel = (e["event"] == name).to_numpy(bool)
        if rng is None:
            continue
        lo, hi = rng
        g = grade.to_numpy(float)
        missing = sel & np.isnan(g) & (name in C.GRADE_REQUIRED)
        bad = sel & ~np.isnan(g) & ((g < lo) | (g > hi))
        if name in ("agvhd", "cgvhd"):
            bad |= sel & ~np.isnan(g) & (g % 1 != 0)
        for idx in e.index[missing]:
            out.append(Violation(src.file, _row(src, idx), "grade", None,
                                 f"event '{name}' needs a grade {lo:g}–{hi:g}"))
        for idx in e.index[bad]:
            out.append(Violation(src.file, _row(src, idx), "grade", src.frame.at[idx, "grade"],
                                 f"allowed for event '{name}': grade {lo:g}–{hi:g}"))
    if "detail" in e:
        sel = (e["event"] == "sorafenib_stop") & e["detail"].notna() & ~e["detail"].isin(C.SORAFENIB_STOP_DETAIL)
        for idx in e.index[sel.to_numpy(bool)]:
            out.append(Violation(src.file, _row(src, idx), "detail", e.at[idx, "detail"],
                                 "allowed for sorafenib_stop: " + ", ".join(C.SORAFENIB_STOP_DETAIL)))
    return out


def _cross_table_rules(p_src: TableSource, m_src: TableSource, e_src: TableSource,
                       parsed: dict[str, pd.DataFrame]) -> list[Violation]:
    out = []
    p, m, e = parsed["patients"], parsed["measurements"], parsed["events"]
    if "patient_id" not in p:
        return out
    ids = set(p["patient_id"].dropna())
    for src, t in ((m_src, m), (e_src, e)):
        if "patient_id" not in t:
            continue
        orphan = t["patient_id"].notna() & ~t["patient_id"].isin(ids)
        for idx in t.index[orphan.to_numpy(bool)][:200]:
            out.append(Violation(src.file, _row(src, idx), "patient_id", t.at[idx, "patient_id"],
                                 f"patient_id not found in {p_src.file}"))
    if not {"patient_id", "day", "event"} <= set(e.columns):
        return out
    deaths = e[e["event"] == "death"]
    dup = deaths["patient_id"].duplicated(keep="first")
    for idx in deaths.index[dup.to_numpy(bool)]:
        out.append(Violation(e_src.file, _row(e_src, idx), "event", "death",
                             "a second death for this patient; at most one death per patient"))
    death_day = deaths.groupby("patient_id")["day"].min()
    for src, t, what in ((e_src, e, "event"), (m_src, m, "measurement")):
        if not {"patient_id", "day"} <= set(t.columns):
            continue
        dd = t["patient_id"].map(death_day)
        after = (t["day"] > dd).to_numpy(bool)
        for idx in t.index[after][:200]:
            out.append(Violation(src.file, _row(src, idx), "day", t.at[idx, "day"],
                                 f"{what} after the patient's death on day {dd.loc[idx]:g}; "
                                 "nothing may follow death"))
    has_outcome = set(e.loc[e["event"].isin(C.OUTCOME_EVENTS), "patient_id"].dropna())
    missing = p["patient_id"].notna() & ~p["patient_id"].isin(has_outcome)
    for idx in p.index[missing.to_numpy(bool)][:200]:
        out.append(Violation(p_src.file, _row(p_src, idx), "patient_id", p.at[idx, "patient_id"],
                             "patient has no outcome event; events need at least one of relapse, "
                             "death, last_followup per patient"))
    return out
