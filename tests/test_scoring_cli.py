"""`relapse-ml score` and `relapse-ml export` end to end, in fresh processes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data import read_cohort
from relapse_ml.scoring.export import export_predictor
from relapse_ml.scoring.patient import record_from_cohort
from relapse_ml.scoring.schema import validate
from tests._helpers_scoring import cli, fit_predictor, simulated_trial_dir, write_json

BASE = "SIM00001"


def register(predictor, root, name: str = "relapse-risk") -> str:
    """Log a predictor as the training run does (pyfunc, registry), without the CV and figures."""
    import logging

    import mlflow

    from relapse_ml.tracking.pyfunc import log_predictor

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(f"sqlite:///{root}/mlruns.db")
    mlflow.set_experiment("t")
    with mlflow.start_run() as run:
        predictor.info["run_id"] = run.info.run_id
        log_predictor(predictor, predictor.feature_columns, name)
    return run.info.run_id


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A registered model, its exported bundle, and an XGBoost bundle."""
    root = tmp_path_factory.mktemp("cli")
    d = simulated_trial_dir(root)
    cohort = read_cohort(d)
    predictor, _ = fit_predictor(cohort, "fine_gray")
    run_id = register(predictor, root)
    res = cli(
        "export",
        "--model",
        "models:/relapse-risk/latest",
        "--out",
        root / "bundle",
        "--data",
        d,
        "--bootstrap",
        2,
        "--json",
        cwd=root,
    )
    assert res.returncode == 0, res.stderr
    xgb, _ = fit_predictor(cohort, "xgb_cs")
    export_predictor(xgb, root / "xgb", data=d, progress=None)
    patient = write_json(root / "patient.json", record_from_cohort(cohort, BASE, 60))
    return {
        "root": root,
        "data": d,
        "cohort": cohort,
        "predictor": predictor,
        "run_id": run_id,
        "export": json.loads(res.stdout),
        "bundle": root / "bundle",
        "xgb": root / "xgb",
        "patient": patient,
    }


def score(setup, *args):
    return cli("score", *args, cwd=setup["root"])


def test_export_reports_an_exact_bundle(setup):
    e = setup["export"]
    assert e["type"] == "fine_gray" and e["version"] == "1" and e["bootstrap_replicates"] == 2
    assert e["max_difference_vs_source"] == 0.0 and e["drivers"]
    assert e["run_id"] == setup["run_id"]


def test_json_output_validates_and_matches_the_registry_model(setup):
    res = score(setup, "--patient", setup["patient"], "--model", setup["bundle"], "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert validate(doc) == [] and doc["model"]["version"] == "1"
    assert doc["model"]["data_fingerprint"] == setup["predictor"].info["data_fingerprint"]
    assert doc["interval"]["available"] and doc["interval"]["replicates"] == 2
    # the registry reference (MLflow pyfunc) gives the same risks
    reg = score(setup, "--patient", setup["patient"], "--json")
    assert reg.returncode == 0, reg.stderr
    reg_doc = json.loads(reg.stdout)
    assert reg_doc["model"]["source"] == "mlflow" and reg_doc["model"]["version"] == "1"
    for a, b in zip(doc["risks"], reg_doc["risks"], strict=True):
        assert a["relapse"] == pytest.approx(b["relapse"], abs=1e-12)
        assert a["nrm"] == pytest.approx(b["nrm"], abs=1e-12)


def test_terminal_output_fits_80_columns_and_says_what_it_is(setup, tmp_path):
    html = tmp_path / "p.html"
    res = score(setup, "--patient", setup["patient"], "--model", setup["bundle"], "--html", html)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(x.rstrip()) for x in lines) <= 80
    text = res.stdout
    for phrase in (
        "not a treatment order",
        "without sorafenib",
        "with sorafenib",
        "Relapse",
        "by 1 year",
        "by 2 years",
        "Non-relapse death",
        "Relapse-free survival",
        "Drivers of relapse risk",
        "Drivers of the prediction model's two-arm difference",
        "Trial eligibility",
        "C-index",
        "training data fingerprint",
        "count from the landmark",
    ):
        assert phrase in text, phrase
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<polyline" in page
    assert "http" not in page and "src=" not in page and "<link" not in page  # self-contained
    assert "not a treatment order" in page and BASE in page


