"""The oracle on super-landmark runs: the final model beside the truth at every stacked landmark."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from relapse_ml.config import parse_config
from relapse_ml.data import read_cohort
from relapse_ml.evaluation.oracle import compare_by_landmark, evaluate_oracle

TINY = {
    "name": "oracle-test",
    "landmark": {"super_landmark": True, "landmarks": [60, 90, 180], "horizon_days": 365},
    "models": [{"name": "aalen_johansen"}, {"name": "cox_cs", "params": {"penalizer": 0.1}}],
    "features": ["baseline", "mrd_mfc", "wt1", "chimerism", "gvhd", "arm"],
    "evaluation": {"n_splits": 3, "n_boot": 0},
}


def _outcome(risk, rng):
    """Relapse by 1 with probability ``risk``, else censored or a competing death."""
    u = rng.random(len(risk))
    event = np.where(u < risk, 1, np.where(u < risk + 0.1, 2, 0))
    time = np.where(event == 0, 1.0, rng.uniform(0.05, 0.95, len(risk)))
    return time, event


def test_compare_by_landmark_scores_model_and_truth_on_the_same_rows():
    rng = np.random.default_rng(0)
    n = 1200
    day = np.repeat([60.0, 90.0, 180.0], n // 3)
    truth = rng.uniform(0.05, 0.7, n)
    time, event = _outcome(truth, rng)
    noisy = np.clip(truth + rng.normal(0, 0.2, n), 0.01, 0.99)
    true_risk = np.where(day == 180.0, np.nan, truth)  # no truth at day 180
    true_risk[:5] = np.nan  # nor for five rows at day 60
    table, coverage = compare_by_landmark(time, event, day, noisy, true_risk, 0.99)

    assert coverage.loc[180.0, "rows_with_truth"] == 0
    assert coverage.loc[60.0].tolist() == [400, 395]
    assert set(table["landmark"]) == {60.0, 90.0, "pooled"}
    t = table.set_index(["landmark", "metric"])
    for label in (60.0, 90.0, "pooled"):
        assert t.loc[(label, "c_index"), "oracle"] > t.loc[(label, "c_index"), "model"]
        assert t.loc[(label, "brier_tau"), "oracle"] < t.loc[(label, "brier_tau"), "model"]
    # independent calculation: the pooled rows are exactly those with truth
    has = ~np.isnan(true_risk)
    direct = evaluate_oracle(time[has], event[has], time[has], event[has], noisy[has], 0.99,
                             tables=False)
    assert t.loc[("pooled", "c_index"), "model"] == pytest.approx(direct["c_index"])
    # a perfect model is the oracle: ratio 1 everywhere
    same, _ = compare_by_landmark(time, event, day, np.stack([truth, truth]), true_risk, 0.99)
    np.testing.assert_allclose(same["ratio"].astype(float), 1.0)


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    from relapse_ml.simulate import simulate_trial

    out = tmp_path_factory.mktemp("oracle") / "sim"
    # truth at days 60 and 90 only: day 180 of the run has none
    simulate_trial(450, seed=4, horizon_days=365, truth_draws=8,
                   truth_landmarks=[60, 90]).write(out)
    return out


def test_super_landmark_run_compares_with_the_truth_at_each_landmark(sim_dir, tmp_path):
    from relapse_ml.train import landmark_data, oracle_comparison, run_training

    cfg = parse_config(TINY)
    result = run_training(cfg, read_cohort(sim_dir), track=False, progress=lambda *a: None)
    by = result.oracle_by_landmark
    assert set(by["landmark"]) == {60.0, 90.0, "pooled"}
    assert "no truth at landmark day 180" in result.oracle_note
    t = by.set_index(["landmark", "metric"])
    for label in (60.0, 90.0, "pooled"):
        assert t.loc[(label, "c_index"), "oracle"] > t.loc[(label, "c_index"), "model"] > 0.5
    assert result.oracle.loc["c_index", "model"] == t.loc[("pooled", "c_index"), "model"]

    # the model's numbers are its out-of-fold predictions on the rows with truth
    ld = landmark_data(read_cohort(sim_dir), cfg)
    cv = result.cv[result.final_model]
    j = int(np.argmin(np.abs(cv.times - result.tau)))
    at = pd.read_csv(sim_dir / "truth_at_landmarks.csv", dtype={"patient_id": str})
    key = pd.MultiIndex.from_arrays([ld.landmark_day, ld.patient_id])
    truth = at.set_index(["landmark_day", "patient_id"])["risk"].reindex(key).to_numpy()
    rows = (ld.landmark_day == 90.0) & ~np.isnan(truth)
    direct = evaluate_oracle(ld.time[rows], ld.event[rows], ld.time[rows], ld.event[rows],
                             cv.oof_cif[0, rows, j], result.tau, tables=False)
    assert t.loc[(90.0, "c_index"), "model"] == pytest.approx(direct["c_index"])
    oracle90 = evaluate_oracle(ld.time[rows], ld.event[rows], ld.time[rows], ld.event[rows],
                               truth[rows], result.tau, tables=False)
    assert t.loc[(90.0, "ipa_tau"), "oracle"] == pytest.approx(oracle90["ipa_tau"])

    # a simulated cohort without truth at the landmarks says so, for every landmark
    bare = tmp_path / "bare"
    shutil.copytree(sim_dir, bare)
    (bare / "truth_at_landmarks.csv").unlink()
    pooled, by, note = oracle_comparison(read_cohort(bare), cfg, ld, cv, result.tau)
    assert pooled is None and by is None
    assert note.startswith("no truth at landmark day 60, 90, 180")

    # modelling never reads the truth: without the truth files the metrics are identical
    (bare / "truth.csv").unlink()
    plain = run_training(cfg, read_cohort(bare), track=False, progress=lambda *a: None)
    assert plain.oracle is None and plain.oracle_by_landmark is None
    pd.testing.assert_frame_equal(plain.metrics, result.metrics)


def test_truth_of_another_horizon_is_not_used(sim_dir):
    from relapse_ml.train import run_training

    cfg = parse_config({**TINY, "landmark": {**TINY["landmark"], "horizon_days": 300}})
    result = run_training(cfg, read_cohort(sim_dir), track=False, progress=lambda *a: None)
    assert result.oracle is None and result.oracle_note is None


def test_cli_simulate_then_train_prints_the_oracle_per_landmark(tmp_path):
    import yaml

    from tests._helpers_cli import run_relapse_ml

    r = run_relapse_ml("simulate", "--out", tmp_path / "c", "--n", 300, "--seed", 2,
                       "--horizon-days", 365, "--truth-landmarks", "60,90", "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["truth_landmarks"] == [60.0, 90.0]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "landmark": {**TINY["landmark"], "landmarks": [60, 90, 120]}}))
    r = run_relapse_ml("train", "--data", tmp_path / "c", "--config", cfg, "--no-track", "--json",
                       cwd=tmp_path)
    assert r.returncode in (0, 2), r.stderr
    doc = json.loads(r.stdout)
    assert {row["landmark"] for row in doc["oracle_by_landmark"]} == {60.0, 90.0, "pooled"}
    assert "no truth at landmark day 120" in doc["oracle_note"]
    r = run_relapse_ml("train", "--data", tmp_path / "c", "--config", cfg, "--no-track",
                       cwd=tmp_path)
    assert "against the simulation oracle" in r.stdout and "day 90" in r.stdout
    assert "no truth at landmark day 120" in r.stdout
    assert "CI nan" not in r.stdout  # no interval without bootstrap replicates (n_boot 0)


def test_single_landmark_run_keeps_the_truth_at_randomization(sim_dir):
    """At the simulated landmark the truth file (state at randomization, own arm) is the oracle."""
    from relapse_ml.train import oracle_risk, run_training

    cfg = parse_config({**TINY, "landmark": {"landmark_day": 60, "horizon_days": 365}})
    result = run_training(cfg, read_cohort(sim_dir), track=False, progress=lambda *a: None)
    assert set(result.oracle_by_landmark["landmark"]) == {60.0}
    assert result.oracle_note is None
    truth = pd.read_csv(sim_dir / "truth.csv", dtype={"patient_id": str}).set_index("patient_id")
    cohort = read_cohort(sim_dir)
    pid = cohort.patients["patient_id"].to_numpy()[:3]
    risk = oracle_risk(cohort, cfg, pid, np.full(3, 60.0))
    arm = cohort.patients.set_index("patient_id")["arm"]
    expected = [truth.loc[p, f"risk_{arm[p]}"] for p in pid]
    np.testing.assert_allclose(risk, expected)


def test_tracked_super_landmark_run_logs_the_oracle_per_landmark(sim_dir, tmp_path, monkeypatch):
    import mlflow

    from relapse_ml.train import run_training

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.chdir(tmp_path)
    cfg = parse_config({**TINY, "tracking": {"tracking_uri": uri, "experiment": "t",
                                             "register_as": None}})
    result = run_training(cfg, read_cohort(sim_dir), progress=lambda *a: None)
    logged = mlflow.tracking.MlflowClient(uri).get_run(result.run_id).data.metrics
    t = result.oracle_by_landmark.set_index(["landmark", "metric"])
    final = result.final_model.replace("+", "_plus_")
    for day in (60, 90):
        assert logged[f"oracle.day_{day}.c_index"] == pytest.approx(t.loc[(float(day), "c_index"), "oracle"])
        assert logged[f"{final}.day_{day}.c_index"] == pytest.approx(t.loc[(float(day), "c_index"), "model"])
    assert not any(k.startswith("oracle.day_180") for k in logged)  # no truth there
    local = mlflow.artifacts.download_artifacts(run_id=result.run_id, tracking_uri=uri,
                                                artifact_path="tables", dst_path=str(tmp_path / "a"))
    table = pd.read_csv(f"{local}/oracle_by_landmark.csv")
    assert {"landmark", "metric", "model", "oracle"} <= set(table.columns)
    assert "patient_id" not in table.columns and len(table) == len(result.oracle_by_landmark)
