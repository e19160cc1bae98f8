"""Column specifications of the three contract tables, and pandera schemas built from them.

Each column has one `ColumnSpec`; its value rules (`value_checks`), the pandera schema, the
pandera-free check of a few rows (`direct_failures`) and the human sentence "what is
allowed" in error messages are all derived from it, so they can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from relapse_ml.data import contract as C


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a contract table."""

    name: str
    kind: str  # "string" | "category" | "number" | "integer" | "bool"
    required: bool = True
    nullable: bool = False
    codes: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    unique: bool = False

    @property
    def allowed(self) -> str:
        """What the contract allows in this column, as a sentence fragment."""
        if self.kind == "category":
            text = "allowed: one of " + ", ".join(self.codes)
        elif self.kind == "bool":
            text = "allowed: true/false (also 1/0, yes/no)"
        elif self.kind in ("number", "integer"):
            noun = "an integer" if self.kind == "integer" else "a number"
            if self.low is not None and self.high is not None and math.isfinite(self.high):
                text = f"allowed: {noun} {_fmt(self.low)}–{_fmt(self.high)}"
            elif self.low is not None:
                text = f"allowed: {noun} ≥ {_fmt(self.low)}"
            else:
                text = f"allowed: {noun}"
        else:
            text = "allowed: a non-empty string"
        if self.unique:
            text += ", unique"
        if self.nullable:
            text += " (or empty)"
        return text


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _cat(name: str, codes: tuple[str, ...], required: bool = True, nullable: bool = False):
    return ColumnSpec(name, "category", required=required, nullable=nullable, codes=codes)


PATIENT_SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec("patient_id", "string", unique=True),
    ColumnSpec("age", "number", low=0, high=100),
    *(_cat(name, codes) for name, codes in C.PATIENT_CATEGORIES.items()),
    ColumnSpec("ecog", "integer", nullable=True, low=0, high=4),  # v2: empty when not recorded
    ColumnSpec("hct_ci", "integer", required=False, nullable=True, low=0, high=20),
    _cat("arm", C.ARM, required=False, nullable=True),
    ColumnSpec("randomization_day", "number", required=False, nullable=True, low=0, high=4000),
    ColumnSpec("prior_allo_hsct", "integer", required=False, nullable=True, low=0, high=20),
    *(ColumnSpec(name, "bool", required=False, nullable=True) for name in C.SCREENING_BOOL),
    ColumnSpec("life_expectancy_days", "number", required=False, nullable=True, low=0, high=1e6),
    ColumnSpec("lvef_pct", "number", required=False, nullable=True, low=0, high=100),
    ColumnSpec("pao2_mmhg", "number", required=False, nullable=True, low=0, high=800),
    ColumnSpec("bilirubin_mg_dl", "number", required=False, nullable=True, low=0, high=100),
    ColumnSpec("ast_x_uln", "number", required=False, nullable=True, low=0, high=1000),
    ColumnSpec("alt_x_uln", "number", required=False, nullable=True, low=0, high=1000),
    ColumnSpec("crcl_ml_min", "number", required=False, nullable=True, low=0, high=1000),
)

MEASUREMENT_SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec("patient_id", "string"),
    ColumnSpec("day", "number", low=C.MEASUREMENT_DAY_RANGE[0], high=C.MEASUREMENT_DAY_RANGE[1]),
    _cat("marker", tuple(C.MARKERS)),
    ColumnSpec("value", "number", low=0.0),
    _cat("sample", C.SAMPLE, required=False, nullable=True),
)

EVENT_SPECS: tuple[ColumnSpec, ...] = (
    ColumnSpec("patient_id", "string"),
    ColumnSpec("day", "number", low=C.EVENT_DAY_RANGE[0], high=C.EVENT_DAY_RANGE[1]),
    _cat("event", tuple(C.EVENTS)),
    ColumnSpec("grade", "number", required=False, nullable=True, low=0),
    ColumnSpec("detail", "string", required=False, nullable=True),
)

