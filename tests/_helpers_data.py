"""A small valid cohort written by hand, for data-layer tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

BASE = dict(
    age=50,
    sex="M",
    diagnosis="AML",
    disease_status="CR1",
    cytogenetic_risk="intermediate",
    flt3="negative",
    pre_hsct_mrd="negative",
    donor_type="MSD",
    conditioning="MAC",
    ecog=1,
)


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Four patients: relapse, NRM, same-day relapse+death, censored."""
    patients = pd.DataFrame(
        [
            {"patient_id": "A", **BASE, "hct_ci": 0, "arm": "sorafenib", "randomization_day": 50},
            {
                "patient_id": "B",
                **BASE,
                "age": 63,
                "sex": "F",
                "hct_ci": 3,
                "arm": "control",
                "randomization_day": 55,
            },
            {
                "patient_id": "C",
                **BASE,
                "diagnosis": "ALL",
                "hct_ci": 1,
                "arm": "control",
                "randomization_day": 48,
            },
            {
                "patient_id": "D",
                **BASE,
                "hct_ci": None,
                "arm": "sorafenib",
                "randomization_day": 60,
            },
        ]
    )
    measurements = pd.DataFrame(
        [
            ("A", 30, "mrd_mfc", 0.0, "BM"),
            ("A", 60, "mrd_mfc", 0.05, "BM"),
            ("A", 90, "donor_chimerism", 90.0, "PB"),
            ("B", 30, "wt1", 20.0, "BM"),
            ("C", 30, "donor_chimerism", 100.0, "PB"),
            ("D", 30, "mrd_mfc", 0.0, "BM"),
            ("D", 500, "wt1", 10.0, "PB"),
        ],
        columns=["patient_id", "day", "marker", "value", "sample"],
    )
    events = pd.DataFrame(
        [
            ("A", 15, "engraftment", None, None),
            ("A", 40, "agvhd", 2, None),
            ("A", 200, "relapse", None, None),
            ("A", 300, "death", None, "relapse"),
            ("B", 14, "engraftment", None, None),
            ("B", 120, "death", None, "infection"),
            ("C", 100, "relapse", None, None),
            ("C", 100, "death", None, "relapse"),
            ("D", 50, "sorafenib_start", None, None),
            ("D", 400, "last_followup", None, None),
        ],
        columns=["patient_id", "day", "event", "grade", "detail"],
    )
    return {"patients": patients, "measurements": measurements, "events": events}


def write_tables(tables: dict[str, pd.DataFrame], directory: Path, fmt: str = "csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.to_csv(directory / f"{name}.csv", index=False)
        else:
            frame.to_parquet(directory / f"{name}.parquet", index=False)
    return directory
