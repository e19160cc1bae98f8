"""Errors for people: each carries a message a clinician or researcher can act on.

The CLI prints a `RelapseMLError` on one line (one line per violation) and exits 2;
anything else is an internal failure (exit 1, traceback only with ``--debug``).
"""

from __future__ import annotations

from dataclasses import dataclass


class RelapseMLError(Exception):
    """A user error: bad input, bad config, unknown model. Exit status 2."""


class ConfigError(RelapseMLError):
    """An experiment config that does not validate."""


class ModelError(RelapseMLError):
    """A model that cannot be used as asked (not fitted, unknown, incompatible)."""


@dataclass(frozen=True)
class Violation:
    """One broken rule of the data contract, located as precisely as possible."""

    table: str  # file name as the user sees it, e.g. "patients.csv"
    row: int | None  # 1-based line in the file (header is line 1), None when table-wide
    column: str | None
    value: object
    allowed: str

    def __str__(self) -> str:
        where = self.table
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        raw = self.value.item() if hasattr(self.value, "item") else self.value
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        value = "" if raw is None else f": value {raw!r}"
        return f"{where}{value} — {self.allowed}"


class DataValidationError(RelapseMLError):
    """A cohort that breaks the data contract; holds every violation found."""

    def __init__(self, violations: list[Violation]):
        self.violations = sorted(violations, key=lambda v: (v.table, v.row or 0, v.column or ""))
        super().__init__("\n".join(str(v) for v in self.violations))
