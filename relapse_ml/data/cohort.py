"""`Cohort`: the three contract tables of one cohort, loaded and validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from relapse_ml.data.outcome import derive_outcome


@dataclass
class Cohort:
    """One cohort in the data contract.

    ``patients`` has one row per patient (``patient_id`` as a string column),
    ``measurements`` and ``events`` are long tables sorted by patient and day.
    ``extra_columns`` are the declared extra patient columns (name -> type) that
    models may use as features.
    """

    patients: pd.DataFrame
    measurements: pd.DataFrame
    events: pd.DataFrame
    name: str = "cohort"
    source: str | None = None
    extra_columns: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    # required columns that a data adapter filled with placeholders (column -> reason):
    # valid for the contract, but models and eligibility treat them as missing
    imputed_columns: dict[str, str] = field(default_factory=dict)
    # contract v2 declarations from cohort.json: serial markers and clinical events beyond
    # the standard ones (name -> spec), and baseline columns unknown for every patient
    extra_markers: dict[str, dict] = field(default_factory=dict)
    extra_events: dict[str, dict] = field(default_factory=dict)
    unknown_columns: list[str] = field(default_factory=list)
    # cohort.json "randomized": False marks an arm that was not randomized at the landmark's
    # population (observational comparison: benefit must estimate the propensity); None = not said
    randomized: bool | None = None

    @cached_property
    def outcome(self) -> pd.DataFrame:
        """Competing-risk outcome per patient: ``time`` (days) and ``event`` 0/1/2."""
        return derive_outcome(self.patients, self.measurements, self.events)

    @property
    def n_patients(self) -> int:
        return len(self.patients)

    @property
    def has_arm(self) -> bool:
        return "arm" in self.patients and self.patients["arm"].notna().any()

    def subset(self, patient_ids) -> Cohort:
        """The same cohort restricted to ``patient_ids`` (order of ``patients`` kept)."""
        keep = set(map(str, patient_ids))
        return Cohort(
            patients=self.patients[self.patients["patient_id"].isin(keep)].reset_index(drop=True),
            measurements=self.measurements[self.measurements["patient_id"].isin(keep)].reset_index(drop=True),
            events=self.events[self.events["patient_id"].isin(keep)].reset_index(drop=True),
            name=self.name,
            source=self.source,
            extra_columns=dict(self.extra_columns),
            path=None,
            imputed_columns=dict(self.imputed_columns),
            extra_markers=dict(self.extra_markers),
            extra_events=dict(self.extra_events),
            unknown_columns=list(self.unknown_columns),
            randomized=self.randomized,
        )