SPECS: dict[str, tuple[ColumnSpec, ...]] = {
    "patients": PATIENT_SPECS,
    "measurements": MEASUREMENT_SPECS,
    "events": EVENT_SPECS,
}

EXTRA_KIND = {"number": "number", "string": "string", "bool": "bool"}


def specs_for(table: str, extra_markers=(), extra_events=()) -> tuple[ColumnSpec, ...]:
    """The specs of ``table`` with the cohort's declared extra markers / events allowed."""
    specs = SPECS[table]
    if table == "measurements" and extra_markers:
        codes = tuple(C.MARKERS) + tuple(extra_markers)
        return tuple(_cat("marker", codes) if s.name == "marker" else s for s in specs)
    if table == "events" and extra_events:
        codes = tuple(C.EVENTS) + tuple(extra_events)
        return tuple(_cat("event", codes) if s.name == "event" else s for s in specs)
    return specs


def extra_spec(name: str, declared: str) -> ColumnSpec:
    """Spec of a patient column declared in cohort.json's ``extra_columns``."""
    return ColumnSpec(name, EXTRA_KIND[declared], required=False, nullable=True)


def value_checks(spec: ColumnSpec) -> list[tuple[str, Callable]]:
    """The per-value rules of a parsed column: ``(name, predicate)``, the predicate vectorised
    (a Series -> a boolean Series, True where the value is allowed). Empty cells never reach
    them: whether a column may be empty is ``spec.nullable``, a repeat is ``spec.unique``.
    Both validators run exactly these: `pandera_schema` (cohorts) and `direct_failures`
    (the few rows of one patient, where importing pandera costs more than the check)."""
    if spec.kind == "category":
        codes = list(spec.codes)
        return [("isin", lambda x: x.isin(codes))]
    if spec.kind in ("number", "integer"):
        checks = [("finite", lambda x: x.abs() < math.inf)]  # "inf" parses as a number
        if spec.low is not None:
            lo, hi = spec.low, spec.high if spec.high is not None else math.inf
            checks.append(("in_range", lambda x: (x >= lo) & (x <= hi)))
        if spec.kind == "integer":
            checks.append(("integer", lambda x: (x % 1) == 0))
        return checks
    if spec.kind == "bool":
        return [("isin", lambda x: x.isin([0.0, 1.0]))]
    if not spec.nullable:
        return [("non_empty", lambda x: x.str.strip().str.len() > 0)]
    return []


def _dtype(spec: ColumnSpec):
    return float if spec.kind in ("number", "integer", "bool") else object


def pandera_schema(specs: tuple[ColumnSpec, ...] | list[ColumnSpec]):
    """A pandera schema for already-parsed columns (numbers as float, bools as float 0/1)."""
    import pandera.pandas as pa

    columns = {
        s.name: pa.Column(
            _dtype(s),
            checks=[pa.Check(rule, name=name) for name, rule in value_checks(s)],
            nullable=s.nullable,
            unique=s.unique,
            required=False,
        )
        for s in specs
    }
    return pa.DataFrameSchema(columns, strict=False)


def direct_failures(frame, specs) -> list[tuple[object, str, str]]:
    """``(index, column, check)`` of every cell of ``frame`` that breaks ``specs`` — the
    checks `pandera_schema` runs, with its check names (``not_nullable``,
    ``field_uniqueness``, then each `value_checks` rule), without importing pandera."""
    out = []
    for s in specs:
        if s.name not in frame:
            continue
        col = frame[s.name]
        empty = col.isna()
        if not s.nullable:
            out += [(i, s.name, "not_nullable") for i in col.index[empty.to_numpy(bool)]]
        present = col[~empty]
        if s.unique:
            dup = present.duplicated(keep=False).to_numpy(bool)
            out += [(i, s.name, "field_uniqueness") for i in present.index[dup]]
        for name, rule in value_checks(s):
            bad = ~rule(present).to_numpy(bool)
            out += [(i, s.name, name) for i in present.index[bad]]
    return out
