"""experiments/benchmark_trajectory.py: the rendered table sets every model beside the peer."""

from __future__ import annotations

import pytest

from tests._helpers_experiments import load_experiment


@pytest.fixture(scope="module")
def bt():
    return load_experiment("benchmark_trajectory")


def _rows():
    c = {("careful_cox", 1): 0.66, ("careful_cox", 2): 0.67, ("careful_cox", 3): 0.65,
         ("default", 1): 0.68, ("default", 2): 0.68, ("default", 3): 0.66}
    return [{"landmark": 60, "seed": s, "model": m, "n_train": 2500, "c_index": v, "ipa": 0.1,
             "mean_risk": 0.27, "r2_truth": 0.1, **({"final_model": "xgb_cs"} if m == "default"
                                                     else {})}
            for (m, s), v in c.items()]


def test_render_shows_paired_difference_to_the_peer_and_the_chosen_model(bt):
    md = bt.render(_rows())
    line = next(x for x in md.splitlines() if x.startswith("| default pipeline"))
    assert "→ xgb_cs" in line
    cells = [x.strip() for x in line.split("|")]
    assert cells[2] == "0.673 ± 0.012"  # mean ± SD over the 3 seeds
    assert cells[3] == "+0.0133 ± 0.0058"  # paired: differences 0.02, 0.01, 0.01
    peer = next(x for x in md.splitlines() if x.startswith("| careful landmark Cox"))
    assert [x.strip() for x in peer.split("|")][3] == "—"


def test_pipeline_config_is_the_shipped_default_with_intervals_off(bt):
    from relapse_ml.config import default

    cfg = bt.pipeline_config("default")
    shipped = default()
    assert [m.name for m in cfg.models] == [m["name"] for m in shipped["models"]]
    assert cfg.evaluation.n_boot == 0
    assert cfg.landmark.super_landmark == bool(shipped["landmark"]["super_landmark"])
    assert bt.pipeline_config("default_super").landmark.super_landmark