def test_scoring_a_bundle_loads_neither_mlflow_nor_scikit_learn(setup):
    script = (
        "import sys; from relapse_ml.cli import app, _common;"
        f"rc = _common.run(app, ['score', '--patient', {str(setup['patient'])!r}, '--model', "
        f"{str(setup['xgb'])!r}, '--json']);"
        "heavy = [m for m in ('sklearn', 'mlflow', 'shap', 'lifelines', 'matplotlib', 'optuna',"
        " 'pandera', 'pydantic')"
        " if m in sys.modules];"
        "print(rc, heavy, 'xgboost' in sys.modules, file=sys.stderr)"
    )
    res = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=setup["root"],
        timeout=120,
    )
    assert res.stderr.strip().splitlines()[-1] == "0 [] True", res.stderr
    assert validate(json.loads(res.stdout)) == []


@pytest.mark.parametrize(
    "case", ["malformed", "contract", "unknown_model", "tampered", "after_death", "no_input"]
)
def test_bad_input_gives_one_line_and_exit_2(setup, tmp_path, case):
    patient = setup["patient"]
    model = setup["bundle"]
    doc = json.loads(patient.read_text())
    expect = {
        "malformed": "not valid JSON",
        "contract": "column 'marker'",
        "unknown_model": "unknown model reference",
        "tampered": "does not match its SHA-256",
        "after_death": "on or after the patient's death",
        "no_input": "exactly one of --patient",
    }[case]
    if case == "malformed":
        patient = tmp_path / "p.json"
        patient.write_text(patient_text := json.dumps(doc)[:-5])
        assert patient_text
    elif case == "contract":
        doc["measurements"][0]["marker"] = "blast_count"
        patient = write_json(tmp_path / "p.json", doc)
    elif case == "unknown_model":
        model = tmp_path / "no_such_bundle"
    elif case == "tampered":
        import shutil

        model = shutil.copytree(setup["bundle"], tmp_path / "b")
        data = (model / "metrics.json").read_bytes().replace(b"fine_gray", b"fine_grey", 1)
        (model / "metrics.json").write_bytes(data)
    elif case == "after_death":
        doc["events"] = [
            e for e in doc["events"] if e["day"] <= 40 and e["event"] != "last_followup"
        ]
        doc["measurements"] = [m for m in doc["measurements"] if m["day"] <= 40]
        doc["events"].append({"day": 45, "event": "death"})
        patient = write_json(tmp_path / "p.json", doc)
    args = ["--model", model] if case == "no_input" else ["--patient", patient, "--model", model]
    res = score(setup, *args)
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_a_model_missing_from_the_registry_is_a_one_line_error(setup, monkeypatch):
    from relapse_ml.errors import RelapseMLError
    from relapse_ml.scoring.load import load_model

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{setup['root']}/mlruns.db")
    with pytest.raises(RelapseMLError) as err:
        load_model("models:/no-such-model/7")
    assert "not found in the MLflow store" in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_changed_version_in_a_consistent_bundle_is_refused(setup, tmp_path):
    import shutil

    model = shutil.copytree(setup["bundle"], tmp_path / "b")
    versions = json.loads((model / "versions.json").read_text())
    versions["bundle_format_version"] = 7
    data = json.dumps(versions).encode()
    (model / "versions.json").write_bytes(data)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["files"]["versions.json"]["sha256"] = hashlib.sha256(data).hexdigest()
    (model / "manifest.json").write_text(json.dumps(manifest))
    res = score(setup, "--patient", setup["patient"], "--model", model)
    assert res.returncode == 2 and "bundle format 7" in res.stderr and "Traceback" not in res.stderr


def test_cohort_csv_equals_single_patient_scores(setup, tmp_path):
    out = tmp_path / "scores.csv"
    res = score(
        setup, "--cohort", setup["data"], "--model", setup["bundle"], "--out", out, "--json"
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    table = pd.read_csv(out, dtype={"patient_id": str}).set_index("patient_id")
    assert summary["patients"] == len(table) == len(setup["cohort"].patients)
    one = score(setup, "--patient", setup["patient"], "--model", setup["bundle"], "--json")
    doc = json.loads(one.stdout)
    row = table.loc[BASE]
    for r in doc["risks"]:
        # CSV round trip: repr of a float is exact
        assert row[f"relapse_{r['horizon_days']:g}d_{r['arm']}"] == pytest.approx(
            r["relapse"], abs=1e-15
        )
    assert np.isfinite(table.loc[table["at_risk"], "relapse_730d_control"]).all()
