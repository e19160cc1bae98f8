"""Registry references scored from the local bundle cache (`relapse_ml.scoring.registry`).

Resolution without MLflow (SQLite read-only, a tracking server's REST API), "latest"
never stale, a damaged cache refused and rebuilt, scores identical to MLflow's model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from relapse_ml.data import read_cohort
from relapse_ml.errors import RelapseMLError
from relapse_ml.scoring import registry
from relapse_ml.scoring.load import load_model
from relapse_ml.scoring.model import from_predictor
from relapse_ml.scoring.patient import patient_from_dict, record_from_cohort
from relapse_ml.scoring.score import score_record
from tests._helpers_scoring import fit_predictor, simulated_trial_dir
from tests.test_scoring_cli import register

BASE = "SIM00001"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    cohort = read_cohort(simulated_trial_dir(root))
    fg, _ = fit_predictor(cohort, "fine_gray")
    cox, _ = fit_predictor(cohort, "cox_cs")
    register(fg, root)
    record = patient_from_dict(record_from_cohort(cohort, BASE, 60))
    return {"root": root, "uri": f"sqlite:///{root}/mlruns.db", "cohort": cohort, "fg": fg,
            "cox": cox, "record": record}


def _relapse(doc) -> list[float]:
    return [r["relapse"] for r in doc["risks"]]


def test_parse_ref():
    assert registry.parse_ref("models:/relapse-risk/latest") == ("latest", "relapse-risk", "latest")
    assert registry.parse_ref("models:/relapse-risk/12") == ("version", "relapse-risk", "12")
    assert registry.parse_ref("models:/relapse-risk@champion") == ("alias", "relapse-risk", "champion")
    for bad in ("runs:/abc/model", "models:/x", "models:/x/v1", "models://latest", "bundle"):
        assert registry.parse_ref(bad) is None


def test_registration_fills_the_cache_and_scores_equal_the_mlflow_model(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    v = registry.resolve("models:/relapse-risk/latest", store["uri"])
    assert v.version == "1" and v.source.startswith("models:/")
    assert (registry.cache_dir(v) / "manifest.json").is_file()  # written at registration
    cached = load_model("models:/relapse-risk/latest")
    assert cached.source["cache"] == str(registry.cache_dir(v)) and cached.source["bundle_sha256"]
    direct = from_predictor(store["fg"])
    a, b = score_record(cached, store["record"]), score_record(direct, store["record"])
    assert a["model"]["version"] == "1" and a["model"]["source"] == "mlflow"
    np.testing.assert_allclose(_relapse(a), _relapse(b), rtol=0, atol=1e-12)


def test_cold_registry_score_imports_neither_mlflow_nor_scikit_learn(store, tmp_path):
    patient = tmp_path / "p.json"
    patient.write_text(json.dumps(record_from_cohort(store["cohort"], BASE, 60)))
    code = (
        "import sys, json\n"
        "from relapse_ml.cli import main\n"
        "try:\n"
        f"    main(['score', '--patient', {str(patient)!r}, '--json'])\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "heavy = [m for m in ('mlflow', 'sklearn', 'sqlalchemy', 'pandera', 'pydantic')\n"
        "         if m in sys.modules]\n"
        "print(json.dumps(heavy), file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=store["root"],
                         env={**__import__("os").environ, "MLFLOW_TRACKING_URI": store["uri"]})
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stderr.strip().splitlines()[-1]) == []
    assert json.loads(res.stdout)["model"]["version"] == "1"


def test_latest_follows_a_version_registered_by_another_process(store, monkeypatch, tmp_path):
    """Registered elsewhere (here: a second store handle), "latest" moves at the next call."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    before = score_record(load_model("models:/relapse-risk/latest"), store["record"])
    register(store["cox"], store["root"])  # version 2, a different model
    after = score_record(load_model("models:/relapse-risk/latest"), store["record"])
    assert before["model"]["version"] == "1" and after["model"]["version"] == "2"
    assert after["model"]["type"] == "cox_cs"
    expect = score_record(from_predictor(store["cox"]), store["record"])
    np.testing.assert_allclose(_relapse(after), _relapse(expect), atol=1e-12)
    pinned = score_record(load_model("models:/relapse-risk/1"), store["record"])
    np.testing.assert_allclose(_relapse(pinned), _relapse(before), atol=1e-12)


def test_a_damaged_or_missing_cache_entry_is_rebuilt_never_used(store, monkeypatch):
    import shutil

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store["uri"])
    v = registry.resolve("models:/relapse-risk/1", store["uri"])
    d = registry.cache_dir(v)
    good = score_record(load_model("models:/relapse-risk/1"), store["record"])
    spec = json.loads((d / "model.json").read_text())
    (d / "model.json").write_text(json.dumps(spec).replace("0", "1", 3))  # tampered numbers
    assert registry.load_cached(v, "models:/relapse-risk/1") is None
    again = score_record(load_model("models:/relapse-risk/1"), store["record"])  # via MLflow
    np.testing.assert_allclose(_relapse(again), _relapse(good), atol=1e-12)
    assert registry.load_cached(v, "x") is not None  # re-exported on that use
    shutil.rmtree(d)
    assert score_record(load_model("models:/relapse-risk/1"), store["record"])["model"]["version"] == "1"
    assert (d / "manifest.json").is_file()


def test_unknown_model_version_or_store_is_one_line(store, tmp_path):
    for ref, uri in (
        ("models:/relapse-risk/99", store["uri"]),
        ("models:/nope/latest", store["uri"]),
        ("models:/relapse-risk@champion", store["uri"]),
        ("models:/relapse-risk/latest", f"sqlite:///{tmp_path}/none.db"),
    ):
        with pytest.raises(RelapseMLError) as err:
            registry.resolve(ref, uri)
        assert "not found" in str(err.value) and "\n" not in str(err.value)


class _Registry(BaseHTTPRequestHandler):
    versions = [{"name": "relapse-risk", "version": "3", "source": "models:/m-a", "run_id": "r3",
                 "status": "READY"},
                {"name": "relapse-risk", "version": "5", "source": "models:/m-b", "run_id": "r5",
                 "status": "READY"}]

    def do_GET(self):  # noqa: N802 - http.server's name
        if "model-versions/search" in self.path:
            body = {"model_versions": self.versions}
        elif "model-versions/get" in self.path and "version=3" in self.path:
            body = {"model_version": self.versions[0]}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_a_tracking_server_is_resolved_over_rest_without_mlflow():
    server = HTTPServer(("127.0.0.1", 0), _Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{server.server_port}"
    try:
        latest = registry.resolve("models:/relapse-risk/latest", uri)
        assert (latest.version, latest.source, latest.run_id) == ("5", "models:/m-b", "r5")
        assert registry.resolve("models:/relapse-risk/3", uri).source == "models:/m-a"
        with pytest.raises(RelapseMLError, match="not found"):
            registry.resolve("models:/relapse-risk/4", uri)
    finally:
        server.shutdown()
