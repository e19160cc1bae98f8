"""Eligibility criteria of NCT04674345 for one patient: boundaries, missing data, text and
numeric flags, precedence, reasons, and the event rules (recovery, aGVHD, alive and
relapse-free)."""

from __future__ import annotations

import numpy as np
import pytest

from relapse_ml.eligibility import CRITERIA, CRITERIA_BY_ID, screen
from tests._helpers_eligibility import CLEAN, CLEAN_EVENTS, cohort, one


def test_clean_patient_is_eligible_with_every_criterion_met():
    row = one()
    assert row["status"] == "eligible"
    assert row["reasons"] == ""
    assert all(row[c.id] == "met" for c in CRITERIA)


# (column, value, criterion, expected criterion status) — boundaries from the trial text
BOUNDARIES = [
    ("age", 18.0, "inc_age_18_65", "met"),
    ("age", 17.9, "inc_age_18_65", "failed"),
    ("age", 65.0, "inc_age_18_65", "met"),
    ("age", 65.1, "inc_age_18_65", "failed"),
    ("ecog", 2, "inc_ecog_0_2", "met"),
    ("ecog", 3, "inc_ecog_0_2", "failed"),
    ("ecog", 2, "exc_ecog_3_5", "met"),
    ("ecog", 3, "exc_ecog_3_5", "failed"),
    ("ecog", 4, "exc_ecog_3_5", "failed"),
    ("prior_allo_hsct", 0, "inc_first_allo_hsct", "met"),
    ("prior_allo_hsct", 1, "inc_first_allo_hsct", "failed"),
    ("diagnosis", "MPAL", "inc_acute_leukemia_flt3_negative", "met"),
    ("diagnosis", "ALL", "inc_acute_leukemia_flt3_negative", "met"),
    ("diagnosis", "MDS", "inc_acute_leukemia_flt3_negative", "failed"),
    ("flt3", "itd", "inc_acute_leukemia_flt3_negative", "failed"),
    ("flt3", "tkd", "inc_acute_leukemia_flt3_negative", "failed"),
    ("flt3", "unknown", "inc_acute_leukemia_flt3_negative", "not_assessable"),
    ("flt3", "itd", "exc_flt3_itd_tkd", "failed"),
    ("flt3", "tkd", "exc_flt3_itd_tkd", "failed"),
    ("flt3", "unknown", "exc_flt3_itd_tkd", "not_assessable"),
    ("apl", True, "exc_apl", "failed"),
    ("cml_blast_crisis", True, "exc_cml_blast_crisis", "failed"),
    ("sorafenib_intolerance", True, "exc_sorafenib_intolerance", "failed"),
    ("uncontrolled_infection", True, "exc_uncontrolled_infection", "failed"),
    ("life_expectancy_days", 30.0, "exc_life_expectancy_30d", "met"),
    ("life_expectancy_days", 29.9, "exc_life_expectancy_30d", "failed"),
    ("lvef_pct", 50.0, "exc_cardiac_dysfunction", "met"),
    ("lvef_pct", 49.9, "exc_cardiac_dysfunction", "failed"),
    ("pao2_mmhg", 60.1, "exc_pao2_60", "met"),
    ("pao2_mmhg", 60.0, "exc_pao2_60", "failed"),
    ("bilirubin_mg_dl", 2.99, "exc_bilirubin_3", "met"),
    ("bilirubin_mg_dl", 3.0, "exc_bilirubin_3", "failed"),
    ("ast_x_uln", 2.0, "exc_ast_alt_2x_uln", "met"),
    ("ast_x_uln", 2.01, "exc_ast_alt_2x_uln", "failed"),
    ("alt_x_uln", 2.0, "exc_ast_alt_2x_uln", "met"),
    ("alt_x_uln", 2.01, "exc_ast_alt_2x_uln", "failed"),
    ("crcl_ml_min", 30.0, "exc_crcl_30", "met"),
    ("crcl_ml_min", 29.9, "exc_crcl_30", "failed"),
]


@pytest.mark.parametrize(("column", "value", "criterion", "expected"), BOUNDARIES)
def test_boundary_values(column, value, criterion, expected):
    row = one({column: value})
    assert row[criterion] == expected
    status = {"met": "eligible", "failed": "not_eligible", "not_assessable": "not_assessable"}[
        expected
    ]
    assert row["status"] == status
    if expected != "met":
        assert CRITERIA_BY_ID[criterion].label in row["reasons"]


def test_ph_positive_only_excludes_all():
    assert one({"ph_positive": True})["exc_ph_positive_all"] == "met"  # AML
    row = one({"ph_positive": True, "diagnosis": "ALL"})
    assert row["exc_ph_positive_all"] == "failed"
    assert "no Ph-positive ALL: failed (Ph-positive ALL)" in row["reasons"]
    # without the column: assessable only where the diagnosis rules it out
    assert (
        one({"diagnosis": "ALL"}, drop=("ph_positive",))["exc_ph_positive_all"] == "not_assessable"
    )
    assert one(drop=("ph_positive",))["exc_ph_positive_all"] == "met"


