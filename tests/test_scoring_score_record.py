"""Scoring one patient and a cohort with a fitted bundle: schema, warnings, bad input,
leakage, the drivers in the document, and cohort scores equal to single-patient ones."""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data import read_cohort
from relapse_ml.errors import DataValidationError, RelapseMLError
from relapse_ml.scoring import drivers as D
from relapse_ml.scoring.export import export_predictor
from relapse_ml.scoring.model import from_predictor
from relapse_ml.scoring.patient import patient_from_dict, read_patient_file, record_from_cohort
from relapse_ml.scoring.schema import validate
from relapse_ml.scoring.score import score_cohort, score_record
from tests._helpers_scoring import (
    NO_ARM_FEATURES,
    edited,
    fit_predictor,
    risks_of,
    simulated_trial_dir,
)

BASE = "SIM00001"


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    d = simulated_trial_dir(tmp_path_factory.mktemp("trial"))
    return d, read_cohort(d)


@pytest.fixture(scope="module")
def bundle(trial, tmp_path_factory):
    d, cohort = trial
    # Fine–Gray refits fast (the bootstrap replicates); scoring is the same for every model type
    predictor, _ = fit_predictor(cohort, "fine_gray")
    path, loaded = export_predictor(
        predictor, tmp_path_factory.mktemp("b") / "fg", data=d, bootstrap=3, progress=None
    )
    return loaded


@pytest.fixture(scope="module")
def base_doc(trial):
    return record_from_cohort(trial[1], BASE, landmark_day=60)


def score(bundle, doc, **kw):
    return score_record(bundle, patient_from_dict(copy.deepcopy(doc), "test", **kw))


def codes(doc) -> set[str]:
    return {w["code"] for w in doc["warnings"]}


# -- the document -----------------------------------------------------------------------------
def test_base_patient_is_a_clean_case(bundle, base_doc):
    doc = score(bundle, base_doc)
    assert doc["eligibility"]["status"] == "eligible" and codes(doc) == set()
    assert validate(doc, use_library=False) == []
    r = risks_of(doc)
    np.testing.assert_allclose(r.sum(axis=1), 1.0, atol=1e-12)  # relapse + NRM + RFS
    by = {(x["horizon_days"], x["arm"]): x for x in doc["risks"]}
    for b in doc["benefit"]:
        h = b["horizon_days"]
        assert b["relapse_risk_reduction"] == pytest.approx(
            by[(h, "control")]["relapse"] - by[(h, "sorafenib")]["relapse"]
        )
        assert b["relapse_interval"]["low"] <= b["relapse_interval"]["high"]
    assert doc["interval"]["replicates"] == 3 and doc["horizons_count_from"] == "landmark"
    assert "not a treatment order" in doc["disclaimer"]


def test_json_document_matches_the_schema_with_the_jsonschema_library(bundle, base_doc):
    jsonschema = pytest.importorskip("jsonschema")
    from relapse_ml.scoring.schema import load_schema

    doc = json.loads(json.dumps(score(bundle, base_doc)))
    jsonschema.Draft202012Validator.check_schema(load_schema())
    jsonschema.validate(doc, load_schema())


def test_schema_checker_rejects_broken_documents(bundle, base_doc):
    doc = json.loads(json.dumps(score(bundle, base_doc)))
    assert validate(doc, use_library=False) == []
    bad = copy.deepcopy(doc)
    del bad["model"]["data_fingerprint"]
    bad["risks"][0]["relapse"] = 1.5
    bad["warnings"].append({"code": "made_up", "message": "x", "features": []})
    bad["extra"] = 1
    problems = validate(bad, use_library=False)
    assert any("data_fingerprint" in p for p in problems)
    assert any("risks/0/relapse" in p and "maximum" in p for p in problems)
    assert any("made_up" in p for p in problems)
    assert any("'extra'" in p for p in problems)


