"""The simulator's output: contract tables, screening, determinism, bad arguments, written
files, the cohort view and the visit schedule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data import contract as C
from relapse_ml.errors import RelapseMLError
from relapse_ml.simulate import SCENARIOS, ScenarioError, SimulatedTrial, simulate_trial


@pytest.fixture(scope="module")
def small() -> SimulatedTrial:
    return simulate_trial(300, seed=3, screen_failures=True)


# ---- data contract ------------------------------------------------------------------
def test_contract_codes_ranges_and_order(small):
    p, m, e = small.patients, small.measurements, small.events
    assert p["patient_id"].is_unique and p["patient_id"].str.match(r"^SIM\d{5,}$").all()
    for col in C.PATIENT_REQUIRED + C.PATIENT_OPTIONAL + C.SCREENING_COLUMNS:
        assert col in p.columns, col
    for col, codes in C.PATIENT_CATEGORIES.items():
        assert p[col].isin(codes).all(), col
    assert (
        p["age"].between(0, 100).all()
        and p["ecog"].between(0, 4).all()
        and p["hct_ci"].between(0, 20).all()
    )
    rand = p["arm"].notna()
    assert p.loc[rand, "arm"].isin(C.ARM).all()
    assert p.loc[rand, "randomization_day"].between(45, 60).all()
    assert p.loc[~rand, "randomization_day"].isna().all()
    assert (p.loc[rand, "flt3"] == "negative").all()

    assert list(m.columns) == ["patient_id", "day", "marker", "value", "sample"]
    assert m["marker"].isin(list(C.MARKERS)).all() and m["sample"].isin(C.SAMPLE).all()
    for marker, (lo, hi) in C.MARKERS.items():
        v = m.loc[m["marker"] == marker, "value"]
        assert v.between(lo, hi).all(), marker
    mrd = m.loc[m["marker"] == "mrd_mfc", "value"]
    assert ((mrd == 0) | (mrd >= C.MRD_DETECTION_LIMIT)).all()
    assert m["day"].between(*C.MEASUREMENT_DAY_RANGE).all()

    assert list(e.columns) == ["patient_id", "day", "event", "grade", "detail"]
    assert e["event"].isin(list(C.EVENTS)).all()
    assert e["day"].between(*C.EVENT_DAY_RANGE).all()
    for name, rng in C.EVENTS.items():
        g = e.loc[e["event"] == name, "grade"]
        if rng is None:
            assert g.isna().all(), name
        else:
            assert g.notna().all() and g.between(*rng).all(), name
    stop = e.loc[e["event"] == "sorafenib_stop", "detail"]
    assert stop.isin(C.SORAFENIB_STOP_DETAIL).all()
    assert set(e.loc[e["event"] == "sorafenib_dose_change", "grade"]) <= {400.0, 200.0}
    assert set(m["patient_id"]) <= set(p["patient_id"]) and set(e["patient_id"]) <= set(
        p["patient_id"]
    )
    # sorted by patient and day
    for t in (m, e):
        assert t.equals(t.sort_values(["patient_id", "day"], kind="stable"))


def test_contract_outcomes_and_death_rules(small):
    p, m, e = small.patients, small.measurements, small.events
    deaths = e[e["event"] == "death"]
    assert deaths["patient_id"].is_unique
    death_day = deaths.set_index("patient_id")["day"]
    for t in (m, e):
        dd = t["patient_id"].map(death_day)
        assert not (t["day"] > dd).any()
    has_outcome = set(e.loc[e["event"].isin(C.OUTCOME_EVENTS), "patient_id"])
    assert has_outcome == set(p["patient_id"])
    # relapsed patients: measurements stop at relapse; a later death or last follow-up
    rel_day = e[e["event"] == "relapse"].groupby("patient_id")["day"].min()
    assert len(rel_day) > 10
    assert (m["day"] <= m["patient_id"].map(rel_day).fillna(np.inf)).all()
    after = e[e["event"].isin(["death", "last_followup"])].groupby("patient_id")["day"].max()
    assert (after.reindex(rel_day.index) >= rel_day).all()
    # sorafenib events only in the sorafenib arm, starting at randomization
    arm = p.set_index("patient_id")["arm"]
    sor = e[e["event"].str.startswith("sorafenib")]
    assert (sor["patient_id"].map(arm) == "sorafenib").all()
    start = e[e["event"] == "sorafenib_start"].set_index("patient_id")["day"]
    assert start.index.is_unique
    assert set(start.index) == set(arm[arm == "sorafenib"].index)
    assert (start == p.set_index("patient_id").loc[start.index, "randomization_day"]).all()


def test_cohort_validates_with_the_shared_reader(small, tmp_path):
    io = pytest.importorskip("relapse_ml.data.io")
    cohort = io.cohort_from_frames(small.patients, small.measurements, small.events)
    assert cohort.n_patients == len(small.patients)
    out = small.write(tmp_path / "sim")
    back = io.read_cohort(out)
    assert back.n_patients == len(small.patients)
    assert back.outcome["event"].value_counts().sum() == len(small.patients)


# ---- screening ----------------------------------------------------------------------
def test_screen_failures_are_included_with_reasons(small):
    p = small.patients.set_index("patient_id")
    t = small.truth.set_index("patient_id")
    rand = p["arm"].notna()
    assert rand.sum() == 300 and (~rand).sum() > 100
    assert (p.loc[rand, "arm"] == "sorafenib").sum() in (150, 151, 149)
    reason = t["screen_reason"]
    assert (reason[rand] == "randomized").all() and (reason[~rand] != "randomized").all()
    assert p.loc[reason == "age outside 18-65", "age"].pipe(lambda a: ((a < 18) | (a > 65)).all())
    assert (p.loc[reason == "FLT3 mutated or unknown", "flt3"] != "negative").all()
    assert (p.loc[reason == "ECOG 3-4", "ecog"] >= 3).all()
    ev = small.events
    relapsed = set(ev.loc[ev["event"] == "relapse", "patient_id"])
    assert set(reason[reason == "relapsed before randomization"].index) <= relapsed
    # screen failures are followed to their screening day only, and are never at risk
    assert not t.loc[~rand, "at_risk_at_landmark"].any()
    last = ev[ev["patient_id"].isin(p.index[~rand])].groupby("patient_id")["day"].max()
    assert (last <= 60).all()
    # the screening flow in meta counts every candidate
    flow = small.meta["screening_flow"]
    assert sum(flow.values()) == small.meta["n_screened"] == len(p)
    assert flow["randomized"] == 300

    default = simulate_trial(50, seed=3)
    assert default.patients["arm"].notna().all() and len(default.patients) == 50


# ---- determinism, errors, output files ----------------------------------------------
def test_deterministic_for_a_seed_and_different_across_seeds():
    a = simulate_trial(150, seed=7, scenario="uniform")
    b = simulate_trial(150, seed=7, scenario="uniform")
    for name in ("patients", "measurements", "events", "truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert json.dumps(a.meta, sort_keys=True, default=str) == json.dumps(
        b.meta, sort_keys=True, default=str
    )
    c = simulate_trial(150, seed=8, scenario="uniform")
    assert not a.patients.drop(columns="patient_id").equals(c.patients.drop(columns="patient_id"))
    assert not a.truth["risk_control"].equals(c.truth["risk_control"])


def test_unknown_scenario_and_bad_arguments():
    with pytest.raises(ScenarioError) as err:
        simulate_trial(10, scenario="optimistic")
    for name in SCENARIOS:
        assert name in str(err.value)
    assert isinstance(err.value, RelapseMLError)
    assert set(SCENARIOS) == {"null", "uniform", "mrd_driven", "harm_subgroup",
                              "cytogenetics_driven"}
    for kwargs in (
        {"n": 0},
        {"n": 2.5},
        {"horizon_days": 0},
        {"landmark_day": 30},
        {"seed": -1},
        {"truth_draws": 1},
        {"truth_draws": 48},
        {"landmark_day": 3000, "horizon_days": 1000},
    ):
        with pytest.raises(RelapseMLError):
            simulate_trial(**{"n": 10, **kwargs})


def test_write_produces_files_and_no_temporary_directory(small, tmp_path):
    out = small.write(tmp_path / "cohort")
    names = {f.name for f in out.iterdir()}
    assert names == {
        "patients.csv",
        "measurements.csv",
        "events.csv",
        "truth.csv",
        "meta.json",
        "cohort.json",
    }
    assert [d.name for d in tmp_path.iterdir()] == ["cohort"]
    meta = json.loads((out / "meta.json").read_text())
    for key in (
        "scenario",
        "seed",
        "n",
        "landmark_day",
        "horizon_days",
        "contract_version",
        "params",
    ):
        assert key in meta
    assert meta["scenario"] == "mrd_driven" and meta["contract_version"] == C.CONTRACT_VERSION
    cohort_json = json.loads((out / "cohort.json").read_text())
    assert cohort_json["extra_columns"] == {} and cohort_json["source"].startswith(
        "relapse_ml.simulate"
    )
    truth = pd.read_csv(out / "truth.csv")
    assert len(truth) == len(small.patients)
    patients = pd.read_csv(out / "patients.csv")
    assert patients["arm"].isna().sum() == small.patients["arm"].isna().sum()
    with pytest.raises(RelapseMLError):
        small.write(out)
    small.write(out, overwrite=True)
    assert [d.name for d in tmp_path.iterdir()] == ["cohort"]


def test_to_cohort(small):
    cohort = small.to_cohort()
    assert cohort.n_patients == len(small.patients) and cohort.extra_columns == {}
    assert cohort.has_arm
    assert set(cohort.outcome["event"]) <= {C.CENSORED, C.RELAPSE, C.NRM}
    assert cohort.source.startswith("relapse_ml.simulate")


def test_truth_can_be_skipped():
    t = simulate_trial(100, seed=1, truth=False).truth
    assert t["risk_control"].isna().all() and t["at_risk_at_landmark"].any()


def test_a_denser_visit_schedule_changes_only_what_is_measured():
    plain = simulate_trial(150, seed=3, truth=False)
    dense = simulate_trial(150, seed=3, truth=False, visit_days=range(14, 121, 14))
    pd.testing.assert_frame_equal(dense.patients, plain.patients)
    pd.testing.assert_frame_equal(dense.events, plain.events)
    m0, m1 = plain.measurements, dense.measurements
    per_patient = lambda m: m[(m["marker"] == "mrd_mfc") & (m["day"] <= 60)].groupby(  # noqa: E731
        "patient_id").size().reindex(plain.patients["patient_id"], fill_value=0)
    assert per_patient(m1).mean() > per_patient(m0).mean() + 1.5  # days 14..56 vs ~30, 60
    assert per_patient(m0).max() <= 2
    # after the last given day the default schedule continues (day 180 visit +- 7)
    late = lambda m: m[(m["day"] >= 173) & (m["day"] <= 187)]["patient_id"].nunique()  # noqa: E731
    assert late(m1) > 0.5 * late(m0)
    assert dense.meta["visit_days"][:3] == [14.0, 28.0, 42.0] and 180.0 in dense.meta["visit_days"]
    with pytest.raises(RelapseMLError, match="visit_days"):
        simulate_trial(20, seed=1, truth=False, visit_days=[0, 30])
