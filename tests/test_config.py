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
