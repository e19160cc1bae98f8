"""A fixed-weight stack (a blend): the mean of its members' incidences, nothing chosen from the
data; its cross-validation read from the members' own; its bundle; bad weights refused."""

from __future__ import annotations

import numpy as np
import pytest

from relapse_ml.config import parse_config
from relapse_ml.errors import ModelError
from relapse_ml.evaluation import cross_validate
from relapse_ml.evaluation.blend import blend_predictions
from relapse_ml.evaluation.crossval import fold_labels
from relapse_ml.models import make_model
from relapse_ml.models.stack import NULL, make_member
from relapse_ml.scoring.numbers import numbers_from_model
from relapse_ml.scoring.stack import StackNumbers
from tests._helpers_models import simulate_cause_specific

COX = {"name": "cox_cs", "params": {"penalizer": 0.1}}
XGB = {"name": "xgb_cs", "params": {"n_estimators": 20, "max_depth": 2, "random_state": 1}}
TIMES = np.array([50.0, 200.0, 400.0, 699.0])


@pytest.fixture(scope="module")
def data():
    return simulate_cause_specific(500, seed=3, beta1=(1.0, -0.6), horizon=700)


def _alone(spec, X, time, event):
    return make_member(spec["name"], **spec["params"]).fit(X, time, event)


def test_an_equal_blend_predicts_the_mean_of_its_members_incidences(data):
    X, time, event = data
    blend = make_model("stack", members=[COX, XGB], weights="equal").fit(X, time, event)
    assert blend.weights_ == {NULL: 0.0, "cox_cs": 0.5, "xgb_cs": 0.5}
    assert blend.inner_ibs_ == {}  # nothing chosen: no inner split
    by_hand = (_alone(COX, X, time, event).predict_cumulative_incidence(X, TIMES)
               + _alone(XGB, X, time, event).predict_cumulative_incidence(X, TIMES)) / 2
    got = blend.predict_cumulative_incidence(X, TIMES)
    np.testing.assert_allclose(got, by_hand, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)


def test_members_are_fitted_side_by_side_in_a_final_refit_and_in_turn_inside_a_fold(
        data, monkeypatch):
    """From the main thread (train's final refit) the members fit in threads over the cores;
    inside a worker thread (a cross-validation fold) one after the other. Same models."""
    import os
    import threading

    import relapse_ml.models.stack as stack

    X, time, event = data
    seen: list[str] = []

    def recording(name, **params):
        seen.append(threading.current_thread().name)
        return make_member(name, **params)

    monkeypatch.setattr(stack, "make_member", recording)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    main = make_model("stack", members=[COX, XGB], weights="equal")  # checks its members
    seen.clear()
    main.fit(X, time, event)
    in_main = set(seen)
    box = {"m": make_model("stack", members=[COX, XGB], weights="equal")}
    seen.clear()
    worker = threading.Thread(target=lambda: box["m"].fit(X, time, event), name="fold-worker")
    worker.start()
    worker.join()
    assert len(in_main) == 2 and threading.main_thread().name not in in_main  # two threads
    assert seen == ["fold-worker", "fold-worker"]
    np.testing.assert_allclose(box["m"].predict_cumulative_incidence(X, TIMES),
                               main.predict_cumulative_incidence(X, TIMES), rtol=0, atol=1e-12)