def test_model_without_arm_gives_one_risk_and_no_benefit(trial, tmp_path):
    d, cohort = trial
    predictor, _ = fit_predictor(cohort, "cox_cs", features=NO_ARM_FEATURES)
    _, loaded = export_predictor(predictor, tmp_path / "b", data=d, progress=None)
    doc = score(loaded, record_from_cohort(cohort, BASE, 60))
    assert {r["arm"] for r in doc["risks"]} == {"observed"}
    assert doc["benefit"] is None and doc["drivers"]["benefit"] is None
    assert "no_arm" in codes(doc) and validate(doc, use_library=False) == []


def test_registry_style_model_without_background_has_no_drivers(trial, base_doc):
    _, cohort = trial
    predictor, _ = fit_predictor(cohort, "xgb_cs")
    doc = score(from_predictor(predictor), base_doc)  # a tree model has no preprocessor medians
    assert (
        doc["drivers"]["available"] is False and "drivers not available" in doc["drivers"]["note"]
    )
    assert doc["interval"]["available"] is False
    assert validate(doc, use_library=False) == []


# -- warnings ---------------------------------------------------------------------------------
def test_out_of_distribution_names_the_feature(bundle, base_doc):
    doc = score(bundle, edited(base_doc, hct_ci=19))
    w = next(w for w in doc["warnings"] if w["code"] == "ood")
    assert w["features"] == ["hct_ci"] and "HCT-CI = 19" in w["message"]


def test_stale_and_missing_markers(bundle, base_doc):
    doc = copy.deepcopy(base_doc)
    # MRD only on day 20, WT1 never: MRD is stale at day 60, WT1 missing
    doc["measurements"] = [m for m in doc["measurements"] if m["marker"] == "donor_chimerism"]
    doc["measurements"].append({"day": 20, "marker": "mrd_mfc", "value": 0.0})
    out = score(bundle, doc)
    assert {"stale_mrd", "missing_marker"} <= codes(out)
    w = next(w for w in out["warnings"] if w["code"] == "stale_mrd")
    assert "last on day 20" in w["message"]
    w = next(w for w in out["warnings"] if w["code"] == "missing_marker")
    assert w["features"] == ["WT1"]


def test_landmark_before_or_after_the_model(bundle, base_doc):
    early = score(bundle, base_doc, landmark_day=45)
    assert "early_landmark" in codes(early)
    late = score(bundle, base_doc, landmark_day=90)
    assert "landmark_outside_model" in codes(late) and "early_landmark" not in codes(late)


def test_missing_input_the_model_never_saw_missing(bundle, base_doc):
    doc = copy.deepcopy(base_doc)
    del doc["patient"]["hct_ci"]
    out = score(bundle, doc)
    w = next(w for w in out["warnings"] if w["code"] == "missing_input")
    assert w["features"] == ["hct_ci"]


def test_not_eligible_and_not_assessable(bundle, base_doc):
    out = score(bundle, edited(base_doc, age=70))
    assert out["eligibility"]["status"] == "not_eligible"
    assert "not_eligible" in codes(out) and any("70" in r for r in out["eligibility"]["reasons"])
    doc = copy.deepcopy(base_doc)
    del doc["patient"]["lvef_pct"]
    out = score(bundle, doc)
    assert out["eligibility"]["status"] == "not_assessable"
    assert "eligibility_not_assessable" in codes(out)


# -- input handling ---------------------------------------------------------------------------
def test_bad_input_is_a_one_line_error_naming_the_field(tmp_path, base_doc):
    bad = tmp_path / "bad.json"
    bad.write_text('{"patient": {"patient_id": "x",}')
    with pytest.raises(RelapseMLError, match=r"not valid JSON \(line 1"):
        read_patient_file(bad)
    with pytest.raises(RelapseMLError, match="unknown key 'labs'"):
        patient_from_dict({**base_doc, "labs": []})
    doc = copy.deepcopy(base_doc)
    doc["measurements"][0]["value"] = -3
    with pytest.raises(DataValidationError) as err:
        patient_from_dict(doc)
    lines = str(err.value).splitlines()  # one line per broken rule, each naming row and column
    assert lines and all("measurements, row 1, column 'value': value -3" in x for x in lines)
    with pytest.raises(DataValidationError, match="column 'sex'"):
        patient_from_dict(edited(base_doc, sex="X"))
    with pytest.raises(RelapseMLError, match="landmark_day must be"):
        patient_from_dict(base_doc, landmark_day=-4)


