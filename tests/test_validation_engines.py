"""The pandera-free check of one patient's rows finds exactly what the pandera schema finds.

Both run the rules `relapse_ml.data.schemas.value_checks` derives from the column specs;
this compares them cell by cell on randomly corrupted small tables (bad types, codes,
ranges, empties, repeats), messages included.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relapse_ml.data.schemas import SPECS
from relapse_ml.data.validate import TableSource, validate_tables

NASTY = [None, "", " ", "abc", "XYZ", "-1", -1, 0, 1, 2.5, 7, 150, 1e9, "1e400", "yes", "no",
         "true", "2024-01-05", "CR1", "PB", "death", "nan", "1,5"]


@pytest.fixture(scope="module")
def tables():
    from relapse_ml.simulate import simulate_trial

    trial = simulate_trial(n=4, seed=3)
    return {"patients": trial.patients, "measurements": trial.measurements.head(12),
            "events": trial.events}


def _run(t: dict, pandera: bool):
    srcs = [TableSource(n, t[n].reset_index(drop=True), n, first_row=1)
            for n in ("patients", "measurements", "events")]
    parsed, violations = validate_tables(*srcs, pandera=pandera)
    return parsed, sorted(str(v) for v in violations)


def test_valid_tables_pass_both(tables):
    assert _run(tables, True)[1] == [] == _run(tables, False)[1]


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_direct_check_equals_pandera(tables, data):
    t = {k: v.copy().astype(object) for k, v in tables.items()}
    for _ in range(data.draw(st.integers(1, 4))):
        name = data.draw(st.sampled_from(sorted(t)))
        frame = t[name]
        col = data.draw(st.sampled_from([s.name for s in SPECS[name] if s.name in frame]))
        row = data.draw(st.integers(0, len(frame) - 1))
        if col == "patient_id" and name == "patients" and data.draw(st.booleans()):
            frame.loc[row, col] = frame.loc[(row + 1) % len(frame), col]  # a repeated id
        else:
            frame.loc[row, col] = data.draw(st.sampled_from(NASTY))
    parsed_a, found_a = _run(t, True)
    parsed_b, found_b = _run(t, False)
    assert found_a == found_b
    for name in parsed_a:
        pd.testing.assert_frame_equal(parsed_a[name], parsed_b[name])


def test_each_rule_kind_is_found_by_both(tables):
    t = {k: v.copy().astype(object) for k, v in tables.items()}
    p, m, e = t["patients"], t["measurements"], t["events"]
    p.loc[1, "patient_id"] = p.loc[0, "patient_id"]  # field_uniqueness
    p.loc[2, "sex"] = "X"  # isin
    p.loc[3, "age"] = 150  # in_range
    p.loc[0, "ecog"] = 2.5  # integer
    p.loc[1, "age"] = None  # not_nullable
    m.loc[0, "patient_id"] = " "  # non_empty string
    e.loc[0, "day"] = -3  # in_range
    found_a, found_b = _run(t, True)[1], _run(t, False)[1]
    assert found_a == found_b
    text = "\n".join(found_b)
    for piece in ("duplicate value", "allowed: one of M, F", "allowed: a number 0–100",
                  "allowed: an integer 0–4", "required value is empty", "a non-empty string",
                  "events, row 1, column 'day'"):
        assert piece in text, piece
