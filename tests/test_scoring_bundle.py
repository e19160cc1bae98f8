"""Model bundles: exact predictions for every model type, checksums, versions, no pickle."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data import read_cohort
from relapse_ml.errors import ModelError, RelapseMLError
from relapse_ml.models import MODEL_NAMES, make_model
from relapse_ml.scoring.bundle import BundleError, load_bundle, read_verified
from relapse_ml.scoring.export import export_predictor
from relapse_ml.scoring.numbers import numbers_from_model
from tests._helpers_scoring import fit_predictor, simulated_trial_dir

TIMES = np.array([0.0, 30.0, 100.0, 364.5, 365.0, 500.0, 729.5, 730.0, 2000.0])


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    d = simulated_trial_dir(tmp_path_factory.mktemp("trial"))
    return d, read_cohort(d)


@pytest.fixture(scope="module")
def bundles(trial, tmp_path_factory):
    """One exported bundle per model type: ``{name: (predictor, landmark data, bundle)}``."""
    d, cohort = trial
    root = tmp_path_factory.mktemp("bundles")
    out = {}
    for name in MODEL_NAMES:
        predictor, ld = fit_predictor(cohort, name)
        path, _ = export_predictor(predictor, root / name, data=d, progress=None)
        out[name] = (predictor, ld, load_bundle(path))
    return out


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bundle_predicts_exactly_what_the_model_predicts(bundles, name):
    predictor, ld, bundle = bundles[name]
    X = ld.X.copy()
    X.iloc[::5, 3] = np.nan  # missing values take the same route (imputation / default branch)
    X.iloc[::7, 0] = 99.0  # and values outside the training range
    for arm, value in (("control", 0.0), ("sorafenib", 1.0)):
        expected = predictor.model.predict_cumulative_incidence(X.assign(arm=value), TIMES)
        got = bundle.incidence(X.to_numpy(float), TIMES, arm)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
    # and the predictor's own output at its horizons
    table = predictor.predict(ld.X.iloc[:40])
    got = bundle.incidence(ld.X.iloc[:40].to_numpy(float), bundle.horizons, "sorafenib")
    np.testing.assert_allclose(got[:, 1, 1], table["relapse_730d_sorafenib"], atol=1e-9)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-12)


def test_bundle_files_are_json_or_booster_json_never_pickle(bundles):
    bundle = bundles["xgb_cs"][2]
    manifest, files, digest = read_verified(bundle.source["ref"])
    assert digest == bundle.source["bundle_sha256"]
    assert {
        "model.json",
        "features.json",
        "training_ranges.json",
        "background.json",
        "metrics.json",
        "versions.json",
        "booster_cause1.json",
        "booster_cause2.json",
    } <= set(files)
    for name, data in files.items():
        assert not data.startswith(b"\x80"), name  # the pickle protocol's first byte
        json.loads(data)  # every file, boosters included, is JSON
        assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
    # only the boosting rounds prediction uses are kept (early stopping)
    model = bundles["xgb_cs"][0].model
    for k in (1, 2):
        doc = json.loads(files[f"booster_cause{k}.json"])
        trees = doc["learner"]["gradient_booster"]["model"]["trees"]
        assert len(trees) == model.n_rounds_[k] <= model.n_estimators
    versions = json.loads(files["versions.json"])
    assert versions["xgboost"] and versions["bundle_format_version"] == 2
    assert manifest["format_version"] == 2


def test_background_holds_aggregates_not_patient_rows(bundles, trial):
    _, cohort = trial
    predictor, ld, bundle = bundles["cox_cs"]
    ref = bundle.background["reference"]
    assert ref["age"] == pytest.approx(float(np.nanmedian(ld.X["age"])))
    # the most common donor type is the reference's donor type
    donor = cohort.patients.set_index("patient_id").loc[ld.patient_id, "donor_type"]
    mode = donor.value_counts().idxmax()
    for col in [c for c in ld.X.columns if c.startswith("donor_type_")]:
        assert ref[col] == (1.0 if col == f"donor_type_{mode}" else 0.0)
    text = json.dumps(bundle.background) + json.dumps(bundle.training_ranges)
    assert not any(pid in text for pid in cohort.patients["patient_id"])


def _rewrite(path, name, change):
    """Edit one bundle file and re-hash it in the manifest (a consistent, but different, bundle)."""
    doc = json.loads((path / name).read_text())
    change(doc)
    data = (json.dumps(doc) + "\n").encode()
    (path / name).write_bytes(data)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"][name]["sha256"] = hashlib.sha256(data).hexdigest()
    (path / "manifest.json").write_text(json.dumps(manifest))


def _copy(bundle, tmp_path):
    import shutil

    return shutil.copytree(bundle.source["ref"], tmp_path / "copy")


def test_a_changed_byte_is_refused(bundles, tmp_path):
    path = _copy(bundles["cox_cs"][2], tmp_path)
    data = bytearray((path / "model.json").read_bytes())
    i = data.index(b"0.") + 2
    data[i] = ord("7") if data[i] != ord("7") else ord("3")
    (path / "model.json").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.json does not match its SHA-256"):
        load_bundle(path)


def test_changed_versions_are_refused(bundles, tmp_path):
    path = _copy(bundles["xgb_cs"][2], tmp_path)
    _rewrite(path, "versions.json", lambda d: d.update(xgboost="1.7.6"))
    with pytest.raises(BundleError, match="XGBoost 1.7.6"):
        load_bundle(path)
    _rewrite(path, "versions.json", lambda d: d.update(bundle_format_version=3))
    with pytest.raises(BundleError, match="bundle format 3; this relapse-ml reads 1 and 2"):
        load_bundle(path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 99
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="version 99 is not supported"):
        load_bundle(path)


def test_a_version_1_bundle_still_loads_and_scores_the_same(bundles, tmp_path):
    """Version 2 only adds the trajectory population's chimerism limit; a version-1 bundle
    (exported before) is read, and a model without a trajectory step scores identically."""
    path = _copy(bundles["cox_cs"][2], tmp_path)
    _rewrite(path, "versions.json", lambda d: d.update(bundle_format_version=1))
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    old, new = load_bundle(path), bundles["cox_cs"][2]
    X = np.zeros((2, len(new.feature_columns)))
    np.testing.assert_array_equal(old.incidence(X, [365.0], "control"),
                                  new.incidence(X, [365.0], "control"))


def test_missing_file_or_manifest_is_refused(bundles, tmp_path):
    path = _copy(bundles["fine_gray"][2], tmp_path)
    (path / "background.json").unlink()
    with pytest.raises(BundleError, match="background.json listed in manifest.json is missing"):
        load_bundle(path)
    (path / "manifest.json").unlink()
    with pytest.raises(BundleError, match="not a model bundle"):
        load_bundle(path)


def test_export_is_atomic_and_refuses_to_overwrite(bundles, trial, tmp_path):
    d, cohort = trial
    predictor = bundles["aalen_johansen"][0]
    out = tmp_path / "b"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(RelapseMLError, match="exists and is not empty"):
        export_predictor(predictor, out, data=None, progress=None)
    assert (out / "keep.txt").exists() and not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    # the null model needs no data; the bundle still reproduces it
    path, loaded = export_predictor(predictor, out, overwrite=True, progress=None)
    assert not (path / "keep.txt").exists()
    assert loaded.info["export_check_max_difference"] == 0.0


def test_tree_model_export_without_training_data_is_refused(bundles, tmp_path):
    predictor = bundles["xgb_cs"][0]
    predictor = type(predictor)(
        **{**predictor.__dict__, "info": {**predictor.info, "data_fingerprint": "0" * 64}}
    )
    with pytest.raises(RelapseMLError, match="give --data DIR"):
        export_predictor(predictor, tmp_path / "b", progress=None)


def test_export_refuses_data_that_is_not_the_training_data(bundles, trial, tmp_path):
    predictor = bundles["cox_cs"][0]
    other = simulated_trial_dir(tmp_path, n=60, seed=11)
    with pytest.raises(RelapseMLError, match="not the model's training data"):
        export_predictor(predictor, tmp_path / "b", data=other, progress=None)


def test_unknown_model_types_cannot_be_exported():
    class Odd:
        is_fitted_ = True

    with pytest.raises(ModelError, match="cannot be exported"):
        numbers_from_model(Odd())


def test_bootstrap_replicates_are_refits_on_patient_resamples(bundles, trial, tmp_path):
    d, cohort = trial
    predictor, ld, _ = bundles["fine_gray"]  # refits fast
    path, loaded = export_predictor(
        predictor, tmp_path / "b", data=d, bootstrap=3, seed=5, progress=None
    )
    assert len(loaded.replicates) == 3 and loaded.bootstrap["replicates"] == 3
    # independent re-creation of the second resample: same generator, patients drawn with replacement
    rng = np.random.default_rng(5)
    patients = np.unique(ld.patient_id)
    for _ in range(2):
        pick = rng.choice(patients, size=patients.size, replace=True)
    rows = np.concatenate([np.flatnonzero(ld.patient_id == p) for p in pick])
    refit = make_model("fine_gray", penalizer=0.1).fit(
        ld.X.iloc[rows].reset_index(drop=True), ld.time[rows], ld.event[rows]
    )
    X = ld.X.iloc[:25]
    expected = refit.predict_cumulative_incidence(X, [365.0, 730.0])
    got = loaded.replicates[1].predict_incidence(X.to_numpy(float), [365.0, 730.0])
    np.testing.assert_allclose(got, expected, atol=1e-9)
    main = loaded.numbers.predict_incidence(X.to_numpy(float), [730.0])
    assert np.abs(got[:, :, 1:] - main).max() > 1e-4  # a refit differs from the main model
    reloaded = load_bundle(path)
    assert len(reloaded.replicates) == 3


def test_super_landmark_bundle_adds_the_landmark_columns(trial, tmp_path):
    from relapse_ml.landmark import super_landmark_dataset
    from relapse_ml.predictor import RelapseRiskPredictor, training_ranges
    from relapse_ml.scoring.inputs import model_features

    d, cohort = trial
    ld = super_landmark_dataset(
        cohort, landmarks=(60, 120), horizon_days=730, features=["baseline", "mrd_mfc", "treatment"]
    )
    model = make_model("cox_cs", penalizer=0.1).fit(ld.X, ld.time, ld.event)
    predictor = RelapseRiskPredictor(
        model=model,
        feature_columns=list(ld.X.columns),
        features=["baseline", "mrd_mfc", "treatment"],
        landmark_day=60.0,
        horizon_days=730.0,
        horizons=[365.0, 730.0],
        super_landmark=True,
        landmarks=[60.0, 120.0],
        training_ranges=training_ranges(ld.X),
        info={"model_name": "cox_cs", "params": {"penalizer": 0.1}},
    )
    path, bundle = export_predictor(predictor, tmp_path / "b", data=d, progress=None)
    X = model_features(bundle, cohort, 90.0)
    assert (X["landmark_day"] == 90.0).all()
    assert X["landmark_day_sq"].iloc[0] == pytest.approx((90 / 365) ** 2)
    expected = predictor.predict(X)
    got = bundle.incidence(X.to_numpy(float), [730.0], "control")
    np.testing.assert_allclose(got[:, 1, 0], expected["relapse_730d_control"], atol=1e-9)
    assert isinstance(X, pd.DataFrame) and bundle.supported_landmarks == (60.0, 120.0)


def test_super_landmark_null_model_bundle_keeps_its_curve_per_visit(trial, tmp_path):
    from relapse_ml.landmark import super_landmark_dataset
    from relapse_ml.predictor import RelapseRiskPredictor, training_ranges

    d, cohort = trial
    ld = super_landmark_dataset(cohort, landmarks=(60, 120, 180), horizon_days=730,
                                features=["baseline", "treatment"])
    model = make_model("aalen_johansen").fit(ld.X, ld.time, ld.event)
    predictor = RelapseRiskPredictor(
        model=model, feature_columns=list(ld.X.columns), features=["baseline", "treatment"],
        landmark_day=60.0, horizon_days=730.0, horizons=[365.0, 730.0], super_landmark=True,
        landmarks=[60.0, 120.0, 180.0], training_ranges=training_ranges(ld.X),
        info={"model_name": "aalen_johansen", "params": {}},
    )
    _, bundle = export_predictor(predictor, tmp_path / "b", data=d, progress=None)
    X = ld.X.to_numpy(float)
    got = bundle.incidence(X, [365.0, 730.0], "control")
    want = model.predict_cumulative_incidence(ld.X, [365.0, 730.0])
    np.testing.assert_allclose(got, want, atol=1e-12)
    at = {day: got[ld.X["landmark_day"].to_numpy() == day][0, 1, 1] for day in (60, 120, 180)}
    assert len(set(np.round(list(at.values()), 12))) == 3  # a curve per visit


def test_tree_replicates_keep_the_fitted_number_of_rounds(bundles, trial, tmp_path):
    import xgboost as xgb

    d, _ = trial
    predictor, ld, _ = bundles["xgb_cs"]
    _, loaded = export_predictor(predictor, tmp_path / "b", data=d, bootstrap=1, progress=None)
    rep = loaded.replicates[0]
    assert rep.n_rounds == predictor.model.n_rounds_
    # independent re-creation: same resample, boosters for max(rounds) without early
    # stopping, each cause's margin cut to its rounds, Breslow increments by a plain loop
    rng = np.random.default_rng(0)
    patients = np.unique(ld.patient_id)
    pick = rng.choice(patients, size=patients.size, replace=True)
    rows = np.concatenate([np.flatnonzero(ld.patient_id == p) for p in pick])
    params = {
        **predictor.info["params"],
        "early_stopping_rounds": None,
        "n_estimators": max(predictor.model.n_rounds_.values()),
    }
    X, time, event = ld.X.iloc[rows].reset_index(drop=True), ld.time[rows], ld.event[rows]
    refit = make_model("xgb_cs", **params).fit(X, time, event)
    for c in (1, 2):
        margin = refit.boosters_[c].predict(
            xgb.DMatrix(X.to_numpy(float), missing=np.nan),
            output_margin=True,
            iteration_range=(0, predictor.model.n_rounds_[c]),
        )
        np.testing.assert_allclose(rep.margin(X.to_numpy(float), c), margin, atol=1e-6)
        risk = np.exp(margin.astype(float) - margin.max())
        times = np.unique(time[event == c])
        expected = [np.sum(time[event == c] == t) / risk[time >= t].sum() for t in times]
        np.testing.assert_allclose(rep.base[c].times, times)
        np.testing.assert_allclose(rep.base[c].increments, expected, rtol=1e-9)
