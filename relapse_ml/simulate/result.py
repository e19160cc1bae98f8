"""`SimulatedTrial`: the simulated cohort in the data contract, with its truth and metadata."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from relapse_ml.utils import atomic_directory


@dataclass
class SimulatedTrial:
    """A simulated trial: the three contract tables, ``truth`` (one row per patient), ``meta``
    and ``truth_at_landmarks`` (one row per later landmark and patient at risk at it; empty
    unless asked for)."""

    patients: pd.DataFrame
    measurements: pd.DataFrame
    events: pd.DataFrame
    truth: pd.DataFrame
    meta: dict = field(default_factory=dict)
    truth_at_landmarks: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def name(self) -> str:
        return str(self.meta.get("name", "simulated_trial"))

    @property
    def source(self) -> str:
        m = self.meta
        return (
            f"relapse_ml.simulate (scenario={m.get('scenario')}, seed={m.get('seed')}, n={m.get('n')}, "
            f"landmark_day={m.get('landmark_day')}, horizon_days={m.get('horizon_days')})"
        )

    def to_cohort(self):
        """The tables as a `relapse_ml.data.cohort.Cohort` (no extra columns)."""
        from relapse_ml.data.cohort import Cohort

        return Cohort(
            patients=self.patients.copy(),
            measurements=self.measurements.copy(),
            events=self.events.copy(),
            name=self.name,
            source=self.source,
            extra_columns={},
        )

    def write(self, out_dir: str | os.PathLike, overwrite: bool = False, fmt: str = "csv") -> Path:
        """Write the cohort directory (tables, ``truth``, ``meta.json``, ``cohort.json``);
        ``fmt`` "csv" or "parquet" for the four tables.

        Everything is written to a temporary sibling directory first and renamed at the
        end, so an interrupted write leaves nothing half-written. An existing non-empty
        directory is replaced only with ``overwrite``.
        """
        with atomic_directory(out_dir, overwrite) as tmp:
            for name in ("patients", "measurements", "events", "truth", "truth_at_landmarks"):
                df = getattr(self, name)
                if name == "truth_at_landmarks" and df.empty:
                    continue
                if fmt == "parquet":
                    df.to_parquet(tmp / f"{name}.parquet", index=False)
                else:
                    df.to_csv(tmp / f"{name}.csv", index=False)
            (tmp / "meta.json").write_text(
                json.dumps(self.meta, indent=2, default=_json_default) + "\n"
            )
            cohort = {"name": self.name, "source": self.source, "extra_columns": {}}
            (tmp / "cohort.json").write_text(json.dumps(cohort, indent=2) + "\n")
        return Path(out_dir)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
