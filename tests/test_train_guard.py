"""The one source of defaults (configs/default.yaml) and the registration guard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from relapse_ml.config import TrainConfig, load_config, parse_config
from relapse_ml.datasets import import_dataset
from relapse_ml.models import aalen_johansen
from relapse_ml.registration import check_registration
from tests._helpers_cli import run_relapse_ml
from tests._helpers_models import simulate_cause_specific

ROOT = Path(__file__).resolve().parents[1]
FAST = {
    "name": "guard",
    "models": [{"name": "aalen_johansen"}, {"name": "cox_cs", "params": {"penalizer": 0.5}}],
    "features": ["baseline", "extra", "gvhd"],
    "evaluation": {"n_splits": 3, "n_boot": 0},
}


def test_no_config_means_configs_default_yaml():
    shipped = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    cfg = load_config(None)
    assert cfg == TrainConfig() == load_config(ROOT / "configs" / "default.yaml")
    assert [(m.name, m.params) for m in cfg.models] == [
        (m["name"], m.get("params", {})) for m in shipped["models"]]
    assert cfg.landmark.landmark_day == shipped["landmark"]["landmark_day"]
    assert cfg.tracking.max_incidence_gap == shipped["tracking"]["max_incidence_gap"]
    # a config that leaves keys out takes them from the same file, not from code
    partial = parse_config({"name": "x", "landmark": {"landmark_day": 90}})
    assert partial.models == cfg.models and partial.landmark.horizon_days == 730
    assert partial.evaluation == cfg.evaluation


def test_the_train_command_without_config_trains_the_default_models(monkeypatch, tmp_path):
    """The CLI's no-config path hands `run_training` exactly the default config."""
    import relapse_ml.train as train
    from relapse_ml.cli import main

    seen = {}

    class Stop(Exception):
        pass

    def fake_run_training(cfg, cohort, **kw):
        seen["cfg"] = cfg
        raise Stop

    monkeypatch.setattr(train, "run_training", fake_run_training)
    with pytest.raises(Stop):
        main(["--debug", "train", "--no-track"])
    assert seen["cfg"] == load_config(ROOT / "configs" / "default.yaml")
    assert {m.name for m in seen["cfg"].models} == {"aalen_johansen", "cox_cs", "xgb_cs",
                                                    "trajectory", "stack"}
    assert [m.display for m in seen["cfg"].models if m.name == "trajectory"] == [
        "xgb_cs_trajectory", "cox_cs_trajectory"]
    blend = next(m for m in seen["cfg"].models if m.name == "stack")  # their equal blend
    assert blend.display == "blend_trajectory" and blend.params["weights"] == "equal"
    assert [m["label"] for m in blend.params["members"]] == ["xgb_cs_trajectory",
                                                             "cox_cs_trajectory"]
    # baseline covariates in the Cox trajectory model's prior mean only, as candidate and as
    # the blend's member (README, "Every visit")
    assert [m.params.get("covariates") for m in seen["cfg"].models if m.name == "trajectory"] == [
        None, "default"]
    assert [m["params"].get("covariates") for m in blend.params["members"]] == [None, "default"]
    assert seen["cfg"].landmark.super_landmark  # one model for every visit


def _guard(ipa, oof_mean, final_mean, n=400):
    _, time, event = simulate_cause_specific(n, seed=1, horizon=700)
    aj = aalen_johansen(time, event, [699.0], cause=1)[0]
    grid = np.array([100.0, 699.0])
    oof = np.full((1, n, 2), oof_mean)
    return check_registration("m", ipa, oof, grid, np.full(n, final_mean), time, event, 699.0,
                              TrainConfig().tracking), aj


def test_guard_passes_a_sound_model_and_refuses_worse_than_null_or_collapsed():
    _, aj = _guard(0.1, 0.0, 0.0)
    ok, _ = _guard(0.1, aj + 0.01, aj - 0.02)
    assert ok.passed and ok.allowed_gap == pytest.approx(max(0.05, 0.25 * aj))
    bad_ipa, _ = _guard(-0.02, aj, aj)
    assert not bad_ipa.passed and "IPA -0.020" in bad_ipa.reason
    collapsed, _ = _guard(0.1, aj, 0.005)  # the old default Cox: 0.5 % against ~30 %
    assert not collapsed.passed and "refitted" in collapsed.reason
    assert "Aalen–Johansen" in collapsed.reason
    off_oof, _ = _guard(0.1, aj + 0.2, aj)
    assert not off_oof.passed and "out-of-fold" in off_oof.reason


@pytest.fixture(scope="module")
def bmt_dir(tmp_path_factory):
    return import_dataset("bmt", tmp_path_factory.mktemp("bmt") / "bmt")


def test_train_refuses_to_register_and_force_overrides(bmt_dir, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**FAST, "tracking": {"min_ipa": 0.99}}))  # unreachable
    res = run_relapse_ml("train", "--config", cfg, "--data", bmt_dir, "--json", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    err = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "not registered" in err[0] and "below 0.99" in err[0]
    assert "Traceback" not in res.stderr
    doc = json.loads(res.stdout)
    assert doc["run_id"] and doc["model_version"] is None  # logged, not registered
    assert doc["registration_refused"] and doc["guard"]["ipa"] < 0.99

    forced = run_relapse_ml("train", "--config", cfg, "--data", bmt_dir, "--json", "--force",
                            cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert json.loads(forced.stdout)["model_version"] == "1"
