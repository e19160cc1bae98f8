"""A stacked ensemble in a bundle: its weights and its members' own twins reproduce the model,
at a stacked landmark and between landmarks, with trajectory members; bad stacks are refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from relapse_ml.data import read_cohort
from relapse_ml.errors import ModelError
from relapse_ml.features import DEFAULT_FEATURES
from relapse_ml.landmark import super_landmark_dataset
from relapse_ml.models import make_model
from relapse_ml.models.stack import NULL, make_member
from relapse_ml.predictor import RelapseRiskPredictor, training_ranges
from relapse_ml.scoring import validate_score_document
from relapse_ml.scoring.bundle import load_bundle, write_bundle
from relapse_ml.scoring.export import export_predictor
from relapse_ml.scoring.inputs import model_features
from relapse_ml.scoring.numbers import numbers_from_files, numbers_from_model
from relapse_ml.scoring.stack import StackNumbers
from relapse_ml.weights import check_weights
from tests._helpers_scoring import cli, simulated_trial_dir

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "patient_example.json"

FEATURES = [*DEFAULT_FEATURES, "marker_history"]
LANDMARKS = (60.0, 120.0, 180.0)
TIMES = [0.0, 100.0, 365.0, 729.5, 2000.0]
MEMBERS = [
    {"name": "cox_cs", "params": {"penalizer": 0.1}},
    {"name": "trajectory", "label": "xgb_cs_trajectory",
     "params": {"model": "xgb_cs", "em_max_iter": 10,
                "model_params": {"n_estimators": 30, "max_depth": 2, "random_state": 1}}},
    {"name": "trajectory", "label": "cox_cs_trajectory",
     "params": {"model": "cox_cs", "em_max_iter": 10, "model_params": {"penalizer": 0.1}}},
]


@pytest.fixture(scope="module")
def stacked(tmp_path_factory):
    """A stack with trajectory members fitted on stacked landmarks, and its bundle."""
    d = simulated_trial_dir(tmp_path_factory.mktemp("trial"), n=250, seed=11)
    cohort = read_cohort(d)
    ld = super_landmark_dataset(cohort, landmarks=LANDMARKS, horizon_days=730, features=FEATURES)
    params = {"members": MEMBERS, "inner_splits": 2, "n_times": 5}
    model = make_model("stack", **params).fit(ld.X, ld.time, ld.event, groups=ld.patient_id)
    predictor = RelapseRiskPredictor(
        model=model, feature_columns=list(ld.X.columns), features=FEATURES, landmark_day=60.0,
        horizon_days=730.0, horizons=[365.0, 730.0], super_landmark=True,
        landmarks=list(LANDMARKS), training_ranges=training_ranges(ld.X),
        info={"model": "stack", "model_name": "stack", "params": params,
              "stack_weights": dict(model.weights_)})
    root = tmp_path_factory.mktemp("bundle")
    path, _ = export_predictor(predictor, root / "b", data=d, progress=None)
    return d, cohort, ld, model, path


@pytest.mark.parametrize("day", [120.0, 150.0])  # a stacked landmark and a day between two
def test_the_bundle_reproduces_the_stack_at_a_visit(stacked, day):
    _, cohort, _, model, path = stacked
    bundle = load_bundle(path)
    X = model_features(bundle, cohort, day)  # the scoring path's feature rows at that visit
    for arm, value in (("control", 0.0), ("sorafenib", 1.0)):
        want = model.predict_cumulative_incidence(X.assign(arm=value), TIMES)
        got = bundle.incidence(X.to_numpy(float), TIMES, arm)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)


def test_the_bundle_carries_the_weights_and_every_member(stacked):
    _, _, ld, model, path = stacked
    bundle = load_bundle(path)
    assert bundle.model_type == "stack"
    assert bundle.numbers.weights == pytest.approx(model.weights_, abs=0)
    assert bundle.info["stack_weights"] == pytest.approx(model.weights_)
    spec = json.loads((path / "model.json").read_text())["spec"]
    assert sum(spec["weights"].values()) == pytest.approx(1.0, abs=1e-9)
    kinds = {m["label"]: m["model_type"] for m in spec["members"]}
    assert kinds[NULL] == "aalen_johansen"
    assert set(kinds) == {NULL, *model.members_}
    # the trajectory members' boosters sit under their own prefix, and no file is pickled
    if "xgb_cs_trajectory" in kinds:
        assert any(n.startswith("stack") and n.endswith(".json") and "booster" in n
                   for n in json.loads((path / "manifest.json").read_text())["files"])
    # the null member is the Aalen–Johansen incidence per landmark: it is the bundle's
    # answer when the weights are all on it
    _, _, aj, aj_columns = bundle.numbers.members[0]
    null_only = StackNumbers({NULL: 1.0}, [(NULL, aj, aj_columns)], bundle.feature_columns)
    X = ld.X.to_numpy(float)
    np.testing.assert_allclose(null_only.predict_incidence(X, TIMES),
                               model.null_.predict_cumulative_incidence(ld.X, TIMES), atol=1e-12)


def test_any_weights_mix_every_members_incidences_as_the_model_does(stacked):
    """Every member (Cox, both trajectory steps) refitted and given a share of the weight."""
    _, _, ld, fitted, _ = stacked
    model = copy.copy(fitted)
    model.members_ = {m.get("label") or m["name"]: make_member(m["name"], **m["params"]).fit(
        ld.X, ld.time, ld.event, groups=ld.patient_id) for m in MEMBERS}
    labels = [NULL, *model.members_]
    model.weights_ = dict(zip(labels, np.arange(1.0, len(labels) + 1)
                              / sum(range(1, len(labels) + 1)), strict=True))
    twin = StackNumbers.of(model, list(ld.X.columns), numbers_from_model)
    X = ld.X.iloc[::7]
    want = model.predict_cumulative_incidence(X, TIMES)
    parts = [(model.weights_[NULL], model.null_)] + [
        (model.weights_[k], m) for k, m in model.members_.items()]
    by_hand = sum(w * m.predict_cumulative_incidence(X, TIMES)[:, 1] for w, m in parts)
    got = twin.predict_incidence(X.to_numpy(float), TIMES)
    np.testing.assert_allclose(got, want, atol=1e-9)
    np.testing.assert_allclose(got[:, 1], by_hand, atol=1e-9)
    assert {m.model_type for _, _, m, _ in twin.members} == {"aalen_johansen", "cox_cs",
                                                             "trajectory"}


def _spec_and_files(path):
    manifest = json.loads((path / "manifest.json").read_text())
    files = {n: (path / n).read_bytes() for n in manifest["files"]}
    return json.loads(files["model.json"])["spec"], files


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update(stack_spec_version=99), "stack format 99"),
    (lambda s: s["weights"].update({NULL: s["weights"][NULL] + 0.5}), "summing to 1"),
    (lambda s: s["weights"].update({NULL: -0.1}), "summing to 1"),
    (lambda s: s["members"][-1].update(label="someone_else"), "have no weight"),
    (lambda s: s.update(xgboost="0.1.0"), "XGBoost 0.1.0"),
    (lambda s: s["members"][0].update(model_type="stack"), "cannot be a stack"),
])
def test_a_bad_stack_spec_is_refused_with_a_sentence(stacked, change, message):
    _, _, ld, _, path = stacked
    spec, files = _spec_and_files(path)
    change(spec)
    with pytest.raises(ModelError, match=message):
        numbers_from_files("stack", spec, files, list(ld.X.columns))


def test_a_missing_member_file_is_named(stacked):
    _, _, ld, model, path = stacked
    spec, files = _spec_and_files(path)
    boosters = [n for n in files if n.startswith("stack") and "booster" in n]
    if not boosters:
        pytest.skip("no tree member kept a weight")
    del files[boosters[0]]
    with pytest.raises(ModelError, match="refers to a file missing"):
        numbers_from_files("stack", spec, files, list(ld.X.columns))


def test_check_weights_accepts_a_convex_combination_only():
    assert check_weights({"a": 0.25, "b": 0.75}) == {"a": 0.25, "b": 0.75}
    for bad in ({}, {"a": 0.5}, {"a": float("nan"), "b": 1.0}, {"a": "x"}, [1.0]):
        with pytest.raises(ModelError, match="summing to 1"):
            check_weights(bad)


def test_score_reads_a_stack_bundle_and_refuses_a_damaged_one_in_one_line(stacked, tmp_path):
    """The clinician's path with the bundle; then the bundle rewritten with a bad weight
    (valid checksums): exit 2, one line, nothing else."""
    _, _, _, model, path = stacked
    r = cli("score", "--model", str(path), "--patient", str(EXAMPLE), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["model"]["type"] == "stack"
    assert doc["model"]["weights"] == pytest.approx(model.weights_)  # reported to the clinician
    assert validate_score_document(doc, use_library=False) == []
    text = cli("score", "--model", str(path), "--patient", str(EXAMPLE), cwd=tmp_path).stdout
    assert "stack of aalen_johansen" in text and "(weights)" in text
    spec, files = _spec_and_files(path)
    spec["weights"][NULL] = 2.0
    doc = json.loads(files["model.json"])
    files["model.json"] = json.dumps({**doc, "spec": spec}).encode()
    bad = write_bundle(files, tmp_path / "bad")
    r = cli("score", "--model", str(bad), "--patient", str(EXAMPLE), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "weights" in lines[0] and "Traceback" not in r.stderr


def test_data_after_the_visit_cannot_move_the_bundles_score(stacked):
    """No leakage on the stack's scoring path: every measurement after day 150 changed and a
    new sample added the day after — the score at day 150 does not move (and the same change
    on or before day 150 does move it, so the check can fail)."""
    import dataclasses

    import pandas as pd

    _, cohort, _, _, path = stacked
    bundle = load_bundle(path)

    def changed(after_day):
        m = cohort.measurements.copy()
        late = m["day"] > after_day
        m.loc[late, "value"] = np.where(m.loc[late, "marker"] == "donor_chimerism", 50.0, 7.5)
        extra = m[~late].groupby("patient_id").head(1).assign(day=after_day + 1, value=5.0)
        m = pd.concat([m, extra[extra["marker"] != "donor_chimerism"]], ignore_index=True)
        return dataclasses.replace(cohort, measurements=m.sort_values(["patient_id", "day"]))

    def score(c):
        X = model_features(bundle, c, 150.0).to_numpy(float)
        return bundle.incidence(X, TIMES, "control")

    np.testing.assert_array_equal(score(cohort), score(changed(150.0)))
    assert np.abs(score(cohort) - score(changed(100.0))).max() > 1e-3
