"""The default trains one model for every visit; a config naming its own landmark day trains
at that day."""

from __future__ import annotations

from pathlib import Path

import pytest

from relapse_ml.config import TrainConfig, load_config, parse_config
from relapse_ml.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_is_one_model_for_every_visit():
    cfg = TrainConfig()
    assert cfg.landmark.super_landmark is True
    assert cfg.landmark.landmarks == [60, 90, 120, 180, 270, 365]
    assert "xgb_cs_trajectory" in [m.display for m in cfg.models]
    assert load_config(ROOT / "configs" / "default.yaml").landmark == cfg.landmark
    assert parse_config({"name": "x"}).landmark.super_landmark is True  # nothing said: default


@pytest.mark.parametrize("landmark, expected", [
    ({"landmark_day": 90}, False),                           # a named day: that one landmark
    ({"landmark_day": 60, "horizon_days": 365}, False),
    ({"landmark_day": 60, "super_landmark": True}, True),    # said explicitly: kept
    ({"horizon_days": 365}, True),                           # no day named: the default
    ({"landmarks": [60, 120]}, True),
])  # fmt: skip
def test_a_named_landmark_day_means_one_landmark(landmark, expected):
    cfg = parse_config({"name": "x", "landmark": landmark})
    assert cfg.landmark.super_landmark is expected


def test_registry_configs_stay_at_their_landmark():
    for name in ("bmt", "ebmt4", "myeloid", "trajectory"):  # each names landmark_day: 60
        assert load_config(ROOT / "configs" / f"{name}.yaml").landmark.super_landmark is False


def test_a_bad_landmark_list_is_still_an_error():
    with pytest.raises(ConfigError, match="landmark"):
        parse_config({"name": "x", "landmark": {"landmarks": []}})
