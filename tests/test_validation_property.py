"""Property test: every random corruption of a valid simulated cohort is a clean user error.

Each corruption must make `relapse-ml validate` exit 2 with a message naming the corrupted
column, never exit 0 and never print a traceback.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relapse_ml.data import contract as C


@pytest.fixture(scope="module")
def tables():
    from relapse_ml.simulate import simulate_trial

    trial = simulate_trial(n=40, seed=11)
    return {"patients": trial.patients, "measurements": trial.measurements, "events": trial.events}


NUMERIC = {"patients": ["age", "ecog"], "measurements": ["day", "value"], "events": ["day"]}
OUT_OF_RANGE = {("patients", "age"): 150, ("patients", "ecog"): 7, ("measurements", "day"): 5000,
                ("measurements", "value"): -1, ("events", "day"): 4500}
CATEGORIES = {"patients": list(C.PATIENT_CATEGORIES), "measurements": ["marker"], "events": ["event"]}
REQUIRED = {"patients": list(C.PATIENT_REQUIRED), "measurements": list(C.MEASUREMENT_REQUIRED),
            "events": list(C.EVENT_REQUIRED)}
KINDS = ("drop_column", "wrong_type", "out_of_range", "unknown_code", "duplicate_id",
         "event_after_death", "orphan_id", "date_column")


def corrupt(tables, kind: str, draw) -> tuple[dict, str]:
    """Return corrupted copies of the tables and the column the error must name."""
    t = {k: v.copy() for k, v in tables.items()}
    name = draw(st.sampled_from(sorted(t)))
    frame = t[name]
    row = draw(st.integers(0, len(frame) - 1))
    if kind == "drop_column":
        col = draw(st.sampled_from(REQUIRED[name]))
        t[name] = frame.drop(columns=col)
        return t, col
    if kind == "wrong_type":
        col = draw(st.sampled_from(NUMERIC[name]))
        frame[col] = frame[col].astype(object)
        frame.loc[row, col] = draw(st.sampled_from(["abc", "1,5", "n/a", "?"]))
        return t, col
    if kind == "out_of_range":
        col = draw(st.sampled_from(NUMERIC[name]))
        if name == "measurements" and col == "value" and frame.loc[row, "marker"] in ("mrd_mfc", "donor_chimerism"):
            frame.loc[row, col] = draw(st.sampled_from([-1.0, 101.0]))
        else:
            frame.loc[row, col] = OUT_OF_RANGE[(name, col)]
        return t, col
    if kind == "unknown_code":
        col = draw(st.sampled_from(CATEGORIES[name]))
        frame[col] = frame[col].astype(object)
        frame.loc[row, col] = draw(st.sampled_from(["XYZ", "other_code", "cr1", "aml"]))
        return t, col
    if kind == "duplicate_id":
        p = t["patients"]
        i, j = draw(st.lists(st.integers(0, len(p) - 1), min_size=2, max_size=2, unique=True))
        p.loc[j, "patient_id"] = p.loc[i, "patient_id"]
        return t, "patient_id"
    if kind == "event_after_death":
        e = t["events"]
        dead = e[e["event"] == "death"]
        pick = dead.iloc[draw(st.integers(0, len(dead) - 1))]
        extra_day = float(pick["day"]) + draw(st.integers(1, 300))
        where = draw(st.sampled_from(["events", "measurements"]))
        if where == "events":
            new = pd.DataFrame([{"patient_id": pick["patient_id"], "day": extra_day, "event": "dli"}])
        else:
            new = pd.DataFrame([{"patient_id": pick["patient_id"], "day": extra_day, "marker": "wt1",
                                 "value": 10.0}])
        t[where] = pd.concat([t[where], new], ignore_index=True)
        return t, "day"
    if kind == "orphan_id":
        where = draw(st.sampled_from(["events", "measurements"]))
        t[where].loc[draw(st.integers(0, len(t[where]) - 1)), "patient_id"] = "NOT-A-PATIENT"
        return t, "patient_id"
    if kind == "date_column":
        col = draw(st.sampled_from(["visit_date", "date_of_birth", "transplant_date", "dob", "mrn"]))
        frame[col] = "2021-03-04"
        return t, col
    raise AssertionError(kind)


def run_validate(directory: Path) -> tuple[int, str]:
    from relapse_ml.cli import _common, app

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = _common.run(app, ["validate", str(directory)])
    return code, err.getvalue()


def test_uncorrupted_cohort_is_valid(tables, tmp_path):
    for name, frame in tables.items():
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    code, err = run_validate(tmp_path)
    assert code == 0, err


@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_every_corruption_is_exit_2_naming_the_column(tables, kind, data):
    corrupted, column = corrupt(tables, kind, data.draw)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for name, frame in corrupted.items():
            frame.to_csv(d / f"{name}.csv", index=False)
        code, err = run_validate(d)
    assert code == 2, f"{kind}: exit {code}\n{err}"
    assert "Traceback" not in err and "internal error" not in err
    assert f"'{column}'" in err, f"{kind}: message does not name {column!r}:\n{err}"
    assert all(line.startswith("error: ") for line in err.strip().splitlines())


def test_parquet_corruption_reports_row_numbers(tables, tmp_path):
    p = tables["patients"].copy()
    p.loc[3, "age"] = 150.0
    p.to_parquet(tmp_path / "patients.parquet")
    tables["measurements"].to_parquet(tmp_path / "measurements.parquet")
    tables["events"].to_csv(tmp_path / "events.csv", index=False)
    code, err = run_validate(tmp_path)
    assert code == 2 and "patients.parquet, row 4, column 'age'" in err
    assert np.isfinite(tables["patients"]["age"]).all()