def test_apl_impossible_outside_aml():
    assert one(drop=("apl",))["exc_apl"] == "not_assessable"
    assert one({"diagnosis": "ALL"}, drop=("apl",))["exc_apl"] == "met"
    assert one({"diagnosis": "ALL", "apl": True})["exc_apl"] == "failed"  # the flag wins


# screening column -> the criterion that needs it
NEEDS = {
    "age": "inc_age_18_65",
    "ecog": "inc_ecog_0_2",
    "prior_allo_hsct": "inc_first_allo_hsct",
    "flt3": "exc_flt3_itd_tkd",
    "apl": "exc_apl",
    "ph_positive": None,  # AML patient: not needed
    "cml_blast_crisis": "exc_cml_blast_crisis",
    "sorafenib_intolerance": "exc_sorafenib_intolerance",
    "life_expectancy_days": "exc_life_expectancy_30d",
    "lvef_pct": "exc_cardiac_dysfunction",
    "pao2_mmhg": "exc_pao2_60",
    "bilirubin_mg_dl": "exc_bilirubin_3",
    "ast_x_uln": "exc_ast_alt_2x_uln",
    "alt_x_uln": "exc_ast_alt_2x_uln",
    "crcl_ml_min": "exc_crcl_30",
    "uncontrolled_infection": "exc_uncontrolled_infection",
}


@pytest.mark.parametrize("column", [c for c, v in NEEDS.items() if v])
@pytest.mark.parametrize("how", ["missing column", "NaN"])
def test_missing_data_is_not_assessable_never_met(column, how):
    row = one(drop=(column,)) if how == "missing column" else one({column: np.nan})
    criterion = NEEDS[column]
    assert row[criterion] == "not_assessable"
    assert row["status"] == "not_assessable"
    label = CRITERIA_BY_ID[criterion].label
    assert f"{label}: not assessable" in row["reasons"]
    assert column in row["reasons"]
    # every other criterion is unaffected
    others = [c.id for c in CRITERIA if c.id != criterion and column not in c.needs]
    assert all(row[c] == "met" for c in others)


def test_bool_columns_accept_text_and_numbers():
    for truthy in ("true", "yes", "1", 1, 1.0, "TRUE"):
        assert one({"apl": truthy})["exc_apl"] == "failed"
    for falsy in ("false", "no", "0", 0, 0.0):
        assert one({"apl": falsy})["exc_apl"] == "met"
    assert one({"apl": "maybe"})["exc_apl"] == "not_assessable"


def test_status_precedence_failed_over_not_assessable():
    failed_and_unknown = one({"age": 71.0, "lvef_pct": np.nan})
    assert failed_and_unknown["status"] == "not_eligible"
    assert "age 18–65: failed (age 71)" in failed_and_unknown["reasons"]
    assert "LVEF ≥ 50%: not assessable (lvef_pct missing)" in failed_and_unknown["reasons"]
    assert one({"lvef_pct": np.nan})["status"] == "not_assessable"


def test_reasons_name_every_failed_criterion_in_order():
    row = one({"age": 71.0, "bilirubin_mg_dl": 3.5, "flt3": "itd"})
    parts = row["reasons"].split("; ")
    failed = [c for c in CRITERIA if row[c.id] == "failed"]
    assert [p.split(":")[0] for p in parts] == [c.label for c in failed]
    assert {c.id for c in failed} == {
        "inc_age_18_65",
        "exc_bilirubin_3",
        "inc_acute_leukemia_flt3_negative",
        "exc_flt3_itd_tkd",
    }
    assert "bilirubin < 3 mg/dL: failed (bilirubin_mg_dl 3.5)" in parts


def test_ignore_columns_marks_imputed_placeholders_not_assessable():
    row = screen(cohort([CLEAN]), ignore_columns={"ecog"}).per_patient.iloc[0]
    assert row["inc_ecog_0_2"] == "not_assessable"
    assert row["exc_ecog_3_5"] == "not_assessable"
    assert "ecog is an imputed placeholder" in row["reasons"]


def test_imputed_columns_attribute_of_cohort_is_used_by_default():
    c = cohort([CLEAN])
    c.imputed_columns = {"age": "placeholder"}
    assert screen(c).per_patient.iloc[0]["inc_age_18_65"] == "not_assessable"


# ---- events: recovery, aGVHD, alive and relapse-free -----------------------------------
def _with_events(events, patient=None, measurements=None, **kw):
    p = {**CLEAN, **(patient or {})}
    rows = [{**e, "patient_id": p["patient_id"]} for e in events]
    ms = [{**m, "patient_id": p["patient_id"]} for m in (measurements or [])]
    return screen(cohort([p], rows, ms), **kw).per_patient.iloc[0]


LFU = {"day": 400.0, "event": "last_followup"}
AG1 = {"day": 30.0, "event": "agvhd", "grade": 1.0}


def test_engraftment_on_day_60_counts_day_61_does_not():
    on = _with_events([{"day": 60.0, "event": "engraftment"}, AG1, LFU])
    assert on["inc_hematopoietic_recovery"] == "met"
    late = _with_events([{"day": 61.0, "event": "engraftment"}, AG1, LFU], as_of_day=90)
    assert late["inc_hematopoietic_recovery"] == "failed"
    assert "no engraftment by day 60" in late["reasons"]


