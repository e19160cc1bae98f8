"""Registry-scale simulation: chunked cohorts are deterministic however they are computed."""

from __future__ import annotations

import pandas as pd
import pytest

from relapse_ml.simulate import simulate_trial
from relapse_ml.simulate.chunked import chunk_seed, chunk_sizes, simulate_cohort

KW = {"scenario": "uniform", "truth_draws": 4}


def _read(d, fmt="csv"):
    read = pd.read_parquet if fmt == "parquet" else pd.read_csv
    return {t: read(d / f"{t}.{fmt}") for t in ("patients", "measurements", "events", "truth")}


def _equal(a, b):
    def norm(x):  # CSV reads a missing text as NaN, Parquet as None
        return x.astype(object).where(x.notna(), None)

    for t in a:
        pd.testing.assert_frame_equal(norm(a[t]), norm(b[t]), check_dtype=False)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("chunks") / "serial"
    meta = simulate_cohort(out, 180, seed=3, chunk_size=80, **KW)
    return out, meta


def test_chunks_are_fixed_by_n_seed_and_chunk_size(serial):
    out, meta = serial
    assert chunk_sizes(180, 80) == [80, 80, 20]
    assert meta["chunks"]["seeds"] == [3, chunk_seed(3, 1), chunk_seed(3, 2)]
    assert len(set(meta["chunks"]["seeds"])) == 3
    t = _read(out)
    assert len(t["patients"]) == 180 and t["patients"]["patient_id"].is_unique
    assert t["patients"]["patient_id"].iloc[-1] == "SIM00180"
    assert set(t["measurements"]["patient_id"]) <= set(t["patients"]["patient_id"])
    assert meta["n_screened"] >= 180 and meta["screening_flow"]["randomized"] == 180


def test_same_cohort_on_a_dask_cluster_and_in_parquet(serial, tmp_path):
    from distributed import Client, LocalCluster

    out, _ = serial
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                     dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        simulate_cohort(tmp_path / "dask", 180, seed=3, fmt="parquet", chunk_size=80,
                        client=client, **KW)
    _equal(_read(tmp_path / "dask", "parquet"), _read(out))


def test_one_chunk_is_the_one_piece_trial(tmp_path):
    simulate_cohort(tmp_path / "one", 60, seed=5, chunk_size=80, **KW)
    trial = simulate_trial(60, seed=5, **KW)
    t = _read(tmp_path / "one")
    pd.testing.assert_frame_equal(t["patients"], trial.patients.reset_index(drop=True),
                                  check_dtype=False)
    assert len(t["measurements"]) == len(trial.measurements)


def test_cli_simulate_parquet_is_read_back(tmp_path):
    from relapse_ml.data import read_cohort
    from tests._helpers_cli import run_relapse_ml

    r = run_relapse_ml("simulate", "--out", tmp_path / "c", "--n", 120, "--chunk-size", 40,
                       "--workers", 0, "--format", "parquet", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    cohort = read_cohort(tmp_path / "c")
    assert len(cohort.patients) == 120 and (tmp_path / "c" / "truth.parquet").exists()
    bad = run_relapse_ml("simulate", "--out", tmp_path / "d", "--format", "xlsx", cwd=tmp_path)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