def test_landmark_after_relapse_or_death_is_refused(base_doc):
    doc = copy.deepcopy(base_doc)
    doc["events"].append({"day": 50, "event": "relapse"})
    with pytest.raises(RelapseMLError, match="on or after the patient's relapse on day 50"):
        patient_from_dict(doc, landmark_day=60)
    doc = copy.deepcopy(base_doc)
    doc["events"] = [e for e in doc["events"] if e["event"] != "last_followup"]
    doc["events"].append({"day": 60, "event": "death"})
    doc["measurements"] = [m for m in doc["measurements"] if m["day"] <= 60]
    with pytest.raises(RelapseMLError, match="death on day 60"):
        patient_from_dict(doc, landmark_day=60)


def test_visit_counts_as_follow_up_when_the_record_has_none(bundle, base_doc):
    doc = copy.deepcopy(base_doc)
    doc["events"] = [e for e in doc["events"] if e["day"] <= 60 and e["event"] != "last_followup"]
    doc["measurements"] = [m for m in doc["measurements"] if m["day"] <= 60]
    rec = patient_from_dict(doc)
    assert rec.visit_as_followup
    np.testing.assert_allclose(risks_of(score(bundle, doc)), risks_of(score(bundle, base_doc)))


def test_data_after_the_landmark_cannot_change_the_score(bundle, base_doc):
    before = score(bundle, base_doc)
    doc = copy.deepcopy(base_doc)
    doc["measurements"] += [
        {"day": 61, "marker": "mrd_mfc", "value": 5.0},
        {"day": 75, "marker": "donor_chimerism", "value": 40.0},
        {"day": 75, "marker": "wt1", "value": 900.0},
    ]
    doc["events"] += [{"day": 70, "event": "agvhd", "grade": 4}, {"day": 200, "event": "relapse"}]
    after = score(bundle, doc)
    np.testing.assert_array_equal(risks_of(after), risks_of(before))
    assert after["drivers"] == before["drivers"] and after["warnings"] == before["warnings"]
    assert after["eligibility"] == before["eligibility"]


# -- drivers in the document ------------------------------------------------------------------
def test_drivers_in_the_document_add_up_and_describe_the_data(bundle, base_doc):
    doc = copy.deepcopy(base_doc)
    doc["measurements"] = [m for m in doc["measurements"] if m["marker"] != "mrd_mfc"]
    doc["measurements"] += [
        {"day": 30, "marker": "mrd_mfc", "value": 0.02},
        {"day": 58, "marker": "mrd_mfc", "value": 0.15},
    ]
    out = score(bundle, doc)
    d = out["drivers"]
    mrd = next(x for x in d["risk"] if x["group"] == "mrd_mfc")
    assert mrd["description"] == "MRD (flow) rose from 0.02% (day 30) to 0.15% (day 58)"
    assert mrd["text"].endswith("points of relapse risk without sorafenib")
    assert len(d["risk"]) <= 5 and all(
        abs(a["effect"]) >= abs(b["effect"]) for a, b in itertools.pairwise(d["risk"])
    )
    # all groups together explain risk(patient) - risk(reference) exactly
    record = patient_from_dict(copy.deepcopy(doc), "t")
    from relapse_ml.scoring.inputs import model_features

    X = model_features(bundle, record.cohort, 60.0)
    x = X.to_numpy(float)[0]
    ref = D.reference_vector(x, bundle.feature_columns, bundle.background)

    def value(rows):
        c = bundle.incidence(rows, [730.0], "control")[:, 1, 0]
        s = bundle.incidence(rows, [730.0], "sorafenib")[:, 1, 0]
        return np.stack([c, c - s], axis=1)

    phi, at_x, at_ref, _ = D.group_shapley(value, x, ref, D.feature_groups(bundle.feature_columns))
    control = next(r for r in out["risks"] if r["arm"] == "control" and r["horizon_days"] == 730)
    assert at_x[0] == pytest.approx(control["relapse"], abs=1e-12)
    assert sum(p[0] for p in phi.values()) == pytest.approx(
        control["relapse"] - d["reference"]["relapse_risk"]
    )
    assert mrd["effect"] == pytest.approx(phi["mrd_mfc"][0])


