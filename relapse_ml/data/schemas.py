"""Column specifications of the three contract tables, and pandera schemas built from them.

Each column has one `ColumnSpec`; the pandera schema and the human sentence "what is
allowed" in error messages are both derived from it, so they can never disagree.
"""

from __future__ import annotations

import math
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


def pandera_schema(specs: tuple[ColumnSpec, ...] | list[ColumnSpec]):
    """A pandera schema for already-parsed columns (numbers as float, bools as float 0/1)."""
    import pandera.pandas as pa

    columns = {}
    for s in specs:
        checks = []
        if s.kind == "category":
            checks.append(pa.Check.isin(list(s.codes)))
            dtype = object
        elif s.kind in ("number", "integer"):
            dtype = float
            if s.low is not None:
                hi = s.high if s.high is not None else math.inf
                checks.append(pa.Check.in_range(s.low, hi))
            if s.kind == "integer":
                checks.append(pa.Check(lambda x: (x % 1) == 0, element_wise=False, name="integer"))
        elif s.kind == "bool":
            dtype = float
            checks.append(pa.Check.isin([0.0, 1.0]))
        else:
            dtype = object
            if not s.nullable:
                checks.append(pa.Check(lambda x: x.str.strip().str.len() > 0, name="non_empty"))
        columns[s.name] = pa.Column(
            dtype, checks=checks, nullable=s.nullable, unique=s.unique, required=False
        )
    return pa.DataFrameSchema(columns, strict=False)
