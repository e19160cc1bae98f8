"""`benefit --export-benefit DIR` and `score --benefit DIR`: the numpy evaluation of the
reported benefit equals the run's own estimates and intervals; the score says in words
when the estimate is the trial's average, shows drivers only for an individual one, and
refuses a bad export with one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig
from relapse_ml.benefit.data import benefit_data
from relapse_ml.benefit.export import _Files, export_benefit, reported_doc
from relapse_ml.benefit.individual import reported_step
from relapse_ml.benefit.learners import make_folds
from relapse_ml.benefit.refit import fit_full
from relapse_ml.benefit.reported import Choice, Reported
from relapse_ml.data import read_cohort
from relapse_ml.scoring.benefit_model import FORMAT_VERSION, load_benefit
from relapse_ml.scoring.benefit_model import Reported as LeanReported
from relapse_ml.scoring.export import export_predictor
from relapse_ml.scoring.patient import record_from_cohort
from relapse_ml.scoring.schema import validate
from tests._helpers_cli import run_relapse_ml
from tests._helpers_scoring import fit_predictor, simulated_trial_dir

SMALL = {
    "learners": [
        {"label": "constant", "kind": "constant"},
        {"label": "risk_path", "kind": "risk"},
        {"label": "s_fg", "kind": "s", "interactions": "key"},
        {"label": "r_ridge", "kind": "r"},
    ],
    "primary": "s_fg",
    "crossfit": {"n_folds": 3},
    "intervals": {"n_boot": 4, "n_folds": 3},
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("bexport")
    trial = simulated_trial_dir(root, n=400, seed=5)
    cohort = read_cohort(trial)
    cfg = BenefitConfig.model_validate(SMALL)
    data = benefit_data(cohort, cfg)
    folds = make_folds(data.arm, data.event, cfg.crossfit.n_folds, cfg.crossfit.seed)
    predictor, _ = fit_predictor(cohort, "fine_gray")
    bundle, _ = export_predictor(predictor, root / "bundle", data=trial, progress=None)
    patient = root / "patient.json"
    patient.write_text(json.dumps(record_from_cohort(cohort, "SIM00001", 60)))
    return {
        "root": root,
        "trial": trial,
        "cohort": cohort,
        "cfg": cfg,
        "data": data,
        "folds": folds,
        "bundle": bundle,
        "patient": patient,
    }


@pytest.fixture(scope="module")
def run(setup):
    """The reported step of a benefit run, with its bootstrap replicates, exported."""
    cfg, data, folds = setup["cfg"], setup["data"], setup["folds"]
    keep: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep, est, lo, hi, info = reported_step(cfg, data, folds, {}, None, lambda *a: None, keep)
        path = export_benefit(
            setup["root"] / "export",
            cfg,
            data,
            rep,
            keep,
            est,
            lo,
            hi,
            info={"cohort": "test", "patients": data.n},
            interval_info=info,
        )
    return {"rep": rep, "est": est, "lo": lo, "hi": hi, "info": info, "keep": keep, "path": path}


def test_export_reproduces_the_runs_estimate_and_interval(setup, run):
    bm = load_benefit(run["path"])
    X = setup["data"].X[bm.feature_columns].to_numpy(float)
    est = bm.predict(X)
    lo, hi = bm.interval(X)
    assert len(bm.replicates) == run["info"]["n_ok"] == len(run["keep"]) >= 2
    for o in OUTCOMES:
        np.testing.assert_allclose(est[o], run["rep"].predict(setup["data"].X)[o], atol=1e-6)
        np.testing.assert_allclose(est[o], run["est"][o], atol=1e-6)
        np.testing.assert_allclose(lo[o], run["lo"][o], atol=1e-6)
        np.testing.assert_allclose(hi[o], run["hi"][o], atol=1e-6)
        assert bm.choices[o]["kind"] == run["rep"].choices[o].kind


def test_every_learner_kind_has_an_exact_numpy_twin(setup):
    """S (plain, shrunk), T (Fine–Gray, XGBoost), PATH, constant, R/DR (ridge, XGBoost)."""
    cfg, data = BenefitConfig(), setup["data"]
    folds = make_folds(data.arm, data.event, 3, 0)
    X = data.X.to_numpy(float)
    kinds = set()
    for spec in cfg.learners:
        fitted = fit_full(cfg, spec, data, folds, 0.5 if spec.shrink else None)
        rep = Reported(
            {o: Choice(o, "select", {"k": 1.0}, "", "individual") for o in OUTCOMES},
            {"k": fitted},
            None,
        )
        files = _Files()
        doc = json.loads(json.dumps(reported_doc(rep, files, "r/")))
        lean = LeanReported.from_doc(doc, files.files, list(data.X.columns), data.tau)
        want, got = rep.predict(data.X), lean.predict(X)
        for o in OUTCOMES:
            np.testing.assert_allclose(got[o], want[o], atol=1e-9, err_msg=spec.display)
        assert np.ptp(got["relapse"]) > 0 or spec.kind == "constant"
        kinds.add(doc["learners"]["k"]["type"])
    assert kinds == {"s", "t", "risk", "constant", "final"}
    from relapse_ml.benefit.observational import FittedConstant  # the AIPW average

    rep = Reported(
        {o: Choice(o, "select", {"c": 1.0}, "", "constant") for o in OUTCOMES},
        {"c": FittedConstant({"relapse": 0.07, "rfs": -0.02})},
        None,
    )
    files = _Files()
    lean = LeanReported.from_doc(reported_doc(rep, files, "c/"), files.files, [], data.tau)
    assert lean.predict(X[:3])["rfs"].tolist() == [-0.02] * 3


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


@pytest.mark.parametrize(
    "guard", [{}, {"stack_test": "none", "shrink": True, "centre": "average"}],
    ids=["default", "shrunk-centred"],
)
def test_a_stacked_estimate_exports_and_reproduces(setup, tmp_path, guard):
    """`report.method: auto` with enough events stacks; the export carries the weights and
    the offset of a shrunk or centred stack, and its numpy evaluation equals the run's
    stack, interval included."""
    cfg = BenefitConfig.model_validate(
        {**SMALL, "report": {"min_events": 1, **guard}, "intervals": {"n_boot": 2, "n_folds": 3}}
    )
    data, folds = setup["data"], setup["folds"]
    keep: list = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep, est, lo, hi, info = reported_step(cfg, data, folds, {}, None, lambda *a: None, keep)
        path = export_benefit(tmp_path / "export", cfg, data, rep, keep, est, lo, hi,
                              interval_info=info)
    assert all(ch.method == "stack" for ch in rep.choices.values())
    bm = load_benefit(path)
    X = data.X[bm.feature_columns].to_numpy(float)
    got, (glo, ghi) = bm.predict(X), bm.interval(X)
    for o in OUTCOMES:
        assert bm.choices[o]["weights"] == pytest.approx(rep.choices[o].weights)
        assert bm.choices[o]["method"] == "stack"
        np.testing.assert_allclose(got[o], est[o], atol=1e-6)
        np.testing.assert_allclose(glo[o], lo[o], atol=1e-6)
        np.testing.assert_allclose(ghi[o], hi[o], atol=1e-6)
    if guard:  # a centred stack: an offset, carried by the export and its replicates
        assert any(abs(ch.offset) > 1e-9 for ch in rep.choices.values())
        assert bm.choices["relapse"]["offset"] == pytest.approx(rep.choices["relapse"].offset)
        assert [r.offset for r in bm.replicates] == [
            pytest.approx({o: r.choices[o].offset for o in OUTCOMES}) for r in keep
        ]
        # each replicate re-ran the slope and the centring on its own resample
        o = max(OUTCOMES, key=lambda k: abs(rep.choices[k].offset))
        assert {round(r.choices[o].offset, 12) for r in keep} - {round(rep.choices[o].offset, 12)}


def _rewritten(src, dst, edit_meta, drop=(), version=None):
    """A copy of the export at ``src`` with benefit.json edited, files dropped, re-manifested."""
    from relapse_ml.scoring.benefit_model import FORMAT
    from relapse_ml.scoring.bundle import MANIFEST, write_bundle

    files = {str(f.relative_to(src)): f.read_bytes() for f in src.rglob("*") if f.is_file()}
    files.pop(MANIFEST)
    for name in drop:
        files.pop(name)
    meta = json.loads(files["benefit.json"])
    edit_meta(meta)
    files["benefit.json"] = json.dumps(meta).encode()
    return write_bundle(files, dst, fmt=FORMAT, version=version or FORMAT_VERSION)


def _extra_variance(bm, X):
    """z² σ_i² per outcome as the export applies it: squared half-widths after − before."""
    import dataclasses

    est = bm.predict(X)
    (lo, hi), (lo0, hi0) = bm.interval(X), dataclasses.replace(bm, unexplained={}).interval(X)
    up = {o: (hi[o] - est[o]) ** 2 - (hi0[o] - est[o]) ** 2 for o in OUTCOMES}
    down = {o: (est[o] - lo[o]) ** 2 - (est[o] - lo0[o]) ** 2 for o in OUTCOMES}
    return up, down


def test_risk_shaped_widening_follows_each_patients_baseline_risk(setup, run, tmp_path):
    """``intervals.shape`` default: relapse's σ_u² is spread as r²/mean(r²) (r the baseline
    risk under control of the exported S-learner without interactions), relapse or death's
    is the same for everyone; the new patient's widening is recomputed here by hand from the
    benefit-side (pandas) model — and, edited into the export, relapse or death's too."""
    from statistics import NormalDist

    bm = load_benefit(run["path"])
    assert bm.shape["relapse"]["shape"] == "risk" and "rfs" not in bm.shape
    assert bm.unexplained["relapse"] > 0 and bm.unexplained["rfs"] > 0  # something to shape
    data = setup["data"]
    r_all = run["rep"].risk_model.model.predict(data.X)
    r_all = {"relapse": r_all["relapse"][:, 0], "rfs": r_all["rfs"][:, 0]}
    assert bm.shape["relapse"]["mean_r2"] == pytest.approx(np.mean(r_all["relapse"] ** 2),
                                                            rel=1e-12)
    assert np.ptp(r_all["relapse"]) > 0.05  # the shape is not constant on this trial
    X = data.X[bm.feature_columns].to_numpy(float)[:40]
    z2 = NormalDist().inv_cdf(0.975) ** 2

    def by_hand(o, shaped):
        r = r_all[o]
        return z2 * bm.unexplained[o] * (r[:40] ** 2 / np.mean(r**2) if shaped else 1.0)

    up, down = _extra_variance(bm, X)
    for o, shaped in (("relapse", True), ("rfs", False)):
        np.testing.assert_allclose(up[o], by_hand(o, shaped), rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(down[o], by_hand(o, shaped), rtol=1e-6, atol=1e-12)
    assert np.ptp(up["relapse"]) > 0.1 * up["relapse"].mean()  # not one width for everyone
    assert run["info"]["unexplained"]["relapse"]["shape"] == "risk"

    def rfs_risk(meta):
        meta["interval_shape"]["rfs"] = {"shape": "risk", "mean_r2": float(np.mean(r_all["rfs"] ** 2))}

    both = load_benefit(_rewritten(run["path"], tmp_path / "both", rfs_risk))
    up, down = _extra_variance(both, X)
    np.testing.assert_allclose(up["rfs"], by_hand("rfs", True), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(down["rfs"], by_hand("rfs", True), rtol=1e-6, atol=1e-12)


def test_a_run_with_both_outcomes_risk_shaped_is_reproduced_by_its_export(setup, run, tmp_path):
    """`prediction.patient_variances` with ``shape: risk`` for both outcomes, applied to the
    run's own bootstrap intervals, must be what the export gives the run's patients
    (`export_benefit` refuses to write otherwise)."""
    import dataclasses

    from relapse_ml.benefit.prediction import patient_variances, widen

    cfg = BenefitConfig.model_validate({**SMALL, "intervals": {**SMALL["intervals"],
                                                                "shape": "risk"}})
    data, info = setup["data"], run["info"]
    variances, shape, model = patient_variances(cfg, data, info["unexplained"])
    assert set(shape) == {"relapse", "rfs"} and model is not None
    bm = load_benefit(run["path"])
    X = data.X[bm.feature_columns].to_numpy(float)
    est = bm.predict(X)
    lo0, hi0 = dataclasses.replace(bm, unexplained={}).interval(X)
    lo, hi = {}, {}
    for o in OUTCOMES:
        lo[o], hi[o] = widen(est[o], lo0[o], hi0[o], variances[o], cfg.intervals.level)
    rep = dataclasses.replace(run["rep"], interval_shape=shape, risk_model=model)
    path = export_benefit(tmp_path / "both", cfg, data, rep, run["keep"], est, lo, hi,
                          interval_info=info)
    assert load_benefit(path).shape.keys() == {"relapse", "rfs"}
    lo["rfs"][0] = np.nan  # a missing interval on one side only is a difference, not a pass
    with pytest.raises(Exception, match="does not reproduce"):
        export_benefit(tmp_path / "bad", cfg, data, rep, run["keep"], est, lo, hi,
                       interval_info=info)
    assert not (tmp_path / "bad").exists()


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


def test_an_export_before_version_4_widens_everyone_alike(setup, run, tmp_path):
    """A version-3 export has no shape and no risk model: one σ_u² for every patient."""
    from relapse_ml.scoring.benefit_model import widen

    def unshaped(meta):
        del meta["interval_shape"]

    old = load_benefit(_rewritten(run["path"], tmp_path / "v3", unshaped,
                                  drop=["shape/risk.json"], version=3))
    assert old.shape == {} and old.risk_model is None
    X = setup["data"].X[old.feature_columns].to_numpy(float)[:30]
    import dataclasses

    est = old.predict(X)
    lo0, hi0 = dataclasses.replace(old, unexplained={}).interval(X)
    lo, hi = old.interval(X)
    for o in OUTCOMES:
        want = widen(est[o], lo0[o], hi0[o], old.unexplained[o], old.level)
        np.testing.assert_allclose(lo[o], want[0], atol=1e-12)
        np.testing.assert_allclose(hi[o], want[1], atol=1e-12)


def test_one_word_shape_sets_both_outcomes_and_constant_needs_no_risk_model(setup):
    cfg = BenefitConfig.model_validate({**SMALL, "intervals": {"shape": "constant"}})
    assert cfg.intervals.shape == {"relapse": "constant", "rfs": "constant"}
    from relapse_ml.benefit.prediction import patient_variances

    parts = {o: {"sigma2": 0.01} for o in OUTCOMES}
    var, shape, model = patient_variances(cfg, setup["data"], parts)
    assert shape == {} and model is None and var == {o: 0.01 for o in OUTCOMES}
    with pytest.raises(Exception, match="constant' or 'risk"):
        BenefitConfig.model_validate({**SMALL, "intervals": {"shape": {"relapse": "wide"}}})


def test_exports_are_version_4_and_a_version_1_export_still_loads(run, tmp_path):
    """Version 2 may carry a stack's offset, version 3 a trajectory learner's chimerism limit,
    version 4 a risk-shaped widening's risk model (a reader of an older version only refuses
    them); a version-1 export, which has none, is still read."""
    import json

    from relapse_ml.scoring.benefit_model import load_benefit

    assert json.loads((run["path"] / "manifest.json").read_text())["format_version"] == 4
    old = load_benefit(_rewritten(run["path"], tmp_path / "v1", lambda meta: None, version=1))
    new = load_benefit(run["path"])
    X = np.zeros((3, len(new.feature_columns)))
    for o in ("relapse", "rfs"):
        np.testing.assert_array_equal(old.predict(X)[o], new.predict(X)[o])
