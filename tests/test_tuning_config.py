"""Tuning configs: search spaces validate, and every bad one is one ConfigError line naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from relapse_ml.config import load_config, parse_config
from relapse_ml.errors import ConfigError
from relapse_ml.tuning.config import Choice, FloatRange, IntRange, TuneConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _one(space: dict, name: str = "xgb_cs", **model) -> dict:
    return {"models": [{"name": name, "search_space": space, **model}]}


def test_types_are_inferred_and_explicit_ones_kept():
    cfg = parse_config(
        _one(
            {
                "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
                "max_depth": {"low": 1, "high": 4},
                "subsample": {"choices": [0.5, 1.0]},
                "min_child_weight": {"type": "float", "low": 1, "high": 10},
            }
        ),
        TuneConfig,
    )
    space = cfg.models[0].search_space
    assert isinstance(space["learning_rate"], FloatRange) and space["learning_rate"].log
    assert isinstance(space["max_depth"], IntRange)
    assert isinstance(space["subsample"], Choice)
    assert isinstance(space["min_child_weight"], FloatRange)  # whole bounds, but type: float
    assert cfg.direction == "minimize" and cfg.objective == "ibs"
    assert parse_config({"objective": "c_index"}, TuneConfig).direction == "maximize"


def test_shipped_tune_configs_name_real_parameters():
    for path in sorted(CONFIGS.glob("tune*.yaml")):
        cfg = load_config(path, model=TuneConfig)
        assert any(m.search_space for m in cfg.models), path.name


@pytest.mark.parametrize(
    "data, key, words",
    [
        (
            _one({"learning_rate": {"low": 0.5, "high": 0.1}}),
            "search_space.learning_rate",
            "below high",
        ),
        (
            _one({"learning_rate": {"low": 0.0, "high": 0.1, "log": True}}),
            "search_space.learning_rate",
            "low > 0",
        ),
        (
            _one({"max_depth": {"low": 0, "high": 4, "log": True}}),
            "search_space.max_depth",
            "low > 0",
        ),
        (_one({"depth": {"low": 1, "high": 4}}), "search_space.depth", "has no parameter"),
        (_one({"depth": {"low": 1, "high": 4}}, name="random_forest"), "models.0.name", "xgb_cs"),
        (_one({"max_depth": {"choices": []}}), "search_space.max_depth", "empty"),
        (_one({"max_depth": {"low": 1.5, "high": 4}}), "search_space.max_depth", "whole number"),
        (
            _one({"max_depth": {"type": "integer", "low": 1, "high": 4}}),
            "search_space.max_depth",
            "type must be",
        ),
        (
            _one({"max_depth": {"low": 1, "high": 4, "lgo": True}}),
            "search_space.max_depth",
            "unknown key",
        ),
        (
            _one({"max_depth": {"low": 1, "high": 4}}, params={"max_depth": 2}),
            "search_space.max_depth",
            "params",
        ),
        (_one({}, baseline={"max_dpeth": 2}), "baseline.max_dpeth", "has no parameter"),
        ({"objective": "auc"}, "objective", "ibs"),
        ({"study": {"pruner": "hyperband"}}, "study.pruner", "median"),
        ({"study": {"heartbeat_interval": 10, "grace_period": 5}}, "study", "grace_period"),
        ({"tracking": {"final_model": "xgb_cs"}}, "tracking.final_model", "not used"),
    ],
)
def test_bad_search_spaces_give_one_line_naming_the_key(data, key, words):
    with pytest.raises(ConfigError) as info:
        parse_config(data, TuneConfig, "tune.yaml")
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert message.startswith("tune.yaml: ")
    assert key in message and words in message, message


def test_train_config_carries_landmark_features_and_params():
    cfg = parse_config(
        {
            "landmark": {"landmark_day": 90},
            "features": ["age"],
            **_one({"max_depth": {"low": 1, "high": 3}}),
        },
        TuneConfig,
    )
    train = cfg.train_config(cfg.models[0], {"max_depth": 2})
    assert train.landmark.landmark_day == 90 and train.features == ["age"]
    assert train.models[0].params == {"max_depth": 2}
