"""`relapse-ml benefit` and `relapse-ml subgroups` end to end, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests._helpers_cli import run_relapse_ml

SMALL = """
name: benefit-test
learners:
  - {label: s_risk, kind: s, interactions: [], model: {name: fine_gray, params: {penalizer: 0.1}}}
  - {label: dr, kind: dr, model: {name: fine_gray, params: {penalizer: 0.1}}}
primary: dr
intervals: {n_boot: 3, learners: [dr]}
heterogeneity: {n_boot: 50}
subgroups: {names: [mrd_detectable, age_band, donor_type]}
explain: {top_features: 1, n_patients: 1, surrogate: {n_estimators: 30}}
"""


def run_cli(args, cwd: Path, timeout=600):
    return run_relapse_ml(*args, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("benefit_cli")
    (d / "benefit.yaml").write_text(SMALL)
    return d


@pytest.fixture(scope="module")
def benefit_run(workdir):
    res = run_cli(
        [
            "benefit",
            "--config",
            workdir / "benefit.yaml",
            "--json",
            "--save-patient-estimates",
            workdir / "out" / "patients.csv",
        ],
        workdir,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_benefit_json_on_the_demo_cohort(benefit_run):
    doc = benefit_run
    assert doc["primary_learner"] == "dr" and doc["patients"] > 300
    assert set(doc["average_benefit"]) == {"relapse", "rfs"}
    a = doc["average_benefit"]["relapse"]
    assert a["dr_low"] < a["dr_estimate"] < a["dr_high"]
    h = doc["heterogeneity_test"]
    assert 0 <= h["test_autoc_p"] <= 1 and isinstance(h["heterogeneity_detected"], bool)
    learners = {(m["learner"], m["outcome"]) for m in doc["metrics"]}
    named = ("s_risk", "dr", "constant", "reported", "trial_average")
    assert learners == {(x, o) for x in named for o in ("relapse", "rfs")}
    for o in ("relapse", "rfs"):
        rep = doc["reported"][o]
        assert rep["learner"] in ("s_risk", "dr", "constant") and rep["reason"]
        assert rep["kind"] in ("constant", "risk", "individual")
        assert sum(doc["intervals"]["reported"]["choices"][o].values()) == 3
    assert {"tau_risk", "tau_risk_vs_constant", "r_loss"} <= {m["metric"] for m in doc["metrics"]}
    assert doc["truth_used"] is True  # the demo cohort is simulated and carries its truth
    assert {m["metric"] for m in doc["metrics"]} >= {
        "test_autoc_p",
        "c_for_benefit",
        "truth_spearman",
    }
    assert doc["intervals"]["dr"]["n_ok"] == 3
    s = doc["explain"]["surrogate"]["relapse"]
    if doc["reported"]["relapse"]["kind"] == "constant":  # SHAP explains what is reported
        assert s["constant"] and s["top_features"] == []
    else:
        assert len(s["top_features"]) == 1 and s["r2_in_sample"] <= 1
    assert "not causation" in doc["explain"]["note"]


def test_patient_estimates_only_where_asked(benefit_run, workdir):
    table = pd.read_csv(workdir / "out" / "patients.csv")
    assert len(table) == benefit_run["patients"]
    assert {"dr_relapse_benefit", "dr_relapse_benefit_low", "dr_rfs_benefit"} <= set(table)
    assert (table["dr_relapse_benefit_low"] <= table["dr_relapse_benefit_high"]).all()
    for o in ("relapse", "rfs"):  # the reported estimate: every patient, no missing values
        cols = [f"benefit_{o}", f"benefit_{o}_low", f"benefit_{o}_high"]
        assert table[cols].notna().all().all()
        assert (table[cols[1]] <= table[cols[0]]).all() and (table[cols[0]] <= table[cols[2]]).all()
    # per-patient SHAP only where some reported estimate differs between patients
    explained = any(not benefit_run["explain"]["surrogate"][o].get("constant")
                    for o in ("relapse", "rfs"))
    assert (workdir / "out" / "patients_explanations.csv").exists() == explained
    # MLflow holds aggregates only: no patient id in any logged table
    import mlflow

    client = mlflow.tracking.MlflowClient(f"sqlite:///{workdir / 'mlruns.db'}")
    run = client.get_run(benefit_run["run_id"])
    assert run.data.tags["relapse_ml.kind"] == "benefit"
    assert "dr.relapse.test_autoc_p" in run.data.metrics
    ids = set(table["patient_id"].astype(str))
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    files = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in files) and any(p.suffix == ".csv" for p in files)
    for p in files:
        if p.suffix in (".csv", ".json"):
            text = p.read_text()
            assert not any(i in text for i in list(ids)[:50]), p


def test_subgroups_forest_plot_and_json(workdir):
    res = run_cli(
        ["subgroups", "--config", workdir / "benefit.yaml", "--json", "--out", workdir / "sg"],
        workdir,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    forest = workdir / "sg" / "forest_relapse.png"
    assert forest.exists() and forest.stat().st_size > 10_000
    rows = doc["subgroups"]["relapse"]
    assert {r["subgroup"] for r in rows} == {"mrd_detectable", "age_band", "donor_type"}
    for r in rows:
        assert r["p_holm"] >= r["interaction_p"] - 1e-12 and r["p_bh"] <= r["p_holm"] + 1e-12
    assert any(r["small"] for r in rows)  # the demo has few MUD / cord donors: flagged
    assert doc["exploratory"]["n_discovery"] + doc["exploratory"]["n_test"] == doc["patients"]
    table = pd.read_csv(workdir / "sg" / "subgroups.csv")
    assert "all patients" in set(table["level"])


def test_no_arm_and_bad_config_exit_2_with_one_line(workdir):
    from tests._helpers_data import tiny_tables, write_tables

    t = tiny_tables()
    t["patients"] = t["patients"].drop(columns=["arm"])
    cohort = write_tables(t, workdir / "no_arm")
    for cmd in ("benefit", "subgroups"):
        res = run_cli([cmd, "--data", cohort, "--no-track"], workdir)
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "needs a cohort with a randomized 'arm'" in lines[0]
        assert "Traceback" not in res.stderr
    bad = workdir / "bad.yaml"
    bad.write_text("subgroups: {names: [mrd_positive]}\n")
    res = run_cli(["subgroups", "--config", bad, "--no-track"], workdir)
    assert res.returncode == 2 and "unknown subgroup(s) 'mrd_positive'" in res.stderr
    assert "Traceback" not in res.stderr
