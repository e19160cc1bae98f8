"""Shared steps of the public-data adapters: event clean-up to the contract, atomic writing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.data import contract as C
from relapse_ml.utils import atomic_directory, check_output_dir

EVENT_COLUMNS = ("patient_id", "day", "event", "grade", "detail")
MEASUREMENT_COLUMNS = ("patient_id", "day", "marker", "value")
# same-day events in a readable order: what happened before the outcome comes first
_EVENT_ORDER = {
    "engraftment": 0,
    "platelet_recovery": 0,
    "adverse_event": 1,
    "agvhd": 1,
    "cgvhd": 2,
    "relapse": 3,
    "death": 4,
    "last_followup": 5,
}


def event_rows(
    patient_id: pd.Series,
    happened: pd.Series,
    day: pd.Series,
    event: str,
    grade=np.nan,
    detail=None,
) -> pd.DataFrame:
    """Contract event rows for the patients where ``happened`` is true."""
    keep = happened.to_numpy(bool)
    n = int(keep.sum())
    return pd.DataFrame(
        {
            "patient_id": patient_id.to_numpy()[keep],
            "day": day.to_numpy(dtype=float)[keep],
            "event": [event] * n,
            "grade": np.full(n, grade, dtype=float),
            "detail": [detail] * n,
        }
    )


def finish_events(
    parts: list[pd.DataFrame], max_day: float = C.EVENT_DAY_RANGE[1]
) -> tuple[pd.DataFrame, dict]:
    """Concatenate event rows and make them follow the contract; return (events, what was changed).

    - Nothing after death: events later than the patient's death are dropped.
    - The contract's day range ends at ``max_day`` (4000): follow-up beyond it is
      administratively censored there — later events are dropped and a patient not dead
      by ``max_day`` gets one ``last_followup`` on ``max_day`` instead of the later outcome.
    """
    ev = pd.concat(parts, ignore_index=True)
    death = ev.loc[ev["event"] == "death"].groupby("patient_id")["day"].min()
    after_death = (ev["day"] > ev["patient_id"].map(death)).to_numpy(bool)
    dropped_after_death = ev.loc[after_death, ["patient_id", "event", "day"]]
    ev = ev.loc[~after_death]

    beyond = (ev["day"] > max_day).to_numpy(bool)
    truncated = ev.loc[beyond, ["patient_id", "event", "day"]]
    censored_ids = pd.Index(truncated["patient_id"].unique())
    ev = ev.loc[~beyond]
    dead_by_max = set(ev.loc[ev["event"] == "death", "patient_id"])
    needs_lfu = [p for p in censored_ids if p not in dead_by_max]
    if needs_lfu:
        ev = ev.loc[~((ev["event"] == "last_followup") & ev["patient_id"].isin(needs_lfu))]
        lfu = pd.DataFrame(
            {
                "patient_id": needs_lfu,
                "day": float(max_day),
                "event": "last_followup",
                "grade": np.nan,
                "detail": f"administrative_censoring_day_{max_day:g}",
            }
        )
        ev = pd.concat([ev, lfu], ignore_index=True)

    order = ev["event"].map(_EVENT_ORDER).fillna(9)
    ev = (
        ev.assign(_order=order)
        .sort_values(["patient_id", "day", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    changes = {
        "events_after_death_dropped": {
            str(k): int(v)
            for k, v in dropped_after_death["event"].value_counts().sort_index().items()
        },
        "events_after_day_max_dropped": {
            str(k): int(v) for k, v in truncated["event"].value_counts().sort_index().items()
        },
        "patients_censored_at_day_max": len(needs_lfu),
        "day_max": float(max_day),
    }
    return ev[list(EVENT_COLUMNS)], changes


def empty_measurements() -> pd.DataFrame:
    """The measurements table of a data set without lab values: header only."""
    return pd.DataFrame(
        {
            "patient_id": pd.Series(dtype=object),
            "day": pd.Series(dtype=float),
            "marker": pd.Series(dtype=object),
            "value": pd.Series(dtype=float),
        }
    )


def cohort_tables(patients: pd.DataFrame, events: pd.DataFrame, cohort_json: dict) -> dict:
    """The tables `write_tables` writes, for a data set without lab values."""
    return {
        "patients": patients,
        "measurements": empty_measurements(),
        "events": events,
        "cohort_json": cohort_json,
    }


def check_target(out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse a target that is a file, or a non-empty directory unless ``overwrite``."""
    return check_output_dir(out_dir, overwrite)


def write_tables(tables: dict, out_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write patients/measurements/events CSV and cohort.json atomically (temp dir, then rename).

    An existing non-empty ``out_dir`` is refused unless ``overwrite``.
    """
    out = check_target(out_dir, overwrite)
    with atomic_directory(out, overwrite) as tmp:
        for name in C.TABLES:
            tables[name].to_csv(tmp / f"{name}.csv", index=False)
        (tmp / "cohort.json").write_text(
            json.dumps(tables["cohort_json"], indent=2, ensure_ascii=False) + "\n"
        )
    return out
