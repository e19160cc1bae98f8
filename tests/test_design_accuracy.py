"""`design.accuracy`: the reported individual benefit scored against the truth, and the
truth read from memory or from a (chunked, Parquet) simulated cohort."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.config import parse_config
from relapse_ml.design.accuracy import accuracy_rows, read_truth
from relapse_ml.design.config import DesignConfig
from tests._helpers_experiments import load_experiment

COLS = ["benefit", "rfs_benefit"]


@pytest.fixture(scope="module")
def trial_data():
    from relapse_ml.benefit.data import benefit_data
    from relapse_ml.simulate import simulate_trial

    cfg = parse_config({"analyses": ["benefit_accuracy"], "sizes": [200],
                        "accuracy": {"learners": "trial", "n_boot": 3},
                        "tracking": {"enabled": False}}, DesignConfig)
    trial = simulate_trial(n=200, seed=11, scenario="mrd_driven", truth_draws=4)
    data = benefit_data(trial.to_cohort(), cfg.benefit_config())
    return cfg, trial, data


def test_accuracy_rows_score_the_reported_estimate_of_the_public_api(trial_data):
    from relapse_ml.benefit.individual import reported_benefit

    cfg, trial, data = trial_data
    rcfg = cfg.reported_config()
    assert rcfg.intervals.n_boot == 3 and [s.display for s in rcfg.learners] == ["s_fg"]
    truth = read_truth(trial.truth, data.patient_id)
    rows = {r["analysis"]: r for r in accuracy_rows(data, rcfg, truth)}
    frame, rep, info = reported_benefit(data, rcfg)  # the same estimate, computed alone
    for o, col in (("relapse", "benefit"), ("rfs", "rfs_benefit")):
        true = truth[col].to_numpy(float)
        est = frame[f"benefit_{o}"].to_numpy(float)
        rmse = np.sqrt(np.mean((est - true) ** 2))
        assert rows[f"benefit:{o}:rmse"]["estimate"] == pytest.approx(rmse, rel=1e-12)
        ratio = rows[f"benefit:{o}:rmse"]["estimate"] / rows[f"benefit:{o}:rmse_average"]["estimate"]
        assert rows[f"benefit:{o}:rmse_ratio"]["estimate"] == pytest.approx(ratio, rel=1e-12)
        inside = (frame[f"benefit_{o}_low"] <= true) & (true <= frame[f"benefit_{o}_high"])
        assert rows[f"benefit:{o}:coverage"]["estimate"] == pytest.approx(inside.mean())
        ind = rows[f"benefit:{o}:individual"]
        assert ind["estimate"] == float(rep.choices[o].kind != "constant")
        assert ind["note"].startswith(rep.choices[o].learner) and "bootstrap 3/3" in ind["note"]


def test_without_bootstrap_there_is_no_coverage_and_without_truth_one_note(trial_data):
    cfg, trial, data = trial_data
    rcfg = cfg.reported_config().model_copy(
        update={"intervals": cfg.reported_config().intervals.model_copy(update={"n_boot": 0})})
    rows = {r["analysis"]: r for r in accuracy_rows(data, rcfg, read_truth(trial.truth,
                                                                           data.patient_id))}
    assert np.isnan(rows["benefit:relapse:coverage"]["estimate"])
    assert np.isfinite(rows["benefit:relapse:rmse_ratio"]["estimate"])
    missing = accuracy_rows(data, rcfg, None)
    assert len(missing) == 1 and missing[0]["note"] == "truth missing"


def test_default_learners_are_the_benefit_packages_and_n_boot_is_configurable():
    from relapse_ml.benefit.config import BenefitConfig

    cfg = parse_config({"accuracy": {"n_boot": 7}, "tracking": {"enabled": False}},
                       DesignConfig)
    rcfg = cfg.reported_config()
    assert [s.display for s in rcfg.learners] == [s.display for s in BenefitConfig().learners]
    assert rcfg.intervals.n_boot == 7 and cfg.benefit_config().intervals.n_boot == 0


def test_read_truth_from_a_chunked_parquet_cohort_matches_each_chunk(tmp_path):
    from relapse_ml.simulate import simulate_trial
    from relapse_ml.simulate.chunked import chunk_seed, simulate_cohort

    simulate_cohort(tmp_path / "c", 80, seed=3, fmt="parquet", chunk_size=40, truth_draws=2)
    assert (tmp_path / "c" / "truth.parquet").exists()
    ids = [f"SIM{i:05d}" for i in range(80, 40, -1)]  # chunk 1's patients, reversed
    got = read_truth(tmp_path / "c", ids, landmark_day=60, horizon_days=730)
    alone = simulate_trial(n=40, seed=chunk_seed(3, 1), truth_draws=2).truth
    want = alone[COLS].iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[COLS], want, check_dtype=False)
    # truth simulated at another landmark or horizon is not this analysis' truth
    assert read_truth(tmp_path / "c", ids, landmark_day=90) is None
    assert read_truth(tmp_path / "c", ["SIM99999"]) is None
    assert read_truth(tmp_path, ids) is None  # no truth file


def test_every_learners_heterogeneity_test_and_the_true_rankings(tmp_path):
    from relapse_ml.design.analyses import run_trial

    cfg = parse_config({"analyses": ["heterogeneity", "oracle"], "sizes": [200], "truth_draws": 4,
                        "scenarios": [{"name": "mrd_driven"}],
                        "benefit": {"learners": [{"kind": "s", "label": "s_fg",
                                                  "interactions": "key"},
                                                 {"kind": "s", "label": "s_fg_risk",
                                                  "interactions": []}]},
                        "tracking": {"enabled": False}}, DesignConfig)
    rows = {r["analysis"]: r for r in run_trial(cfg, "mrd_driven", 200, 5)["rows"]}
    assert {"heterogeneity:autoc", "heterogeneity:autoc:s_fg_risk", "oracle:relapse:autoc",
            "oracle:rfs:autoc"} <= set(rows)
    for a in ("heterogeneity:autoc:s_fg_risk", "oracle:relapse:autoc"):
        r = rows[a]
        assert 0 <= r["p_value"] <= 1 and r["ci_low"] <= r["estimate"] <= r["ci_high"]
        assert r["reject"] == (r["p_value"] < 0.05)


def test_benefit_simulation_tables_come_from_the_design_summary(tmp_path, monkeypatch):

    from relapse_ml.design.runner import run_design
    from relapse_ml.design.summary import read_table

    mod = load_experiment("benefit_simulation", "benefit_simulation_script")
    cfg = parse_config({"analyses": ["subgroups", "benefit_accuracy"], "sizes": [150],
                        "trials": 2, "truth_draws": 2, "scenarios": [{"name": "null"}],
                        "subgroups": ["mrd_detectable"],
                        "accuracy": {"learners": "trial", "n_boot": 0},
                        "tracking": {"enabled": False}}, DesignConfig)
    run_design(cfg, tmp_path / "individual", workers=0, track=False)
    monkeypatch.setattr(mod, "study_dir", lambda study: tmp_path / study)
    monkeypatch.setattr(mod, "ROOT", tmp_path)
    monkeypatch.setattr(mod, "config_path", lambda study: tmp_path / f"{study}.yaml")
    md = mod.render_tables()
    s = read_table(tmp_path / "individual" / "summary.csv").set_index("analysis")
    ratio = s.loc["benefit:relapse:rmse_ratio", "mean_estimate"]
    row = next(line for line in md.splitlines() if line.startswith("| null | 150 | 2 |"))
    assert f"| {ratio:.2f}" in row and "Individual benefit" in md
    assert "summary.csv" in md and "individual/summary.csv" in md
