"""Smoke run of experiments/benchmark_models.py on tiny data: structure, sane ranges, resuming.

The numbers themselves are the benchmark's business (experiments/results); here the
script's core pieces are checked against independent calculations where one exists.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests._helpers_experiments import load_experiment


def _load_script():
    return load_experiment("benchmark_models")


bm = _load_script()

TINY = (
    bm.DataSpec("sim_cv", "simulated", n=160, seed=5, n_splits=3, n_boot=5),
    bm.DataSpec("sim_holdout", "simulated", n=240, seed=6, design="holdout", n_boot=5),
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    messages: list[str] = []
    results = bm.run_benchmark(TINY, out_dir=out, quick=True, progress=messages.append)
    return out, results, messages


def test_writes_json_markdown_and_one_cache_line_per_cell(run):
    out, results, _ = run
    on_disk = json.loads((out / "benchmark_models.json").read_text())
    assert on_disk["data"].keys() == {"sim_cv", "sim_holdout"}
    models = [m.key for m in bm.model_specs(quick=True)]
    lines = (out / "benchmark_models.jsonl").read_text().splitlines()
    assert len(lines) == len(TINY) * len(models)
    for d in on_disk["data"].values():
        assert list(d["cells"]) == models
        assert d["oracle"] is not None
    assert len(on_disk["load_avg_start"]) == 3 and len(on_disk["load_avg_end"]) == 3
    md = (out / "benchmark_models.md").read_text()
    main_table, paired = md.split("Paired differences")
    for m in bm.model_specs(quick=True):
        assert main_table.count(f"| {m.label} |") == len(TINY)  # one row per data set
        assert paired.count(f"| {m.label} |") == (
            0 if m.key in ("aalen_johansen", "cox_cs") else len(TINY)
        )
    assert md.count("**oracle (truth)**") == len(TINY)
    assert bm.RSF_LABEL in md and "Targets:" in md


def test_metrics_in_sane_ranges(run):
    _, results, _ = run
    for dkey, d in results["data"].items():
        spec = next(s for s in TINY if s.key == dkey)
        for mkey, cell in d["cells"].items():
            s = cell["summary"]
            for m in ("c_index", "c_index_ipcw", "auc_tau"):
                assert 0 <= s[m]["pooled"] <= 1, (dkey, mkey, m)
                assert s[m]["ci_low"] <= s[m]["ci_high"], (dkey, mkey, m)
            assert 0 < s["ibs"]["pooled"] < 0.25  # an incidence ≤ 1 has Brier ≤ 0.25 at best guess
            assert s["ipa_tau"]["pooled"] <= 1
            assert 0 < cell["mean_risk_tau"] < 1
            assert cell["fit_s"] >= 0 and cell["predict_s"] >= 0
            expected_fits = 1 if spec.design == "holdout" else spec.n_splits * spec.n_repeats
            assert cell["n_fits"] == expected_fits
            assert cell["tau"] == pytest.approx(bm.HORIZON_DAYS - 0.5)
        # the null predicts (nearly) the same incidence for everyone: no discrimination
        assert abs(d["cells"]["aalen_johansen"]["summary"]["c_index"]["pooled"] - 0.5) < 0.06
        assert d["cells"]["aalen_johansen"]["summary"]["ipa_tau"]["pooled"] == pytest.approx(
            0, abs=0.05
        )
        # the truth discriminates far better than the null
        oracle_c = d["oracle"]["c_index"]["pooled"]
        assert 0.6 < oracle_c <= 1 and d["oracle"]["ipa_tau"]["pooled"] > 0
        ceiling = d["feature_ceiling"]  # regression on the true risk: ranks it better than chance
        assert 0 < ceiling["spearman_true_risk"] <= 1
        assert 0 <= ceiling["c_index"]["estimate"] <= 1
        assert ceiling["ratio"]["c_index"]["estimate"] == pytest.approx(
            ceiling["c_index"]["estimate"] / oracle_c, rel=1e-6
        )
        for mkey, ratio in d["comparisons"]["vs_oracle"].items():
            model_c = d["cells"][mkey]["summary"]["c_index"]["pooled"]
            assert ratio["c_index"]["estimate"] == pytest.approx(model_c / oracle_c, rel=1e-6)
        assert "aalen_johansen" not in d["comparisons"]["vs_cox"]
        assert set(d["comparisons"]["vs_cox"]) == {
            "fine_gray",
            "xgb_cs",
            "xgb_direct",
            "rsf_deaths_censored",
        }


def test_cox_difference_matches_the_cells(run):
    _, results, _ = run
    for d in results["data"].values():
        cox = d["cells"]["cox_cs"]["summary"]["c_index"]["pooled"]
        for mkey, diff in d["comparisons"]["vs_cox"].items():
            model = d["cells"][mkey]["summary"]["c_index"]["pooled"]
            assert diff["c_index"]["estimate"] == pytest.approx(model - cox, abs=1e-9)


def test_rerun_reuses_every_cached_cell(run):
    out, results, _ = run
    messages: list[str] = []
    again = bm.run_benchmark(TINY, out_dir=out, quick=True, progress=messages.append)
    n_models = len(bm.model_specs(quick=True))
    assert sum("cached" in m for m in messages) == len(TINY) * n_models
    assert len((out / "benchmark_models.jsonl").read_text().splitlines()) == len(TINY) * n_models
    for dkey, d in again["data"].items():
        for mkey, cell in d["cells"].items():
            assert cell["summary"] == results["data"][dkey]["cells"][mkey]["summary"]


def test_rsf_adapter_matches_sksurv_step_functions():
    from sksurv.ensemble import RandomSurvivalForest
    from sksurv.util import Surv

    rng = np.random.default_rng(0)
    n = 120
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    X.loc[::7, "b"] = np.nan
    time = rng.integers(1, 400, n).astype(float)
    event = rng.integers(0, 3, n)
    model = bm.DeathsCensoredRSF(n_estimators=10, min_samples_leaf=5).fit(X, time, event)
    times = np.array([0.5, 1.0, 50.3, 200.0, 399.0, 1000.0])
    cif = model.predict_cif(X, times)
    # independent path: sksurv's own StepFunction objects, on the median-imputed features
    filled = X.fillna(X.median()).to_numpy()
    funcs = model.forest_.predict_survival_function(filled)
    first = model.forest_.unique_times_[0]
    for i, fn in enumerate(funcs):
        inside = times >= first
        expect = np.ones(times.size)
        expect[inside] = fn(np.minimum(times[inside], fn.x[-1]))
        np.testing.assert_allclose(cif[i], 1 - expect, atol=1e-12)
    assert np.all(np.diff(cif, axis=1) >= -1e-12) and cif.min() >= 0 and cif.max() <= 1
    # deaths are censored: the same forest fitted by hand on "relapse vs anything else"
    reference = RandomSurvivalForest(
        n_estimators=10, min_samples_leaf=5, max_features="sqrt", random_state=0
    ).fit(filled, Surv.from_arrays(event == 1, time))
    np.testing.assert_allclose(
        model.forest_.predict_survival_function(filled, return_array=True),
        reference.predict_survival_function(filled, return_array=True),
    )
    with pytest.raises(ValueError):
        model.predict_cif(X, times, cause=2)


def test_holdout_split_is_a_stratified_partition():
    event = np.repeat([0, 1, 2], [500, 300, 200])
    train, test = bm.holdout_split(event, 0.3, seed=1)
    assert np.intersect1d(train, test).size == 0
    assert np.union1d(train, test).tolist() == list(range(event.size))
    for code, count in ((0, 500), (1, 300), (2, 200)):
        assert abs((event[test] == code).sum() - 0.3 * count) <= 1


def test_own_arm_risk_picks_each_patients_arm():
    patients = pd.DataFrame(
        {"patient_id": ["A", "B", "C"], "arm": ["sorafenib", "control", "sorafenib"]}
    )
    truth = pd.DataFrame(
        {
            "patient_id": ["C", "A", "B"],
            "risk_control": [0.3, 0.1, 0.2],
            "risk_sorafenib": [0.03, 0.01, 0.02],
        }
    )
    ids = np.array(["B", "C", "A"])
    expected = []
    for pid in ids:  # brute force
        arm = patients.loc[patients.patient_id == pid, "arm"].item()
        col = "risk_sorafenib" if arm == "sorafenib" else "risk_control"
        expected.append(truth.loc[truth.patient_id == pid, col].item())
    np.testing.assert_allclose(bm.own_arm_risk(patients, truth, ids), expected)
    assert bm.own_arm_risk(patients, truth, np.array(["A", "Z"])) is None


def test_paired_contrast_of_identical_predictions_is_null():
    data = bm.load_data(TINY[0], Path("."))
    rng = np.random.default_rng(3)
    pred = {
        "risk": rng.uniform(0.05, 0.6, (1, len(data.ld))),
        "null": np.full((1, len(data.ld)), 0.2),
    }
    diff = bm.paired_contrast(data, pred, pred, "diff")
    ratio = bm.paired_contrast(data, pred, pred, "ratio", metrics=("c_index",))
    for m in bm.PAIRED_METRICS:
        assert diff[m]["estimate"] == 0 and diff[m]["ci_low"] == 0 and diff[m]["ci_high"] == 0
    assert ratio["c_index"]["estimate"] == pytest.approx(1.0)
