"""Configs: defaults valid, unknown keys and bad values give one clear line each."""

from __future__ import annotations

from pathlib import Path

import pytest

from relapse_ml.config import TrainConfig, flatten, load_config, parse_config
from relapse_ml.errors import ConfigError

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    load_config(path, model=_model_for(path))


def _model_for(path):
    if path.name.startswith("tune"):
        from relapse_ml.tuning.config import TuneConfig

        return TuneConfig
    if path.name.startswith("benefit"):
        from relapse_ml.benefit.config import BenefitConfig

        return BenefitConfig
    if path.name.startswith("design"):
        from relapse_ml.design.config import DesignConfig

        return DesignConfig
    return TrainConfig


def test_default_config_is_the_documented_one():
    cfg = load_config(Path(CONFIGS[0]).parent / "default.yaml")
    assert cfg.landmark.landmark_day == 60 and cfg.landmark.horizon_days == 730
    assert {m.name for m in cfg.models} >= {"cox_cs", "xgb_cs"}
    assert cfg.evaluation.n_jobs == -1  # every core, from relapse_ml/default_config.yaml


def test_train_passes_evaluation_n_jobs_to_cross_validation(monkeypatch, tmp_path):
    import relapse_ml.evaluation as ev
    from relapse_ml.data import read_cohort
    from relapse_ml.simulate import simulate_trial
    from relapse_ml.train import run_training

    simulate_trial(120, seed=1, truth=False).write(tmp_path / "c")

    seen = []

    def spy(*args, **kwargs):
        seen.append(kwargs["n_jobs"])
        raise RuntimeError("stop after the first call")

    monkeypatch.setattr(ev, "cross_validate", spy)
    cfg = parse_config({"evaluation": {"n_jobs": 1, "n_boot": 0},
                        "landmark": {"landmark_day": 60}, "models": [{"name": "aalen_johansen"}]})
    with pytest.raises(RuntimeError, match="first call"):
        run_training(cfg, read_cohort(tmp_path / "c"), track=False, progress=lambda *a: None)
    assert seen == [1]


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"landmark": {"landmark_dya": 60}}, "unknown key 'landmark.landmark_dya'"),
        ({"modles": []}, "unknown key 'modles'"),
        ({"models": [{"name": "random_forest"}]}, "models.0.name"),
        ({"landmark": {"horizon_days": -5}}, "landmark.horizon_days"),
        ({"evaluation": {"n_splits": 1}}, "evaluation.n_splits"),
        ({"models": [{"name": "cox_cs"}, {"name": "cox_cs"}]}, "distinct 'label'"),
        ({"tracking": {"final_model": "xgb_direct"}}, "tracking.final_model"),
        ({"evaluation": {"n_jobs": -2}}, "evaluation.n_jobs"),
    ],
)
def test_bad_configs_name_the_key(data, needle):
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="x.yaml")
    assert needle in str(info.value)
    assert str(info.value).startswith("x.yaml")


def test_yaml_errors_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("landmark: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)


def test_flatten_gives_dotted_params():
    flat = flatten(TrainConfig())
    assert flat["landmark.landmark_day"] == "60"
    assert flat["models.0.name"] == "aalen_johansen" and flat["models.1.name"] == "cox_cs"
