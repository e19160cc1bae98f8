"""The training loop end to end: CV metrics, MLflow run, registered pyfunc, no patient rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relapse_ml.config import parse_config
from relapse_ml.data import read_cohort
from relapse_ml.datasets import import_dataset
from tests._helpers_cli import run_relapse_ml

FAST = {
    "name": "test",
    "landmark": {"super_landmark": False},  # day 60 only (the default trains at every visit)
    "models": [
        {"name": "aalen_johansen"},
        {"name": "cox_cs", "params": {"penalizer": 0.5}},
        {"name": "xgb_cs", "params": {"n_estimators": 30, "max_depth": 2}},
    ],
    "features": ["baseline", "extra", "gvhd"],
    "evaluation": {"n_splits": 3, "n_boot": 10},
}


@pytest.fixture(scope="module")
def bmt_dir(tmp_path_factory):
    return import_dataset("bmt", tmp_path_factory.mktemp("bmt") / "bmt")


def test_training_tracks_a_run_and_registers_a_usable_model(bmt_dir, tmp_path, monkeypatch):
    import mlflow

    from relapse_ml.train import run_training

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.chdir(tmp_path)
    # a label with '+' (not allowed in MLflow names) is logged under a sanitized key
    models = [dict(m, label="cox+pen") if m["name"] == "cox_cs" else m for m in FAST["models"]]
    cfg = parse_config({**FAST, "models": models,
                        "tracking": {"tracking_uri": uri, "experiment": "t"}})
    cohort = read_cohort(bmt_dir)
    result = run_training(cfg, cohort, progress=lambda *a: None)

    assert result.final_model in {"cox+pen", "xgb_cs"}  # the null model is never picked
    m = result.metrics.set_index(["model", "metric"])["pooled"]
    assert abs(m[("aalen_johansen", "ipa_tau")]) < 0.02  # the null model against itself
    assert m[("cox+pen", "c_index")] > 0.5  # bmt carries some signal (disease group, GVHD)
    client = mlflow.tracking.MlflowClient(uri)
    run = client.get_run(result.run_id)
    assert run.data.params["landmark.landmark_day"] == "60"
    assert run.data.tags["relapse_ml.kind"] == "train"
    assert len(run.data.tags["relapse_ml.data_fingerprint"]) == 64
    # bootstrap intervals for the final model only (evaluation.intervals: final, the default)
    final_key = "cox_plus_pen" if result.final_model == "cox+pen" else "xgb_cs"
    other_key = "xgb_cs" if final_key == "cox_plus_pen" else "cox_plus_pen"
    assert f"{final_key}.c_index_ci_low" in run.data.metrics
    assert f"{other_key}.c_index_ci_low" not in run.data.metrics
    assert f"{other_key}.c_index" in run.data.metrics
    assert result.model_version == "1"

    # artifacts: figures, aggregate tables, the model — and no patient identifier anywhere
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=result.run_id, tracking_uri=uri, dst_path=str(tmp_path / "art")
        )
    )
    names = {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    assert {"figures/cif_by_arm.png", "figures/calibration.png", "tables/metrics.csv"} <= names
    ids = set(cohort.patients["patient_id"])
    for p in local.rglob("*"):
        if p.is_file() and p.suffix in {".csv", ".json", ".txt", ".yaml", ".md"}:
            text = p.read_text(errors="ignore")
            assert not any(f",{i}," in text or f'"{i}"' in text for i in ids), p

    # the registered model predicts in a fresh process exactly what the predictor predicts
    X = _features(cohort, result)
    expected = result.predictor.predict(X)
    script = (
        "import sys, json, mlflow, pandas as pd;"
        f"mlflow.set_tracking_uri({uri!r});"
        "m = mlflow.pyfunc.load_model('models:/relapse-risk/latest');"
        "X = pd.read_json(sys.stdin.read(), orient='split').astype(float);"
        "print(m.predict(X).to_json(orient='split'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=X.to_json(orient="split"),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    import pandas as pd

    got = pd.read_json(out.stdout, orient="split")
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=1e-9)
    assert list(got.columns) == [
        "relapse_365d_observed",
        "nrm_365d_observed",
        "relapse_730d_observed",
        "nrm_730d_observed",
    ]
    assert ((got >= 0) & (got <= 1)).all().all()


def _features(cohort, result):
    from relapse_ml.landmark import landmark_dataset

    ld = landmark_dataset(cohort, 60, 730, features=FAST["features"])
    return ld.X.iloc[:20]


def test_final_model_intervals_are_those_every_candidate_would_get(bmt_dir):
    """`evaluation.intervals: final` bootstraps the chosen model after the choice, from its
    out-of-fold predictions: the same replicates, so the same interval as with ``all``."""
    from relapse_ml.train import run_training

    cohort = read_cohort(bmt_dir)
    runs = {how: run_training(parse_config({**FAST, "evaluation": {**FAST["evaluation"],
                                                                    "intervals": how}}),
                              cohort, track=False, progress=lambda *a: None)
            for how in ("final", "all")}
    final = runs["final"].final_model
    assert final == runs["all"].final_model
    table = {how: r.metrics.set_index(["model", "metric"]) for how, r in runs.items()}
    np.testing.assert_allclose(table["final"]["pooled"], table["all"]["pooled"], rtol=0, atol=0)
    scalar = [m for m in table["all"].loc[final].index if m != "mean_gap"]
    for col in ("ci_low", "ci_high"):
        got = table["final"].loc[final, col][scalar].to_numpy(float)
        want = table["all"].loc[final, col][scalar].to_numpy(float)
        assert np.isfinite(want[scalar.index("c_index")])
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
        assert np.isfinite(table["all"].xs("c_index", level="metric")[col]).all()
        others = table["final"].xs("c_index", level="metric")[col].drop(index=final)
        assert others.isna().all() and len(others) == 2
    ci = runs["final"].cv[final].summary.loc["c_index"]
    assert ci["ci_low"] < ci["pooled"] < ci["ci_high"]


def test_super_landmark_training_runs_without_tracking(bmt_dir):
    from relapse_ml.train import run_training

    cfg = parse_config(
        {
            **FAST,
            "models": FAST["models"][:2],
            "landmark": {"super_landmark": True, "landmarks": [30, 60, 120]},
        }
    )
    result = run_training(cfg, read_cohort(bmt_dir), track=False, progress=lambda *a: None)
    assert "landmark_day" in result.predictor.feature_columns
    assert result.n_rows > result.n_patients  # stacked: patients repeat across landmarks
    assert result.run_id is None


def _cli(*args, cwd):
    return run_relapse_ml(*args, cwd=cwd, timeout=600)


def test_train_cli_bad_config_is_a_one_line_user_error(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("modelz: []\n")
    res = _cli("train", "--config", cfg, cwd=tmp_path)
    assert res.returncode == 2
    assert "unknown key 'modelz'" in res.stderr and "Traceback" not in res.stderr


def test_train_cli_json_and_runs_listing(bmt_dir, tmp_path):
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**FAST, "models": FAST["models"][:2]}))
    res = _cli("train", "--config", cfg, "--data", bmt_dir, "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["final_model"] == "cox_cs" and doc["run_id"]
    res = _cli("runs", "--json", cwd=tmp_path)
    runs = json.loads(res.stdout)["runs"]
    assert runs[0]["run_id"] == doc["run_id"] and runs[0]["final_model"] == "cox_cs"


def test_feature_count_leaves_out_hidden_marker_histories():
    import pandas as pd

    from relapse_ml.train import n_features

    X = pd.DataFrame(columns=["age", "mrd_mfc_latest", "_obs:mrd_mfc:day", "_obs:mrd_mfc:value"])
    assert n_features(X) == 2
