"""`benefit --export-benefit DIR` in process: the numpy evaluation of the export equals the
run's estimates and intervals (every learner kind, a stack, risk-shaped widening), and
older export versions still load."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig
from relapse_ml.benefit.export import _Files, export_benefit, reported_doc
from relapse_ml.benefit.individual import reported_step
from relapse_ml.benefit.learners import make_folds
from relapse_ml.benefit.refit import fit_full
from relapse_ml.benefit.reported import Choice, Reported
from relapse_ml.scoring.benefit_model import Reported as LeanReported
from relapse_ml.scoring.benefit_model import load_benefit
from tests._helpers_benefit_export import SMALL, _rewritten, export_run, export_setup


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return export_setup(tmp_path_factory)


@pytest.fixture(scope="module")
def run(setup):
    """The reported step of a benefit run, with its bootstrap replicates, exported."""
    return export_run(setup)


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
