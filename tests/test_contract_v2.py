"""Contract v2: `unknown` codes, empty ecog, declared extra markers / events, and what features,
the training matrix and eligibility make of them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data import contract as C
from relapse_ml.data.cohort import Cohort
from relapse_ml.data.io import cohort_from_frames, read_cohort
from relapse_ml.errors import DataValidationError
from relapse_ml.features import build_features
from relapse_ml.features.baseline import category_levels, training_columns, unseen_levels
from tests._helpers_cli import run_relapse_ml
from tests._helpers_data import tiny_tables, write_tables

NGS = {"unit": "VAF %", "min": 0, "max": 50, "detection_limit": 0.001, "scale": "log",
       "description": "NGS-MRD"}  # fmt: skip
INFECTION = {"graded": False, "description": "CMV infection"}


def _violations(fn) -> list:
    with pytest.raises(DataValidationError) as err:
        fn()
    return err.value.violations


def _v2_tables():
    t = tiny_tables()
    p = t["patients"].copy()
    for col in C.PATIENT_CATEGORIES:  # every categorical may be unknown (v2)
        p.loc[p["patient_id"] == "B", col] = "unknown"
    p["ecog"] = p["ecog"].astype(object)
    p.loc[p["patient_id"] == "C", "ecog"] = None  # empty ecog (v2)
    m = pd.concat([t["measurements"], pd.DataFrame(
        [("A", 20, "ngs_mrd", 0.0, "BM"), ("A", 50, "ngs_mrd", 0.2, "BM"), ("B", 30, "ngs_mrd", 0.01, "BM")],
        columns=t["measurements"].columns)], ignore_index=True)  # fmt: skip
    e = pd.concat([t["events"], pd.DataFrame([("A", 25, "cmv", None, None)], columns=t["events"].columns)],
                  ignore_index=True)  # fmt: skip
    return {"patients": p, "measurements": m, "events": e}


def test_unknown_codes_empty_ecog_and_declared_extras_validate(tmp_path):
    t = _v2_tables()
    write_tables(t, tmp_path)
    meta = {"name": "v2", "extra_markers": {"ngs_mrd": NGS}, "extra_events": {"cmv": INFECTION}}
    (tmp_path / "cohort.json").write_text(json.dumps(meta))
    cohort = read_cohort(tmp_path)
    assert cohort.extra_markers["ngs_mrd"]["scale"] == "log"
    assert cohort.extra_events["cmv"]["graded"] is False
    assert np.isnan(cohort.patients.set_index("patient_id").loc["C", "ecog"])
    # without the declarations the same tables are refused, naming the marker and the event
    (tmp_path / "cohort.json").write_text(json.dumps({"name": "v2"}))
    bad = {(v.column, str(v.value)) for v in _violations(lambda: read_cohort(tmp_path))}
    assert ("marker", "ngs_mrd") in bad and ("event", "cmv") in bad


def test_a_v1_cohort_stays_valid(tmp_path):
    write_tables(tiny_tables(), tmp_path)
    cohort = read_cohort(tmp_path)
    assert cohort.n_patients == 4 and cohort.extra_markers == {} and cohort.unknown_columns == []


@pytest.mark.parametrize(
    ("meta", "column", "says"),
    [
        ({"extra_markers": {"wt1": NGS}}, "extra_markers.wt1", "may not be redeclared"),
        ({"extra_events": {"relapse": INFECTION}}, "extra_events.relapse", "may not be redeclared"),
        ({"extra_markers": {"ngs_mrd": {**NGS, "scale": "cubic"}}}, "extra_markers.ngs_mrd.scale", "log, linear"),
        ({"extra_markers": {"ngs_mrd": {**NGS, "detection_limit": 0}}}, "extra_markers.ngs_mrd.detection_limit", "> 0"),
        ({"extra_markers": {"ngs_mrd": {**NGS, "min": 5, "max": 1}}}, "extra_markers.ngs_mrd.max", "above min"),
        ({"extra_markers": {"ngs_mrd": {**NGS, "colour": "red"}}}, "extra_markers.ngs_mrd.colour", "allowed keys"),
        ({"extra_events": {"cmv": {"graded": "yes"}}}, "extra_events.cmv.graded", "true or false"),
        ({"unknown_columns": ["age"]}, "unknown_columns", "categorical"),
        ({"randomized": "no"}, "randomized", "true or false"),
    ],
)  # fmt: skip
def test_bad_declarations_are_one_clear_violation(meta, column, says):
    t = tiny_tables()
    found = _violations(lambda: cohort_from_frames(t["patients"], t["measurements"], t["events"], meta))
    assert len(found) == 1
    assert found[0].column == column and says in found[0].allowed


def test_declared_marker_values_are_checked_against_the_declared_range():
    t = _v2_tables()
    m = t["measurements"]
    m.loc[len(m)] = ("B", 40, "ngs_mrd", 60.0, "BM")  # above the declared max 50
    meta = {"extra_markers": {"ngs_mrd": NGS}, "extra_events": {"cmv": INFECTION}}
    found = _violations(lambda: cohort_from_frames(t["patients"], m, t["events"], meta))
    assert [(v.column, v.value) for v in found] == [("value", 60.0)]
    assert "ngs_mrd" in found[0].allowed and "0–50" in found[0].allowed


def test_an_ungraded_declared_event_refuses_a_grade():
    t = _v2_tables()
    e = t["events"]
    e.loc[e["event"] == "cmv", "grade"] = 2
    meta = {"extra_markers": {"ngs_mrd": NGS}, "extra_events": {"cmv": INFECTION}}
    found = _violations(lambda: cohort_from_frames(t["patients"], t["measurements"], e, meta))
    assert len(found) == 1 and found[0].column == "grade" and "graded: false" in found[0].allowed


def test_cli_reports_a_redeclared_marker_on_one_line_with_exit_2(tmp_path):
    write_tables(tiny_tables(), tmp_path)
    (tmp_path / "cohort.json").write_text(json.dumps({"extra_markers": {"mrd_mfc": NGS}}))
    r = run_relapse_ml("validate", tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "extra_markers.mrd_mfc" in r.stderr + r.stdout


# ---------------------------------------------------------------- features


def _cohort(meta=None) -> Cohort:
    t = _v2_tables()
    meta = meta or {"extra_markers": {"ngs_mrd": NGS}, "extra_events": {"cmv": INFECTION}}
    return cohort_from_frames(t["patients"], t["measurements"], t["events"], meta)


def test_unknown_is_missing_with_an_indicator_not_a_level():
    X = build_features(_cohort(), 60, ["baseline"])
    b, a = X.loc["B"], X.loc["A"]
    assert b.filter(regex="^(sex|diagnosis|donor_type|conditioning|disease_status)_").isna().all()
    assert b["cytogenetic_risk_unknown"] == 1 and a["cytogenetic_risk_unknown"] == 0
    assert np.isnan(b["cytogenetic_risk_intermediate"]) and a["cytogenetic_risk_intermediate"] == 1
    assert np.isnan(X.loc["C", "ecog"]) and X.loc["A", "ecog"] == 1
    assert not any(c.endswith("_unknown") and c.split("_unknown")[0] in ("sex", "diagnosis") for c in X)


def test_columns_unknown_for_everyone_give_no_feature():
    c = _cohort()
    c.unknown_columns = ["donor_type", "ecog"]
    X = build_features(c, 60, ["baseline"])
    assert "ecog" not in X and not any(col.startswith("donor_type_") for col in X)
    assert "age" in X and any(col.startswith("diagnosis_") for col in X)


def test_declared_marker_gets_the_same_family_as_a_standard_marker():
    X = build_features(_cohort(), 60, ["extra_markers", "mrd_mfc"])
    fam = ["extra_ngs_mrd_latest", "extra_ngs_mrd_peak", "extra_ngs_mrd_log_slope",
           "extra_ngs_mrd_detected_ever", "extra_ngs_mrd_days_since", "extra_ngs_mrd_missing"]  # fmt: skip
    assert [c for c in X if c.startswith("extra_ngs_mrd")] == fam
    a = X.loc["A"]
    assert a["extra_ngs_mrd_latest"] == 0.2 and a["extra_ngs_mrd_days_since"] == 10
    # log scale, the declared detection limit as the offset: (log(0.201) - log(0.001)) per 30 days
    assert a["extra_ngs_mrd_log_slope"] == pytest.approx((np.log(0.201) - np.log(0.001)) / 30 * 30)
    assert X.loc["B", "extra_ngs_mrd_detected_ever"] == 1 and X.loc["C", "extra_ngs_mrd_missing"] == 1
    assert np.isnan(X.loc["C", "extra_ngs_mrd_latest"])
    # the standard MRD goes through the same family: same summaries, same rules
    assert X.loc["A", "mrd_mfc_log_slope"] == pytest.approx(np.log(0.06) - np.log(0.01))


def test_declared_events_and_recovery_by_the_landmark():
    X = build_features(_cohort(), 60, ["extra_events", "engraftment"])
    assert X.loc["A", "extra_cmv_by_landmark"] == 1 and X.loc["A", "extra_cmv_days_since"] == 35
    assert X.loc["B", "extra_cmv_by_landmark"] == 0 and np.isnan(X.loc["B", "extra_cmv_days_since"])
    assert list(X["engraftment_by_landmark"]) == [1, 1, 0, 0] and X.loc["B", "engraftment_day"] == 14
    X20 = build_features(_cohort(), 20, ["extra_events"])  # the infection on day 25 is after L = 20
    assert X20.loc["A", "extra_cmv_by_landmark"] == 0


def test_platelet_recovery_from_a_declared_event_or_from_counts():
    t = _v2_tables()
    e = pd.concat([t["events"], pd.DataFrame([("A", 22, "platelet_recovery", None, None)],
                                             columns=t["events"].columns)], ignore_index=True)  # fmt: skip
    meta = {"extra_markers": {"ngs_mrd": NGS}, "extra_events": {"cmv": INFECTION, "platelet_recovery": INFECTION}}
    X = build_features(cohort_from_frames(t["patients"], t["measurements"], e, meta), 60, ["platelet_recovery"])
    assert X.loc["A", "platelet_recovery_by_landmark"] == 1 and X.loc["A", "platelet_recovery_day"] == 22
    assert X.loc["B", "platelet_recovery_by_landmark"] == 0
    m = pd.concat([t["measurements"], pd.DataFrame([("B", 10, "plt", 8.0, "PB"), ("B", 18, "plt", 25.0, "PB")],
                                                   columns=t["measurements"].columns)], ignore_index=True)  # fmt: skip
    X = build_features(_cohort().__class__(t["patients"], m, t["events"]), 60, ["platelet_recovery"])
    assert X.loc["B", "platelet_recovery_day"] == 18 and X.loc["B", "platelet_recovery_by_landmark"] == 1
    assert np.isnan(X.loc["A", "platelet_recovery_by_landmark"])  # no counts: not observed, not "no"


def test_extra_string_columns_drop_the_reference_level_in_training_only():
    p = tiny_tables()["patients"].assign(center=["X", "Y", "Y", "Z"])
    t = tiny_tables()
    c = Cohort(p, t["measurements"], t["events"], extra_columns={"center": "string"})
    assert category_levels(c) == {"center": ["Y", "X", "Z"]}  # most frequent first, then by name
    full = build_features(c, 60, ["extra"])
    assert list(full.columns) == ["extra_center_X", "extra_center_Y", "extra_center_Z"]
    train = training_columns(full, c)
    assert list(train.columns) == ["extra_center_X", "extra_center_Z"]
    # a new record at an unseen level is flagged (scored as the reference, with a warning)
    new = pd.DataFrame({"center": ["Y", "W", None, "unknown"]})
    assert list(unseen_levels(new, category_levels(c))["center"]) == [False, True, False, False]


def test_training_matrix_has_no_constant_patient_column():
    t = tiny_tables()
    p = t["patients"].assign(conditioning="MAC")  # a design constant
    c = Cohort(p, t["measurements"], t["events"])
    X = training_columns(build_features(c, 60), c)
    assert "conditioning_RIC" not in X and "diagnosis_ALL" in X
    assert "mrd_mfc_latest" in X  # marker columns are never dropped here (they depend on L)


# ---------------------------------------------------------------- eligibility


def test_eligibility_reads_unknown_as_not_assessable():
    from relapse_ml.eligibility import screen

    t = tiny_tables()
    p = t["patients"].copy()
    p.loc[0, "diagnosis"] = "unknown"
    p.loc[1, "flt3"] = "unknown"
    p["ecog"] = p["ecog"].astype(object)
    p.loc[2, "ecog"] = None
    r = screen(Cohort(p, t["measurements"], t["events"])).per_patient
    assert r.loc[r.index[0], "inc_acute_leukemia_flt3_negative"] == "not_assessable"
    assert r.loc[r.index[1], "exc_flt3_itd_tkd"] == "not_assessable"
    assert r.loc[r.index[2], "inc_ecog_0_2"] == "not_assessable"
    assert r.loc[r.index[3], "inc_acute_leukemia_flt3_negative"] == "met"


def test_scoring_warns_about_an_unseen_level_instead_of_a_missing_value():
    from types import SimpleNamespace

    from relapse_ml.scoring.warnings import patient_warnings, warning_flags

    t = tiny_tables()
    p = t["patients"].assign(center=["Y", "W", None, "X"])
    cohort = Cohort(p, t["measurements"], t["events"], extra_columns={"center": "string"})
    X = build_features(cohort, 60, ["extra"]).reindex(columns=["extra_center_X", "extra_center_Z"])
    X = X.fillna(0.0)  # what scoring does for a known value: level columns it lacks are 0
    model = SimpleNamespace(training_ranges={}, supported_landmarks=(60.0, 60.0),
                            info={"categories": {"center": ["Y", "X", "Z"]}})  # fmt: skip
    flags = warning_flags(cohort, X, model, 60)
    assert list(flags["ood"]) == [False, True, False, False]
    w = patient_warnings(flags.loc["B"], X.loc["B"], model, 60)
    assert [x["code"] for x in w] == ["ood"] and "center" in w[0]["message"]
    assert "reference level 'Y'" in w[0]["message"] and X.loc["B"].notna().all()
    # a model without stored levels (older bundles) gives no flag rather than a false one
    model.info = {}
    assert not warning_flags(cohort, X, model, 60)["ood"].any()


def test_blood_counts_and_chimerism_share_the_marker_family():
    t = tiny_tables()
    m = pd.concat([t["measurements"], pd.DataFrame(
        [("A", 10, "anc", 0.2, "PB"), ("A", 20, "anc", 1.8, "PB"), ("A", 20, "anc", 1.2, "PB")],
        columns=t["measurements"].columns)], ignore_index=True)  # fmt: skip
    X = build_features(Cohort(t["patients"], m, t["events"]), 60, ["blood_counts", "chimerism"])
    a = X.loc["A"]
    # same-day duplicates keep the worrying (lowest) count; low is bad, so "peak" is the lowest
    assert a["anc_latest"] == 1.2 and a["anc_lowest"] == 0.2 and a["anc_neutropenic_ever"] == 1
    assert a["anc_trend"] == pytest.approx((1.2 - 0.2) / 10 * 30) and a["anc_days_since"] == 40
    assert X.loc["B", "anc_missing"] == 1 and np.isnan(X.loc["B", "anc_latest"])
    assert X.loc["C", "chimerism_latest"] == 100 and X.loc["C", "chimerism_mixed"] == 0
    assert X.loc["A", "chimerism_missing"] == 1  # day-90 sample is after L = 60
