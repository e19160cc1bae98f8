"""`score --benefit DIR` and `benefit --export-benefit DIR` on the command line: the score
says in words when the estimate is the trial's average, shows drivers only for an individual
one, carries the run's estimates into cohort scores, stays lean, and refuses a bad export
or export directory with one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from relapse_ml.benefit.config import OUTCOMES
from relapse_ml.benefit.export import export_benefit
from relapse_ml.benefit.learners import make_folds
from relapse_ml.benefit.refit import fit_full
from relapse_ml.benefit.reported import Choice, Reported
from relapse_ml.scoring.benefit_model import FORMAT_VERSION
from relapse_ml.scoring.schema import validate
from tests._helpers_benefit_export import _rewritten, export_run, export_setup
from tests._helpers_cli import run_relapse_ml


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return export_setup(tmp_path_factory)


@pytest.fixture(scope="module")
def run(setup):
    """The reported step of a benefit run, with its bootstrap replicates, exported."""
    return export_run(setup)


def _export_with(setup, kind: str, name: str):
    """An export whose reported relapse choice is ``kind`` (constant or individual s_fg),
    with two replicates refitted on resamples."""
    cfg, data, folds = setup["cfg"], setup["data"], setup["folds"]
    spec = cfg.learner("constant" if kind == "constant" else "s_fg")

    def rep_on(d, f):
        fitted = fit_full(cfg, spec, d, f)
        return Reported(
            {o: Choice(o, "select", {spec.display: 1.0}, "test reason", kind) for o in OUTCOMES},
            {spec.display: fitted},
            None,
        )

    from relapse_ml.benefit.data import BenefitData
    from relapse_ml.benefit.intervals import resample_rows

    rng = np.random.default_rng(1)
    reps = []
    for b in range(2):
        rows = resample_rows(data.arm, rng)
        d = BenefitData(
            data.X.iloc[rows].reset_index(drop=True),
            data.time[rows],
            data.event[rows],
            data.arm[rows],
            data.patient_id[rows],
            data.tau,
        )
        reps.append(rep_on(d, make_folds(d.arm, d.event, 3, b, groups=rows)))
    rep = rep_on(data, folds)
    est = rep.predict(data.X)
    draws = {o: np.array([r.predict(data.X)[o] for r in reps]) for o in OUTCOMES}
    lo = {o: np.minimum(np.quantile(draws[o], 0.025, axis=0), est[o]) for o in OUTCOMES}
    hi = {o: np.maximum(np.quantile(draws[o], 0.975, axis=0), est[o]) for o in OUTCOMES}
    return export_benefit(
        setup["root"] / name,
        cfg,
        data,
        rep,
        reps,
        est,
        lo,
        hi,
        info={"cohort": "test", "patients": data.n},
    ), est


def _score(setup, export, *extra):
    res = run_relapse_ml(
        "score",
        "--patient",
        setup["patient"],
        "--model",
        setup["bundle"],
        "--json",
        *(("--benefit", export) if export else ()),
        *extra,
        cwd=setup["root"],
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert validate(doc) == []
    return doc


def test_constant_choice_says_so_in_words_and_shows_the_average(setup):
    path, est = _export_with(setup, "constant", "export_constant")
    doc = _score(setup, path)
    be = doc["benefit_estimate"]
    assert be["source"] == "benefit_export"
    rel = be["outcomes"]["relapse"]
    assert rel["kind"] == "constant"
    assert rel["benefit"] == pytest.approx(est["relapse"][0], abs=1e-9)  # the average
    average = f"{-100 * est['relapse'][0]:+.1f}".replace("-", "−")
    assert "no evidence that this patient's benefit differs from the average" in rel["statement"]
    assert (
        f"the trial's average effect applied to this patient: {average} points"
        in (rel["statement"])
    )
    assert rel["interval"]["low"] <= rel["benefit"] <= rel["interval"]["high"]
    assert be["drivers"] == {"relapse": [], "rfs": []} and doc["drivers"]["benefit"] is None
    assert doc["benefit"][0]["relapse_risk_reduction"] == rel["benefit"]
    assert doc["benefit"][0]["source"] == "benefit_export"
    page = setup["root"] / "constant.html"
    text = run_relapse_ml(
        "score",
        "--patient",
        setup["patient"],
        "--model",
        setup["bundle"],
        "--benefit",
        path,
        "--html",
        page,
        cwd=setup["root"],
    )
    flat = " ".join(text.stdout.split())
    assert "no evidence that this patient's benefit differs from the average" in flat
    assert "Drivers of this patient's estimated benefit" not in flat
    assert "no evidence that this patient&#x27;s benefit differs" in page.read_text()


def test_individual_choice_shows_its_drivers(setup):
    path, est = _export_with(setup, "individual", "export_individual")
    doc = _score(setup, path)
    rel = doc["benefit_estimate"]["outcomes"]["relapse"]
    assert rel["kind"] == "individual" and "individual estimate" in rel["statement"]
    drivers = doc["benefit_estimate"]["drivers"]["relapse"]
    assert drivers and all(abs(d["effect"]) > 0 for d in drivers)
    fhir = setup["root"] / "ra.json"
    text = run_relapse_ml(
        "score",
        "--patient",
        setup["patient"],
        "--model",
        setup["bundle"],
        "--benefit",
        path,
        "--fhir-out",
        fhir,
        cwd=setup["root"],
    )
    assert "Drivers of this patient's estimated benefit" in " ".join(text.stdout.split())
    notes = [n["text"] for n in json.loads(fhir.read_text())["note"]]
    assert any("sorafenib benefit" in n and rel["statement"] in n for n in notes)


def test_without_an_export_the_change_is_labelled_the_prediction_models(setup):
    doc = _score(setup, None)
    assert doc["benefit_estimate"]["source"] == "prediction_model"
    assert "not a validated individual benefit" in doc["benefit_estimate"]["note"]
    assert all(b["source"] == "prediction_model" for b in doc["benefit"])


@pytest.mark.parametrize("case", ["missing", "bundle", "tampered", "empty", "future"])
def test_bad_export_gives_one_line_and_exit_2(setup, run, tmp_path, case):
    import shutil

    export = tmp_path / "x"
    expect = {
        "missing": "no such directory",
        "bundle": "not a benefit export manifest",
        "tampered": "does not match its SHA-256",
        "empty": "not a benefit export (no manifest.json)",
        "future": f"format version {FORMAT_VERSION + 1} is not supported by this relapse-ml "
        "(it reads version 1, 2, 3, 4)",
    }[case]
    if case == "bundle":
        export = setup["bundle"]
    elif case == "tampered":
        shutil.copytree(run["path"], export)
        f = export / "reported.json"
        f.write_text(f.read_text().replace("1", "2", 1))
    elif case == "empty":
        export.mkdir()
    elif case == "future":
        _rewritten(run["path"], export, lambda meta: None, version=FORMAT_VERSION + 1)
    res = run_relapse_ml(
        "score",
        "--patient",
        setup["patient"],
        "--model",
        setup["bundle"],
        "--benefit",
        export,
        cwd=setup["root"],
    )
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], res.stderr


def test_benefit_refuses_an_export_dir_that_is_not_one_before_any_work(setup, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    res = run_relapse_ml(
        "benefit",
        "--data",
        setup["trial"],
        "--no-track",
        "--export-benefit",
        busy,
        cwd=tmp_path,
        timeout=60,
    )
    assert res.returncode == 2 and "is not a benefit export" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert (busy / "notes.txt").read_text() == "mine" and len(list(busy.iterdir())) == 1


def test_scoring_with_an_export_stays_lean(setup, run):
    """The cold ``score --benefit`` path imports neither scikit-learn nor SciPy."""
    script = (
        "import sys; from relapse_ml.cli import app, _common;"
        f"rc = _common.run(app, ['score', '--patient', {str(setup['patient'])!r}, '--model', "
        f"{str(setup['bundle'])!r}, '--benefit', {str(run['path'])!r}, '--json']);"
        "heavy = [m for m in ('sklearn', 'scipy', 'mlflow', 'shap', 'lifelines', 'pydantic')"
        " if m in sys.modules];"
        "print(rc, heavy, file=sys.stderr)"
    )
    res = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=setup["root"],
        timeout=120,
    )
    assert res.stderr.strip().splitlines()[-1] == "0 []", res.stderr


def test_cohort_scores_carry_the_runs_estimates_and_intervals(setup, run):
    import pandas as pd

    out = setup["root"] / "scores.csv"
    res = run_relapse_ml(
        "score",
        "--cohort",
        setup["trial"],
        "--model",
        setup["bundle"],
        "--benefit",
        run["path"],
        "--intervals",
        "--out",
        out,
        cwd=setup["root"],
    )
    assert res.returncode == 0, res.stderr
    table = pd.read_csv(out, dtype={"patient_id": str}).set_index("patient_id")
    ids = np.asarray(setup["data"].patient_id).astype(str)
    for o in OUTCOMES:
        for suffix, want in (("", run["est"]), ("_low", run["lo"]), ("_high", run["hi"])):
            got = table.loc[ids, f"benefit_{o}{suffix}"].to_numpy(float)
            np.testing.assert_allclose(got, want[o], atol=1e-6)


@pytest.mark.parametrize("shape", [{"relapse": "risk"}, {"relapse": {"shape": "risk"}},
                                   {"relapse": {"shape": "risk", "mean_r2": 0.0}},
                                   {"relapse": {"shape": "wide"}}])
def test_a_malformed_interval_shape_is_one_line_and_exit_2(setup, run, tmp_path, shape):
    def edit(meta):
        meta["interval_shape"] = shape

    path = _rewritten(run["path"], tmp_path / "x", edit)
    res = run_relapse_ml("score", "--patient", setup["patient"], "--model", setup["bundle"],
                         "--benefit", path, cwd=setup["root"])
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "not in the expected format" in lines[0], res.stderr