def test_cohort_without_engraftment_events_is_not_assessable_unless_counts_show_recovery():
    row = _with_events([AG1, LFU])
    assert row["inc_hematopoietic_recovery"] == "not_assessable"
    assert "no engraftment event recorded" in row["reasons"]
    counts = [
        {"day": 40.0, "marker": "anc", "value": 0.5},
        {"day": 41.0, "marker": "plt", "value": 20.0},
    ]
    assert _with_events([AG1, LFU], measurements=counts)["inc_hematopoietic_recovery"] == "met"
    low = [
        {"day": 40.0, "marker": "anc", "value": 0.49},
        {"day": 41.0, "marker": "plt", "value": 20.0},
    ]
    assert (
        _with_events([AG1, LFU], measurements=low)["inc_hematopoietic_recovery"] == "not_assessable"
    )
    # the latest count decides, and a count after day 60 is not evidence of recovery by day 60
    relapsed = low + [{"day": 30.0, "marker": "anc", "value": 3.0}]
    assert (
        _with_events([AG1, LFU], measurements=relapsed)["inc_hematopoietic_recovery"]
        == "not_assessable"
    )
    late = [
        {"day": 70.0, "marker": "anc", "value": 3.0},
        {"day": 70.0, "marker": "plt", "value": 90.0},
    ]
    assert _with_events([AG1, LFU], measurements=late, as_of_day=90)[
        "inc_hematopoietic_recovery"
    ] == ("not_assessable")


def test_recovery_not_assessable_before_day_60_or_when_follow_up_ended():
    others = [
        {"patient_id": "p2", **e} for e in CLEAN_EVENTS
    ]  # makes the cohort record engraftment
    c = cohort(
        [CLEAN, {**CLEAN, "patient_id": "p2"}],
        [{"patient_id": "p1", **AG1}, {"patient_id": "p1", **LFU}, *others],
    )
    early = screen(c, as_of_day=45).per_patient.iloc[0]
    assert early["inc_hematopoietic_recovery"] == "not_assessable"
    assert screen(c, as_of_day=60).per_patient.iloc[0]["inc_hematopoietic_recovery"] == "failed"
    lost = cohort(
        [CLEAN, {**CLEAN, "patient_id": "p2"}],
        [{"patient_id": "p1", "day": 40.0, "event": "last_followup"}, *others],
    )
    row = screen(lost).per_patient.iloc[0]
    assert row["inc_hematopoietic_recovery"] == "not_assessable"
    assert row["alive_relapse_free"] == "not_assessable"
    assert "follow-up ended on day 40" in row["reasons"]


@pytest.mark.parametrize(
    ("grade", "day", "as_of", "expected"),
    [
        (2.0, 59.0, 60, "failed"),
        (2.0, 60.0, 60, "failed"),
        (4.0, 10.0, 60, "failed"),
        (1.0, 20.0, 60, "met"),
        (3.0, 61.0, 90, "met"),  # onset after the 60-day window
        (np.nan, 20.0, 60, "not_assessable"),
    ],
)
def test_active_agvhd_rule(grade, day, as_of, expected):
    events = [
        {"day": 18.0, "event": "engraftment"},
        {"day": 5.0, "event": "agvhd", "grade": 1.0},  # the record tracks aGVHD
        {"day": day, "event": "agvhd", "grade": grade},
        LFU,
    ]
    row = _with_events(events, as_of_day=as_of)
    assert row["exc_active_agvhd"] == expected
    if expected == "failed":
        assert f"aGVHD grade {grade:g} on day {day:g}" in row["reasons"]
    if np.isnan(grade):  # an ungraded onset: cannot tell whether it was >= II
        assert "aGVHD grade missing" in row["reasons"]


def test_cohort_without_agvhd_events_is_not_assessable_unless_declared():
    events = [{"day": 18.0, "event": "engraftment"}, LFU]
    assert _with_events(events)["exc_active_agvhd"] == "not_assessable"
    declared = _with_events(events, records_events={"engraftment", "agvhd", "last_followup"})
    assert declared["exc_active_agvhd"] == "met"
    assert declared["status"] == "eligible"


def test_alive_relapse_free_on_the_screening_day():
    relapsed = _with_events(
        [{"day": 18.0, "event": "engraftment"}, AG1, {"day": 50.0, "event": "relapse"}, LFU]
    )
    assert relapsed["alive_relapse_free"] == "failed"
    assert "relapse on day 50" in relapsed["reasons"]
    dead = _with_events(
        [{"day": 18.0, "event": "engraftment"}, AG1, {"day": 55.0, "event": "death"}]
    )
    assert dead["alive_relapse_free"] == "failed"
    later = _with_events(
        [{"day": 18.0, "event": "engraftment"}, AG1, {"day": 61.0, "event": "relapse"}, LFU]
    )
    assert later["alive_relapse_free"] == "met"
