"""experiments/benchmark_calibration.py on tiny data: its numbers against direct calculations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests._helpers_experiments import load_experiment

bc = load_experiment("benchmark_calibration")


def test_calibration_rows_and_table():
    from relapse_ml.config import parse_config
    from relapse_ml.models.aalen_johansen import aalen_johansen
    from relapse_ml.simulate import simulate_trial
    from relapse_ml.train import landmark_data, run_training

    cfg = parse_config({"landmark": {"landmarks": [60, 120]},
                        "models": [{"name": "aalen_johansen"}, {"name": "cox_cs"}],
                        "features": ["baseline", "mrd_mfc", "gvhd"],
                        "evaluation": {"n_splits": 3, "n_boot": 0}})
    cohort = simulate_trial(n=300, seed=2, truth=False).to_cohort()
    result = run_training(cfg, cohort, track=False, progress=lambda *a: None)
    ld = landmark_data(cohort, cfg)
    rows = pd.DataFrame(bc.calibration_rows(result, ld, 300, 2))
    assert set(rows["landmark"]) == {"pooled", 60.0, 120.0}
    cox = rows[rows["model"] == "cox_cs"].set_index("landmark")
    assert cox.loc[60.0, "rows"] + cox.loc[120.0, "rows"] == cox.loc["pooled", "rows"] == len(ld)
    cv = result.cv["cox_cs"]
    j = int(np.argmin(np.abs(cv.times - result.tau)))
    m = ld.landmark_day == 120.0
    assert cox.loc[120.0, "mean_pred"] == pytest.approx(cv.oof_cif[0, m, j].mean())
    aj = aalen_johansen(ld.time[m], ld.event[m], [result.tau], cause=1)[0]
    assert cox.loc[120.0, "aj"] == pytest.approx(aj)
    assert cox.loc["pooled", "slope"] == pytest.approx(cv.summary.loc["calibration_slope", "pooled"])
    assert 0.3 < cox.loc["pooled", "slope"] < 2  # a sane cox model on 300 patients

    md, js = bc.render([{"kind": "cost", "n": 300, "seed": 2, "rows": len(ld), "train_wall_s": 1.0,
                         "train_cpu_s": 1.0, "load_avg_1min_at_start": 1, "load_avg_1min_at_end": 1,
                         "final_model": "cox_cs"}, *rows.to_dict(orient="records")])
    assert "| 300 | 2 | aalen_johansen | — (constant) |" in md
    assert {r["model"] for r in js["pooled"]} == {"aalen_johansen", "cox_cs"}


def test_target_reading():
    ok, low = pd.Series([0.95, 1.05]), pd.Series([0.85, 1.0])
    small, big = pd.Series([0.01, -0.015]), pd.Series([0.01, 0.03])
    assert bc._meets(2000, ok, small) == "yes"
    assert bc._meets(2000, low, small) == "no (slope)"
    assert bc._meets(5000, low, big) == "no (slope, gap)"
    assert bc._meets(346, low, small) == "yes"  # the slope counts from n = 2,000
    assert bc._meets(20000, low, small, null=True) == "yes"


def test_variant_sets_the_linear_models_landmark_terms():
    cfg = bc.config(0, ["aalen_johansen", "cox_cs", "fine_gray"], "shared")
    models = {m.label or m.name: m for m in cfg.models}
    assert sorted(models) == ["aalen_johansen", "cox_cs", "fine_gray"]
    for name in ("cox_cs", "fine_gray"):
        assert models[name].params == {"penalizer": "auto_1se", "landmark_strata": False,
                                       "landmark_interactions": False}  # the default's ridge
    assert models["aalen_johansen"].params in ({}, None)
    assert cfg.evaluation.n_boot == 0
    # the default's Cox inside the trajectory step gets the same landmark terms
    traj = {m.display: m for m in bc.config(0, ["cox_cs_trajectory"], "shared").models}
    assert traj["cox_cs_trajectory"].params["model_params"] == {
        "penalizer": "auto_1se", "landmark_strata": False, "landmark_interactions": False}
    # the penalty variants set the ridge of every linear model, the trajectory's Cox included
    fixed = {m.display: m for m in bc.config(0, ["cox_cs", "cox_cs_trajectory"],
                                             "penalizer_0.1").models}
    assert fixed["cox_cs"].params["penalizer"] == 0.1
    assert fixed["cox_cs_trajectory"].params["model_params"]["penalizer"] == 0.1


def test_compare_puts_the_variants_side_by_side(tmp_path):
    import json

    def row(model, seed, slope, gap, ipa):
        return {"kind": "calibration", "n": 2000, "seed": seed, "model": model,
                "landmark": "pooled", "slope": slope, "gap": gap, "ipa": ipa, "c_index": 0.7}

    for variant, slope in (("penalizer_0.1", 0.96), ("penalty_1se", 1.01)):
        rows = [row("cox_cs", 1, slope, 0.005, 0.13), row("cox_cs", 2, slope + 0.02, 0.007, 0.14),
                row("aalen_johansen", 1, 1.0, 0.0, 0.0)]
        (tmp_path / f"{bc.STEM}_{variant}.jsonl").write_text(
            "\n".join(json.dumps(r) for r in rows) + "\n")
    md = bc.compare(["penalizer_0.1", "penalty_1se"], tmp_path)
    assert "| 2,000 | cox_cs | penalizer_0.1 | 0.97 (0.96 to 0.98) | +0.006 (+0.005 to +0.007) |" in md
    assert "| 2,000 | cox_cs | penalty_1se | 1.02 (1.01 to 1.03) |" in md
    assert "aalen_johansen" not in md.split("|---:|")[1]  # the null model has no slope