# -- many patients ----------------------------------------------------------------------------
def test_cohort_scores_equal_single_patient_scores(bundle, trial):
    _, cohort = trial
    table = score_cohort(bundle, cohort, 60, intervals=True).set_index("patient_id")
    not_at_risk = table.index[~table["at_risk"]]
    assert len(not_at_risk) and table.loc[not_at_risk, "relapse_730d_control"].isna().all()
    assert (table.loc[not_at_risk, "warnings"] == "not_at_risk").all()
    ids = [i for i in table.index[table["at_risk"]][:6]]
    for pid in ids:
        doc = score(bundle, record_from_cohort(cohort, pid, 60))
        row = table.loc[pid]
        for r in doc["risks"]:
            h, arm = r["horizon_days"], r["arm"]
            assert row[f"relapse_{h:g}d_{arm}"] == pytest.approx(r["relapse"], abs=1e-12)
            assert row[f"nrm_{h:g}d_{arm}"] == pytest.approx(r["nrm"], abs=1e-12)
            assert row[f"rfs_{h:g}d_{arm}"] == pytest.approx(r["relapse_free_survival"], abs=1e-12)
        b = doc["benefit"][-1]
        assert row["relapse_reduction_730d"] == pytest.approx(
            b["relapse_risk_reduction"], abs=1e-12
        )
        assert row["relapse_reduction_730d_low"] == pytest.approx(
            b["relapse_interval"]["low"], abs=1e-12
        )
        flagged = {c for c in row["warnings"].split(";") if c}
        single = codes(doc) - {"not_eligible", "eligibility_not_assessable"}
        assert single == flagged - {"not_eligible", "eligibility_not_assessable"}


def test_declared_extra_columns_score_as_in_the_cohort():
    from tests._helpers_features import make_cohort

    cohort = make_cohort(n=150, seed=2)  # declares ferritin (number), cmv (bool), center (string)
    predictor, ld = fit_predictor(cohort, "cox_cs", features=["baseline", "extra", "treatment"])
    assert {"extra_center_A", "extra_center_B", "extra_ferritin"} <= set(ld.X.columns)
    model = from_predictor(predictor)
    table = score_cohort(model, cohort, 60).set_index("patient_id")
    pids = [p for p in table.index[table["at_risk"]][:3]]
    from relapse_ml.scoring.inputs import model_features

    full = model_features(model, cohort, 60)
    for pid in pids:
        one = patient_from_dict(record_from_cohort(cohort, pid, 60), "t")
        # the one-patient file holds one level of `center`: the other levels are 0, not missing
        pd.testing.assert_series_equal(
            model_features(model, one.cohort, 60).iloc[0], full.loc[pid], check_names=False
        )
        out = score(model, record_from_cohort(cohort, pid, 60))
        risk = next(r for r in out["risks"] if r["arm"] == "control" and r["horizon_days"] == 730)
        assert risk["relapse"] == pytest.approx(table.loc[pid, "relapse_730d_control"], abs=1e-12)
    doc = record_from_cohort(cohort, pids[0], 60)
    doc["patient"]["ferritin"] = None
    with_none = score(model, doc)
    del doc["patient"]["ferritin"], doc["extra_columns"]["ferritin"]
    undeclared = score(model, doc)  # an extra column the record lacks is missing, not an error
    np.testing.assert_allclose(risks_of(undeclared), risks_of(with_none), atol=1e-15)
