"""A stack in `train`: its weights printed, logged and in the JSON; its calibration (slope,
intercept, ICI, mean gap) in the metrics like every other model's; trajectory members."""

from __future__ import annotations

import json

import numpy as np
import pytest

from relapse_ml.config import parse_config
from relapse_ml.data import read_cohort
from relapse_ml.datasets import import_dataset
from tests._helpers_cli import run_relapse_ml

STACK = {"name": "stack", "params": {"members": [
    {"name": "cox_cs", "params": {"penalizer": 0.5}},
    {"name": "xgb_cs", "params": {"n_estimators": 20, "max_depth": 2}}], "inner_splits": 2}}
CONFIG = {
    "name": "stack-test",
    "landmark": {"super_landmark": False},
    "models": [{"name": "aalen_johansen"}, {"name": "cox_cs", "params": {"penalizer": 0.5}},
               STACK],
    "features": ["baseline", "extra", "gvhd"],
    "evaluation": {"n_splits": 3, "n_boot": 0, "n_jobs": 1},
    "tracking": {"final_model": "stack"},
}
CALIBRATION = ("calibration_slope", "calibration_intercept", "ici", "mean_gap")


@pytest.fixture(scope="module")
def bmt_dir(tmp_path_factory):
    return import_dataset("bmt", tmp_path_factory.mktemp("bmt") / "bmt")


def _aj_brute_force(time, event, tau) -> float:
    """F1(tau) = sum over event times t_j <= tau of S(t_j-) d1_j / n_j (exact ties)."""
    s, f1 = 1.0, 0.0
    for t in np.unique(time[(event > 0) & (time <= tau)]):
        n = np.sum(time >= t)
        d1, d = np.sum((time == t) & (event == 1)), np.sum((time == t) & (event > 0))
        f1 += s * d1 / n
        s *= 1.0 - d / n
    return f1


def test_train_logs_the_weights_and_every_models_calibration(bmt_dir, tmp_path, monkeypatch):
    import mlflow

    from relapse_ml.train import landmark_data, run_training

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.chdir(tmp_path)
    cfg = parse_config({**CONFIG, "tracking": {**CONFIG["tracking"], "tracking_uri": uri,
                                               "experiment": "t", "register_as": None,
                                               "log_model": False}})
    cohort = read_cohort(bmt_dir)
    said = []
    result = run_training(cfg, cohort, progress=said.append)

    weights = result.predictor.info["stack_weights"]
    assert set(weights) == {"aalen_johansen", "cox_cs", "xgb_cs"}
    assert sum(weights.values()) == pytest.approx(1.0) and min(weights.values()) >= 0
    assert any("stack weights" in str(s) for s in said)
    ibs = result.predictor.info["stack_inner_ibs"]
    assert ibs["stack"] <= min(v for k, v in ibs.items() if k != "stack") + 1e-12
    m = result.metrics.set_index(["model", "metric"])["pooled"]
    for model in ("aalen_johansen", "cox_cs", "stack"):
        for metric in CALIBRATION:
            assert np.isfinite(m[(model, metric)]), (model, metric)
    # mean gap = mean out-of-fold relapse incidence at tau − Aalen–Johansen (brute force)
    ld = landmark_data(cohort, cfg)
    cv = result.cv["stack"]
    j = int(np.argmin(np.abs(cv.times - result.tau)))
    aj = _aj_brute_force(ld.time, ld.event, result.tau)
    assert m[("stack", "mean_gap")] == pytest.approx(cv.oof_cif[..., j].mean() - aj, abs=1e-12)
    assert abs(m[("aalen_johansen", "mean_gap")]) < 0.02  # the null is calibrated in the large
    assert result.predictor.info["metrics"]["mean_gap"] == m[("stack", "mean_gap")]

    logged = mlflow.tracking.MlflowClient(uri).get_run(result.run_id).data.metrics
    for label, w in weights.items():
        assert logged[f"stack.weight.{label}"] == pytest.approx(w)
    for metric in CALIBRATION:
        assert f"stack.{metric}" in logged and f"cox_cs.{metric}" in logged


def test_train_json_carries_the_stack_weights(bmt_dir, tmp_path):
    cfg = tmp_path / "stack.json"
    cfg.write_text(json.dumps(CONFIG))  # YAML is a superset of JSON
    r = run_relapse_ml("train", "--config", str(cfg), "--data", str(bmt_dir), "--no-track",
                       "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["final_model"] == "stack"
    assert sum(doc["stack_weights"].values()) == pytest.approx(1.0)
    assert set(doc["stack_inner_ibs"]) == {*doc["stack_weights"], "stack"}
    rows = {(x["model"], x["metric"]) for x in doc["metrics"]}
    assert {("stack", c) for c in CALIBRATION} <= rows


def test_a_stack_with_trajectory_members_gets_the_marker_histories():
    from relapse_ml.train import feature_list

    traj = {"name": "trajectory", "label": "t", "params": {"model": "cox_cs"}}
    with_traj = parse_config({**CONFIG, "models": [
        {"name": "stack", "params": {"members": [traj, {"name": "cox_cs"}]}}]})
    without = parse_config(CONFIG)
    assert "marker_history" in feature_list(with_traj)
    assert "marker_history" not in (feature_list(without) or [])


def test_a_bad_trajectory_member_fails_before_training():
    from relapse_ml.errors import ModelError
    from relapse_ml.models import make_model

    with pytest.raises(ModelError, match="Unknown model 'cox'"):
        make_model("stack", members=[{"name": "trajectory", "params": {"model": "cox"}}])
    with pytest.raises(ModelError, match="no parameter"):
        make_model("stack", members=[{"name": "trajectory", "params": {"modle": "cox_cs"}}])


def test_a_direct_member_gets_the_runs_horizon_like_a_direct_candidate():
    from relapse_ml.train import model_params

    cfg = parse_config({**CONFIG, "landmark": {"super_landmark": False, "horizon_days": 365},
                        "models": [{"name": "stack", "params": {"members": [
                            {"name": "xgb_direct", "params": {"n_estimators": 5}},
                            {"name": "trajectory", "params": {"model": "xgb_direct"}},
                            {"name": "xgb_direct", "params": {"horizon": 100.0}}]}}]})
    members = model_params(cfg.models[0], cfg)["members"]
    assert members[0]["params"] == {"n_estimators": 5, "horizon": 364.5}
    assert members[1]["params"]["model_params"] == {"horizon": 364.5}
    assert members[2]["params"]["horizon"] == 100.0  # a horizon the config gives is kept
    assert "horizon" not in cfg.models[0].params["members"][0]["params"]  # config untouched
