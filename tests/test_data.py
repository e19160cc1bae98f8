"""Data contract: loading, outcome derivation, every validation rule, the validate command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data import cohort_from_frames, read_cohort, write_cohort
from relapse_ml.data.outcome import derive_outcome
from relapse_ml.errors import DataValidationError, RelapseMLError
from tests._helpers_data import tiny_tables, write_tables


def _errors(tables, tmp_path, cohort_json=None, fmt="csv"):
    d = write_tables(tables, tmp_path / "c", fmt)
    if cohort_json is not None:
        (d / "cohort.json").write_text(json.dumps(cohort_json))
    with pytest.raises(DataValidationError) as info:
        read_cohort(d)
    return info.value.violations


def test_valid_cohort_loads_and_outcome_follows_the_contract(tmp_path):
    cohort = read_cohort(write_tables(tiny_tables(), tmp_path / "c"))
    out = cohort.outcome
    assert out.loc["A"].tolist() == [200.0, 1]  # relapse, later death irrelevant
    assert out.loc["B"].tolist() == [120.0, 2]  # death without relapse: NRM, not censoring
    assert out.loc["C"].tolist() == [100.0, 1]  # same-day relapse and death counts as relapse
    assert out.loc["D"].tolist() == [
        500.0,
        0,
    ]  # censored at the latest of follow-up, events, measurements
    assert cohort.patients["age"].dtype == float


def test_parquet_and_csv_give_the_same_cohort(tmp_path):
    a = read_cohort(write_tables(tiny_tables(), tmp_path / "csv"))
    b = read_cohort(write_tables(tiny_tables(), tmp_path / "pq", fmt="parquet"))
    pd.testing.assert_frame_equal(a.outcome, b.outcome)
    assert a.measurements["value"].tolist() == b.measurements["value"].tolist()


def test_write_cohort_roundtrip_and_refuses_non_empty_dir(tmp_path):
    cohort = read_cohort(write_tables(tiny_tables(), tmp_path / "c"))
    out = write_cohort(cohort, tmp_path / "copy")
    again = read_cohort(out)
    pd.testing.assert_frame_equal(cohort.outcome, again.outcome)
    with pytest.raises(RelapseMLError, match="not empty"):
        write_cohort(cohort, tmp_path / "copy")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".copy")]


def test_derive_outcome_brute_force_agrees_on_random_histories():
    rng = np.random.default_rng(3)
    rows, expected = [], {}
    for i in range(200):
        pid = f"P{i}"
        r = rng.integers(1, 500) if rng.random() < 0.4 else None
        d = rng.integers(1, 500) if rng.random() < 0.4 else None
        fu = int(rng.integers(1, 600))
        if d is not None and fu > d:
            fu = None
        for day, ev in ((r, "relapse"), (d, "death"), (fu, "last_followup")):
            if day is not None:
                rows.append((pid, float(day), ev))
        if r is not None and (d is None or r <= d):
            expected[pid] = (float(r), 1)
        elif d is not None:
            expected[pid] = (float(d), 2)
        else:
            expected[pid] = (float(max(x for x in (r, d, fu) if x is not None)), 0)
    events = pd.DataFrame(rows, columns=["patient_id", "day", "event"])
    patients = pd.DataFrame({"patient_id": list(expected)})
    meas = pd.DataFrame(columns=["patient_id", "day"])
    out = derive_outcome(patients, meas, events)
    for pid, (t, e) in expected.items():
        assert (out.loc[pid, "time"], out.loc[pid, "event"]) == (t, e), pid


@pytest.mark.parametrize(
    "table, mutate, column, row",
    [
        ("patients", lambda f: f.drop(columns="sex"), "sex", None),
        ("patients", lambda f: f.assign(age=["50", "abc", "1", "2"]), "age", 3),
        ("patients", lambda f: f.assign(age=[50, 101, 60, 40]), "age", 3),
        (
            "patients",
            lambda f: f.assign(disease_status=["CR1", "CR1", "CR4", "NR"]),
            "disease_status",
            4,
        ),
        ("patients", lambda f: f.assign(patient_id=["A", "B", "C", "A"]), "patient_id", 5),
        ("patients", lambda f: f.assign(ecog=[1, 1.5, 0, 0]), "ecog", 3),
        (
            "patients",
            lambda f: f.assign(arm=["sorafenib", "placebo", "control", "control"]),
            "arm",
            3,
        ),
        (
            "patients",
            lambda f: f.assign(transplant_date=["2020-01-01"] * 4),
            "transplant_date",
            None,
        ),
        ("patients", lambda f: f.assign(name=["x"] * 4), "name", None),
        ("patients", lambda f: f.assign(favourite_colour=["x"] * 4), "favourite_colour", None),
        (
            "measurements",
            lambda f: f.assign(marker=["mrd_mfc", "blast", *f.marker[2:]]),
            "marker",
            3,
        ),
        ("measurements", lambda f: f.assign(value=[0.0, 0.05, 120.0, *f.value[3:]]), "value", 4),
        ("measurements", lambda f: f.assign(day=[30, -70, *f.day[2:]]), "day", 3),
        (
            "measurements",
            lambda f: f.assign(patient_id=["A", "Z", *f.patient_id[2:]]),
            "patient_id",
            3,
        ),
        (
            "events",
            lambda f: f.assign(
                event=[
                    "engraftment",
                    "agvhd",
                    "relapse",
                    "death",
                    "engraftment",
                    "death",
                    "relapse",
                    "death",
                    "sorafenib_start",
                    "funeral",
                ]
            ),
            "event",
            11,
        ),
        (
            "events",
            lambda f: f.assign(grade=[None, 5, None, None, None, None, None, None, None, None]),
            "grade",
            3,
        ),
        (
            "events",
            lambda f: f.assign(day=[15, 40, 200, 300, 14, 120, 100, 100, 50, "2021-03-04"]),
            "day",
            11,
        ),
        (
            "events",
            lambda f: pd.concat(
                [f, pd.DataFrame([("B", 150, "dli", None, None)], columns=f.columns)],
                ignore_index=True,
            ),
            "day",
            12,
        ),
        (
            "events",
            lambda f: pd.concat(
                [f, pd.DataFrame([("B", 110, "death", None, None)], columns=f.columns)],
                ignore_index=True,
            ),
            "event",
            12,
        ),
        ("events", lambda f: f[f.patient_id != "D"], "patient_id", 5),
    ],
)
def test_each_violation_names_table_row_and_column(tmp_path, table, mutate, column, row):
    tables = tiny_tables()
    tables[table] = mutate(tables[table])
    violations = _errors(tables, tmp_path)
    hits = [v for v in violations if v.column == column and (row is None or v.row == row)]
    assert hits, f"expected a violation for {column} row {row}, got: {[str(v) for v in violations]}"
    assert all(str(v) for v in violations)


def test_measurement_after_death_is_refused(tmp_path):
    tables = tiny_tables()
    extra = pd.DataFrame([("B", 130, "wt1", 5.0, "PB")], columns=tables["measurements"].columns)
    tables["measurements"] = pd.concat([tables["measurements"], extra], ignore_index=True)
    violations = _errors(tables, tmp_path)
    assert any(
        v.table.endswith("measurements.csv") and v.column == "day" and "death" in v.allowed
        for v in violations
    )


def test_all_violations_are_reported_together(tmp_path):
    tables = tiny_tables()
    tables["patients"] = tables["patients"].assign(age=[50, 101, 102, 40], sex=["M", "F", "Q", "F"])
    violations = _errors(tables, tmp_path)
    assert {(v.column, v.row) for v in violations} >= {("age", 3), ("age", 4), ("sex", 4)}


def test_declared_extra_columns_are_typed_and_kept(tmp_path):
    tables = tiny_tables()
    tables["patients"]["donor_age"] = [30, 40, "", 55]
    tables["patients"]["cmv"] = ["yes", "no", "true", ""]
    d = write_tables(tables, tmp_path / "c")
    (d / "cohort.json").write_text(
        json.dumps({"name": "x", "extra_columns": {"donor_age": "number", "cmv": "bool"}})
    )
    cohort = read_cohort(d)
    assert cohort.extra_columns == {"donor_age": "number", "cmv": "bool"}
    assert cohort.patients["cmv"].tolist()[:3] == [1.0, 0.0, 1.0]
    assert np.isnan(cohort.patients["donor_age"][2])
    tables["patients"]["donor_age"] = [30, "old", 1, 2]
    violations = _errors(
        tables, tmp_path / "again", {"extra_columns": {"donor_age": "number", "cmv": "bool"}}
    )
    assert [(v.column, v.row) for v in violations] == [("donor_age", 3)]


def test_undeclared_extra_column_says_how_to_declare(tmp_path):
    tables = tiny_tables()
    tables["patients"]["donor_age"] = 30
    (v,) = _errors(tables, tmp_path)
    assert v.column == "donor_age" and "cohort.json" in v.allowed


def test_bad_cohort_json_and_missing_table(tmp_path):
    d = write_tables(tiny_tables(), tmp_path / "c")
    (d / "cohort.json").write_text("{not json")
    with pytest.raises(DataValidationError, match="cohort.json"):
        read_cohort(d)
    (d / "cohort.json").unlink()
    (d / "events.csv").unlink()
    with pytest.raises(DataValidationError, match="events.csv or events.parquet"):
        read_cohort(d)


def test_cohort_from_frames_validates_in_memory_tables():
    tables = tiny_tables()
    cohort = cohort_from_frames(**tables)
    assert cohort.n_patients == 4
    tables["patients"].loc[0, "sex"] = "?"
    with pytest.raises(DataValidationError, match="sex"):
        cohort_from_frames(**tables)
