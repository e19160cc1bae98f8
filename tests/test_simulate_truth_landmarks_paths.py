"""The truth at later landmarks through every path: chunked cohorts and `relapse-ml simulate`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from relapse_ml.errors import RelapseMLError
from relapse_ml.simulate import simulate_trial
from relapse_ml.simulate.chunked import chunk_seed, simulate_cohort

KW = {"scenario": "uniform", "truth_draws": 4, "horizon_days": 365, "truth_landmarks": [60, 120]}


def _key(df):
    return df.set_index(["landmark_day", "patient_id"]).sort_index()


def test_chunked_truth_at_landmarks_is_each_chunks_one_piece_truth(tmp_path):
    meta = simulate_cohort(tmp_path / "c", 100, seed=3, chunk_size=40, **KW)
    got = _key(pd.read_csv(tmp_path / "c" / "truth_at_landmarks.csv"))
    assert meta["rows"]["truth_at_landmarks"] == len(got)
    assert meta["truth"]["landmarks"] == [60.0, 120.0]
    assert set(got.index.get_level_values("landmark_day")) == {60.0, 120.0}
    # chunk 1 (patients 41-80) is simulate_trial(40, chunk_seed(3, 1)) renamed
    one = simulate_trial(40, seed=chunk_seed(3, 1), **KW).truth_at_landmarks
    ids = {f"SIM{i:05d}": f"SIM{i + 40:05d}" for i in range(1, 41)}
    want = _key(one.assign(patient_id=one["patient_id"].map(ids)))
    assert len(want) > 40
    pd.testing.assert_frame_equal(got.loc[want.index], want, check_dtype=False)


def test_one_chunk_is_the_one_piece_truth_in_parquet(tmp_path):
    simulate_cohort(tmp_path / "p", 40, seed=5, fmt="parquet", chunk_size=40, **KW)
    got = pd.read_parquet(tmp_path / "p" / "truth_at_landmarks.parquet")
    want = simulate_trial(40, seed=5, **KW).truth_at_landmarks
    pd.testing.assert_frame_equal(got, want.reset_index(drop=True), check_dtype=False)


def test_truth_landmarks_option_parsing():
    from relapse_ml.cli.cohort_cmds import parse_truth_landmarks
    from relapse_ml.config import default

    assert parse_truth_landmarks(None, 730) == [float(d) for d in default("landmark", "landmarks")]
    assert parse_truth_landmarks(None, 3400) == [60.0, 90.0, 120.0, 180.0]  # those that fit
    assert parse_truth_landmarks("180, 60,60", 730) == [60.0, 180.0]
    assert parse_truth_landmarks("none", 730) == []
    for bad, why in (("60,abc", "'abc' is not a day"), ("30", "day 30 is out of range"),
                     ("nan", "out of range"), ("", "is not a day"), ("3000", "out of range")):
        with pytest.raises(RelapseMLError, match=why):
            parse_truth_landmarks(bad, 730)


def test_cli_default_writes_the_truth_at_the_default_landmarks_and_bad_values_exit_2(tmp_path):
    from relapse_ml.config import default
    from tests._helpers_cli import run_relapse_ml

    r = run_relapse_ml("simulate", "--out", tmp_path / "c", "--n", 40, "--seed", 1, "--json",
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    at = pd.read_csv(tmp_path / "c" / "truth_at_landmarks.csv")
    days = sorted(at["landmark_day"].unique())
    assert days == [float(d) for d in default("landmark", "landmarks")]
    assert np.isfinite(at["risk"]).all()
    assert json.loads((tmp_path / "c" / "meta.json").read_text())["truth"]["landmarks"] == days

    bad = run_relapse_ml("simulate", "--out", tmp_path / "d", "--n", 40, "--truth-landmarks",
                         "60,ninety", cwd=tmp_path)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "--truth-landmarks" in lines[0] and "'ninety'" in lines[0]
    assert not (tmp_path / "d").exists()
    r = run_relapse_ml("simulate", "--out", tmp_path / "e", "--n", 40, "--truth-landmarks",
                       "none", "--chunk-size", 20, "--workers", 0, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (tmp_path / "e" / "truth_at_landmarks.csv").exists()