def test_given_weights_include_the_null_model_and_the_bundle_twin_reproduces_them(data):
    X, time, event = data
    w = {NULL: 0.2, "cox_cs": 0.3, "xgb_cs": 0.5}
    blend = make_model("stack", members=[COX, XGB], weights=w).fit(X, time, event)
    assert blend.weights_ == w
    null = make_model(NULL).fit(X, time, event)
    by_hand = sum(wm * m.predict_cumulative_incidence(X, TIMES) for wm, m in (
        (0.2, null), (0.3, _alone(COX, X, time, event)), (0.5, _alone(XGB, X, time, event))))
    np.testing.assert_allclose(blend.predict_cumulative_incidence(X, TIMES), by_hand, atol=1e-12)
    twin = StackNumbers.of(blend, list(X.columns), numbers_from_model)  # what a bundle carries
    np.testing.assert_allclose(twin.predict_incidence(X.to_numpy(float), TIMES), by_hand,
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("weights, message", [
    ("mean", "'mean' unknown: give 'equal'"),
    ({"cox_cs": 1.0}, r"name every member .* missing \['xgb_cs'\]"),
    ({"cox_cs": 0.5, "xgb_cs": 0.5, "rsf": 0.0}, r"unknown \['rsf'\]"),
    ({"cox_cs": 0.7, "xgb_cs": 0.7}, "summing to 1"),
    ({"cox_cs": -0.5, "xgb_cs": 1.5}, "summing to 1"),
    ([0.5, 0.5], "'equal' or a mapping"),
])
def test_bad_weights_fail_when_the_model_is_made(weights, message):
    with pytest.raises(ModelError, match=message):
        make_model("stack", members=[COX, XGB], weights=weights)


def test_a_config_names_the_blend_and_a_bad_weight_is_a_one_line_error(tmp_path):
    from tests._helpers_cli import run_relapse_ml

    cfg = parse_config({"models": [COX, {"name": "stack", "label": "blend",
                                         "params": {"members": [COX, XGB], "weights": "equal"}}]})
    assert cfg.models[1].display == "blend"
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  - name: stack\n    params:\n      weights: mean\n"
                   "      members: [{name: cox_cs}, {name: xgb_cs}]\n")
    r = run_relapse_ml("train", "--config", bad, "--no-track", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "stack weights 'mean' unknown" in r.stderr.strip().splitlines()[-1]


def test_the_blends_cross_validation_from_its_members_equals_fitting_it_per_fold(data):
    X, time, event = data
    folds = fold_labels(event, None, 3, 1, seed=0)
    kw = {"times": TIMES, "n_boot": 0, "folds": folds, "n_jobs": 1, "extra_times": [699.0]}
    cvs = {"cox": cross_validate(lambda: make_member(COX["name"], **COX["params"]),
                                 X, time, event, **kw),
           "xgb": cross_validate(lambda: make_member(XGB["name"], **XGB["params"]),
                                 X, time, event, **kw)}
    fitted = cross_validate(lambda: make_model("stack", members=[COX, XGB], weights="equal"),
                            X, time, event, **kw)
    predicted = blend_predictions(
        {NULL: 0.0, "cox_cs": 0.5, "xgb_cs": 0.5},
        {"cox_cs": ("cox_cs", COX["params"]), "xgb_cs": ("xgb_cs", XGB["params"])},
        {"cox": ("cox_cs", COX["params"]), "xgb": ("xgb_cs", XGB["params"])}, cvs)
    read = cross_validate(lambda: 1 / 0, X, time, event, predicted=predicted, **kw)  # no fit
    np.testing.assert_allclose(read.oof_cif, fitted.oof_cif, rtol=0, atol=1e-12)
    np.testing.assert_allclose(read.oof_incidence, fitted.oof_incidence, rtol=0, atol=1e-12)
    np.testing.assert_allclose(read.summary["pooled"], fitted.summary["pooled"], atol=1e-12)
    # a member whose parameters differ from every candidate's: no shortcut
    assert blend_predictions({"cox_cs": 1.0}, {"cox_cs": ("cox_cs", {"penalizer": 9.0})},
                             {"cox": ("cox_cs", COX["params"])}, cvs) is None
    assert blend_predictions({NULL: 1.0}, {NULL: (NULL, {})},
                             {"cox": ("cox_cs", COX["params"])}, cvs) is None


def test_train_reads_the_blends_cross_validation_from_its_candidates(tmp_path, monkeypatch):
    """No member is refitted for the blend's CV: its out-of-fold incidences are the mean of
    the two candidates' (the final model here is a candidate, so the blend is never fitted)."""
    from relapse_ml.data import read_cohort
    from relapse_ml.models.stack import StackedCompetingRisk
    from relapse_ml.train import run_training
    from tests._helpers_scoring import simulated_trial_dir

    fits = []
    monkeypatch.setattr(StackedCompetingRisk, "_fit", lambda self, *a: fits.append(1))
    cfg = parse_config({
        "landmark": {"super_landmark": False}, "features": ["baseline", "gvhd"],
        "models": [COX, XGB, {"name": "stack", "label": "blend",
                              "params": {"members": [COX, XGB], "weights": "equal"}}],
        "evaluation": {"n_splits": 3, "n_boot": 0, "n_jobs": 1},
        "tracking": {"final_model": "cox_cs"}})
    cohort = read_cohort(simulated_trial_dir(tmp_path, n=200, seed=5))
    result = run_training(cfg, cohort, track=False, progress=lambda *_: None)
    assert fits == []
    cv = result.cv
    np.testing.assert_allclose(cv["blend"].oof_cif,
                               (cv["cox_cs"].oof_cif + cv["xgb_cs"].oof_cif) / 2, atol=1e-12)
    assert np.isfinite(result.metrics.query("model == 'blend'")["pooled"]).any()


def test_a_bad_model_parameter_fails_before_the_landmark_data_are_built(monkeypatch):
    """`run_training` makes every configured model first: a bad weight is refused before
    the (costly) landmark data are built."""
    import relapse_ml.train as T
    from relapse_ml.config import TrainConfig
    from relapse_ml.data import read_cohort
    from relapse_ml.demo import demo_cohort_dir

    def never(*a, **k):
        raise AssertionError("the landmark data were built before the models were checked")

    monkeypatch.setattr(T, "landmark_data", never)
    cfg = TrainConfig.model_validate(
        {"models": [{"name": "stack", "params": {"members": [COX, XGB], "weights": "mean"}}]})
    with pytest.raises(Exception, match="stack weights 'mean' unknown"):
        T.run_training(cfg, read_cohort(demo_cohort_dir()), track=False, progress=lambda *a: None)
