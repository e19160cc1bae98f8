"""Eligibility over a cohort: vectorised rules against a scalar loop, the screening-day
window, summary and CONSORT counts, one-patient screening, bad arguments, speed."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data.cohort import Cohort
from relapse_ml.eligibility import CRITERIA, consort_table, screen, screen_patient
from relapse_ml.errors import RelapseMLError
from tests._helpers_eligibility import CLEAN, CLEAN_EVENTS, cohort, one


# ---- randomized cohort: time window, brute force, counts ------------------------------
def random_cohort(n: int, seed: int) -> Cohort:
    rng = np.random.default_rng(seed)
    ids = [f"r{i:04d}" for i in range(n)]
    miss = lambda x, p=0.1: np.where(rng.random(n) < p, np.nan, x)  # noqa: E731
    p = pd.DataFrame(
        {
            "patient_id": ids,
            "age": miss(rng.choice([17.9, 18.0, 40.0, 65.0, 65.1], n)),
            "ecog": miss(rng.integers(0, 5, n).astype(float)),
            "diagnosis": rng.choice(["AML", "ALL", "MPAL", "MDS"], n),
            "flt3": rng.choice(["negative", "negative", "itd", "tkd", "unknown"], n),
            "prior_allo_hsct": miss(rng.integers(0, 2, n).astype(float)),
            "apl": miss((rng.random(n) < 0.1).astype(float)),
            "ph_positive": miss((rng.random(n) < 0.2).astype(float)),
            "cml_blast_crisis": miss((rng.random(n) < 0.05).astype(float)),
            "sorafenib_intolerance": miss((rng.random(n) < 0.05).astype(float)),
            "uncontrolled_infection": miss((rng.random(n) < 0.05).astype(float)),
            "life_expectancy_days": miss(rng.choice([29.9, 30.0, 365.0], n)),
            "lvef_pct": miss(rng.choice([49.9, 50.0, 60.0], n)),
            "pao2_mmhg": miss(rng.choice([60.0, 60.1, 90.0], n)),
            "bilirubin_mg_dl": miss(rng.choice([2.99, 3.0, 1.0], n)),
            "ast_x_uln": miss(rng.choice([2.0, 2.01, 1.0], n)),
            "alt_x_uln": miss(rng.choice([2.0, 2.01, 1.0], n)),
            "crcl_ml_min": miss(rng.choice([29.9, 30.0, 90.0], n)),
        }
    )
    ev = []
    for pid in ids:
        if rng.random() < 0.8:
            ev.append((pid, float(rng.integers(5, 80)), "engraftment", np.nan))
        if rng.random() < 0.5:
            ev.append((pid, float(rng.integers(5, 100)), "agvhd", float(rng.integers(1, 5))))
        if rng.random() < 0.2:
            ev.append((pid, float(rng.integers(20, 300)), "relapse", np.nan))
        ev.append((pid, float(rng.integers(30, 900)), "last_followup", np.nan))
    events = pd.DataFrame(ev, columns=["patient_id", "day", "event", "grade"])
    return Cohort(
        patients=p,
        measurements=pd.DataFrame(columns=["patient_id", "day", "marker", "value"]),
        events=events,
    )


def _brute_force(row: dict) -> dict:
    """Scalar re-statement of the single-column threshold criteria (independent of the vector code)."""

    def num(col, fails):
        v = row.get(col)
        return "not_assessable" if v is None or pd.isna(v) else ("failed" if fails(v) else "met")

    def flag(col):
        v = row.get(col)
        return "not_assessable" if v is None or pd.isna(v) else ("failed" if v == 1 else "met")

    ast, alt = row["ast_x_uln"], row["alt_x_uln"]
    if (not pd.isna(ast) and ast > 2) or (not pd.isna(alt) and alt > 2):
        ast_alt = "failed"
    elif pd.isna(ast) or pd.isna(alt):
        ast_alt = "not_assessable"
    else:
        ast_alt = "met"
    return {
        "inc_age_18_65": num("age", lambda v: not 18 <= v <= 65),
        "inc_ecog_0_2": num("ecog", lambda v: v > 2),
        "exc_ecog_3_5": num("ecog", lambda v: v >= 3),
        "inc_first_allo_hsct": num("prior_allo_hsct", lambda v: v != 0),
        "exc_life_expectancy_30d": num("life_expectancy_days", lambda v: v < 30),
        "exc_cardiac_dysfunction": num("lvef_pct", lambda v: v < 50),
        "exc_pao2_60": num("pao2_mmhg", lambda v: v <= 60),
        "exc_bilirubin_3": num("bilirubin_mg_dl", lambda v: v >= 3),
        "exc_crcl_30": num("crcl_ml_min", lambda v: v < 30),
        "exc_ast_alt_2x_uln": ast_alt,
        "exc_cml_blast_crisis": flag("cml_blast_crisis"),
        "exc_sorafenib_intolerance": flag("sorafenib_intolerance"),
        "exc_uncontrolled_infection": flag("uncontrolled_infection"),
    }


def test_vectorised_rules_agree_with_a_scalar_loop():
    c = random_cohort(300, seed=1)
    result = screen(c)
    pp = result.per_patient.set_index("patient_id")
    for row in c.patients.to_dict("records"):
        expected = _brute_force(row)
        got = {k: pp.at[row["patient_id"], k] for k in expected}
        assert got == expected, row["patient_id"]
    # status follows from the criterion columns by the precedence rule
    cols = pp[[c.id for c in CRITERIA]].astype(str)
    want = np.where(
        (cols == "failed").any(axis=1),
        "not_eligible",
        np.where((cols == "not_assessable").any(axis=1), "not_assessable", "eligible"),
    )
    assert (pp["status"].astype(str).to_numpy() == want).all()
    assert {"not_eligible", "not_assessable"} <= set(pp["status"].astype(str))


def test_data_after_as_of_day_cannot_change_the_result():
    c = random_cohort(200, seed=2)
    base = screen(c, as_of_day=60)
    rng = np.random.default_rng(3)
    ids = c.patients["patient_id"].to_numpy()
    later = pd.DataFrame(
        {
            "patient_id": np.repeat(ids, 4),
            "day": np.tile([60.5, 61.0, 70.0, 100.0], len(ids)),
            "event": np.tile(["agvhd", "engraftment", "relapse", "death"], len(ids)),
            "grade": np.tile([4.0, np.nan, np.nan, np.nan], len(ids)),
        }
    )
    ms_late = pd.DataFrame(
        {"patient_id": ids, "day": 61.0, "marker": "anc", "value": rng.gamma(2, 1, len(ids))}
    )
    # drop the original late events, add different late ones: the screen must not notice
    early = c.events[c.events["day"] <= 60]
    changed = Cohort(c.patients, ms_late, pd.concat([early, later], ignore_index=True))
    after = screen(changed, as_of_day=60)
    pd.testing.assert_frame_equal(base.per_patient, after.per_patient)
    # ...while an event on the screening day itself does count
    on_day = Cohort(
        c.patients, c.measurements, pd.concat([c.events, later.assign(day=60.0)], ignore_index=True)
    )
    assert (screen(on_day, as_of_day=60).per_patient["alive_relapse_free"] == "failed").all()


def test_summary_and_consort_counts_add_up():
    c = random_cohort(400, seed=4)
    r = screen(c)
    pp, s = r.per_patient, r.summary.set_index("criterion")
    n = len(pp)
    assert list(s.index) == [c.id for c in CRITERIA]
    for cid in s.index:
        vc = pp[cid].astype(str).value_counts()
        assert s.at[cid, "met"] == vc.get("met", 0)
        assert s.at[cid, "failed"] == vc.get("failed", 0)
        assert s.at[cid, "not_assessable"] == vc.get("not_assessable", 0)
        assert s.loc[cid, ["met", "failed", "not_assessable"]].sum() == n
    counts = r.counts()
    assert sum(counts.values()) == n

    first = consort_table(r, "first")
    by_step = first.groupby("step")["n"].sum()
    assert first.iloc[0]["n"] == n
    assert by_step["excluded"] == counts["not_eligible"] == by_step["not_eligible"]
    assert by_step["not_assessable"] == counts["not_assessable"] == by_step["not_assessable_total"]
    assert first.iloc[-1]["n"] == counts["eligible"] == first.iloc[-1]["remaining"]
    # "first failing" attribution by an explicit loop
    order = [c.id for c in CRITERIA]
    firsts = pp.apply(
        lambda row: next((i for i in order if row[i] == "failed"), None), axis=1
    ).value_counts()
    got = first[first["step"] == "excluded"].set_index("criterion")["n"]
    assert got.to_dict() == firsts.to_dict()

    every = consort_table(r, "all")
    got_all = every[every["step"] == "excluded"].set_index("criterion")["n"]
    assert got_all.to_dict() == {k: v for k, v in s["failed"].items() if v}
    with pytest.raises(RelapseMLError):
        consort_table(r, "some")


def test_one_patient_cohort_and_screen_patient_agree():
    record = {**CLEAN, "age": 71.0, "lvef_pct": None}
    events = [{k: v for k, v in e.items()} for e in CLEAN_EVENTS]
    single = screen_patient(record, events=events)
    assert single["status"] == "not_eligible"
    assert single["reasons"][0] == "age 18–65: failed (age 71)"
    assert "LVEF ≥ 50%: not assessable (lvef_pct missing)" in single["reasons"]
    row = one({"age": 71.0, "lvef_pct": None})
    assert "; ".join(single["reasons"]) == row["reasons"]
    assert single["criteria"] == {c.id: row[c.id] for c in CRITERIA}
    # a record without any event: nothing about recovery or aGVHD can be assessed
    bare = screen_patient(CLEAN)
    assert bare["criteria"]["inc_hematopoietic_recovery"] == "not_assessable"
    assert bare["criteria"]["exc_active_agvhd"] == "not_assessable"
    assert bare["criteria"]["alive_relapse_free"] == "met"


def test_bad_arguments_are_user_errors():
    with pytest.raises(RelapseMLError, match="as_of_day"):
        screen(cohort([CLEAN]), as_of_day=-1)
    with pytest.raises(RelapseMLError, match="as_of_day"):
        screen(cohort([CLEAN]), as_of_day="soon")
    with pytest.raises(RelapseMLError, match="unique"):
        screen(cohort([CLEAN]), criteria=[CRITERIA[0], CRITERIA[0]])


def test_criteria_are_named_and_documented():
    ids = [c.id for c in CRITERIA]
    assert len(ids) == len(set(ids))
    assert {c.kind for c in CRITERIA} == {"inclusion", "exclusion"}
    for c in CRITERIA:
        assert c.label and c.description and c.needs
        assert c.id.startswith(("inc_", "exc_")) or c.source == "implied"


def test_screen_is_fast_for_100k_patients():
    rng = np.random.default_rng(5)
    n = 100_000
    ids = np.array([f"p{i}" for i in range(n)], dtype=object)
    p = pd.DataFrame(
        {
            **{k: [v] * n for k, v in CLEAN.items()},
            "patient_id": ids,
            "age": rng.uniform(10, 80, n),
            "bilirubin_mg_dl": rng.gamma(2, 0.6, n),
        }
    )
    ev = pd.DataFrame(
        {
            "patient_id": np.repeat(ids, 2),
            "day": np.tile([20.0, 300.0], n),
            "event": np.tile(["engraftment", "last_followup"], n),
            "grade": np.nan,
        }
    )
    c = Cohort(p, pd.DataFrame(columns=["patient_id", "day", "marker", "value"]), ev)
    start = time.perf_counter()
    r = screen(c, records_events={"engraftment", "agvhd"})
    elapsed = time.perf_counter() - start
    assert elapsed < 15.0  # about 1 s on the 2-core reference machine
    age_ok = (p["age"] >= 18) & (p["age"] <= 65)
    bili_ok = p["bilirubin_mg_dl"] < 3
    assert int((r.per_patient["status"] == "eligible").sum()) == int((age_ok & bili_ok).sum())
