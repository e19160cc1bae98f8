"""Public-data adapters (KMsurv bmt, mstate ebmt4, survival myeloid) against their sources:
patient counts, contract codes, outcomes, field-by-field mappings, clean-up rules, and
eligibility on bmt."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data import contract as C
from relapse_ml.data.outcome import derive_outcome
from relapse_ml.datasets import DATASETS, load_bmt, load_ebmt4, load_myeloid
from relapse_ml.datasets.bmt import raw_bmt
from relapse_ml.datasets.ebmt4 import raw_ebmt4
from relapse_ml.datasets.myeloid import in_remission_at_transplant, raw_myeloid
from tests._helpers_datasets import load_all

DAY_MAX = C.EVENT_DAY_RANGE[1]


@pytest.fixture(scope="module")
def raw():
    return {"bmt": raw_bmt(), "ebmt4": raw_ebmt4(), "myeloid": raw_myeloid()}


@pytest.fixture(scope="module")
def loaded():
    return load_all()


def expected_outcome(name: str, r: pd.DataFrame) -> pd.DataFrame:
    """Outcome per source row, straight from the source columns (independent of the adapter)."""
    if name == "bmt":
        relapse = r["d2"] == 1
        nrm = (r["d1"] == 1) & ~relapse
        time = np.where(relapse, r["t2"], r["t1"])
    elif name == "myeloid":  # the kept patients, day 0 = transplant
        r = r[in_remission_at_transplant(r)]
        relapse = r["rltime"].notna()
        nrm = (r["death"] == 1) & ~relapse
        time = np.where(relapse, r["rltime"], r["futime"]) - r["txtime"]
    else:  # ebmt4, administratively censored at the contract's last day
        relapse = (r["rel.s"] == 1) & (r["rel"] <= DAY_MAX)
        nrm = (r["srv.s"] == 1) & (r["srv"] <= DAY_MAX) & ~relapse
        time = np.where(relapse, r["rel"], np.minimum(r["srv"], DAY_MAX))
    event = np.where(relapse, C.RELAPSE, np.where(nrm, C.NRM, C.CENSORED))
    return pd.DataFrame({"time": time.astype(float), "event": event})


@pytest.mark.parametrize(("name", "n", "kept"), [("bmt", 137, 137), ("ebmt4", 2279, 2279), ("myeloid", 646, 158)])
def test_patient_count_matches_the_source(loaded, raw, name, n, kept):
    assert len(raw[name]) == n
    p = loaded[name]["patients"]
    assert len(p) == kept
    assert p["patient_id"].is_unique


@pytest.mark.parametrize("name", list(DATASETS))
def test_tables_use_only_contract_codes(loaded, name):
    d = loaded[name]
    p, ev, ms = d["patients"], d["events"], d["measurements"]
    meta = d["cohort_json"]
    for col in C.PATIENT_REQUIRED:
        assert col in p and (p[col].notna().all() or col == "ecog"), col
    for col, codes in C.PATIENT_CATEGORIES.items():
        assert set(p[col]) <= set(codes), col
    # contract v2: what the source does not record is `unknown` (ecog: empty), and declared
    for col in meta["unknown_columns"]:
        assert (p[col] == "unknown").all() if col != "ecog" else p[col].isna().all(), col
    unknown_somewhere = {c for c in C.PATIENT_CATEGORIES if (p[c] == "unknown").any()}
    assert unknown_somewhere <= set(meta["unknown_columns"])
    assert p["age"].between(0, 100).all()
    assert p["ecog"].isna().all()  # none of the three records a performance status
    if name == "myeloid":
        assert set(p["arm"]) == {"sorafenib", "control"} and meta["randomized"] is False
    else:
        assert p["arm"].isna().all()  # observational
    assert set(ev["event"]) <= set(C.EVENTS) | set(meta.get("extra_events", {}))
    assert ev["day"].between(*C.EVENT_DAY_RANGE).all()
    for event, rng in C.EVENTS.items():
        grades = ev.loc[ev["event"] == event, "grade"]
        if rng is None:
            assert grades.isna().all(), event
        elif event in C.GRADE_REQUIRED:
            assert grades.between(*rng).all(), event
    assert set(ev["patient_id"]) <= set(p["patient_id"])
    has_outcome = set(ev.loc[ev["event"].isin(C.OUTCOME_EVENTS), "patient_id"])
    assert has_outcome == set(p["patient_id"])
    assert list(ms.columns) == list(C.MEASUREMENT_REQUIRED) and ms.empty


@pytest.mark.parametrize("name", list(DATASETS))
def test_derived_outcome_reproduces_the_source(loaded, raw, name):
    d = loaded[name]
    got = derive_outcome(d["patients"], d["measurements"], d["events"])
    want = expected_outcome(name, raw[name])
    np.testing.assert_array_equal(got["event"].to_numpy(), want["event"].to_numpy())
    np.testing.assert_allclose(got["time"].to_numpy(), want["time"].to_numpy())
    counts = got["event"].value_counts()
    if name == "bmt":  # relapses and deaths in remission exactly as in the source
        assert counts[C.RELAPSE] == raw[name]["d2"].sum()
        assert counts[C.NRM] == ((raw[name]["d1"] == 1) & (raw[name]["d2"] == 0)).sum()
    elif name == "myeloid":
        assert (counts[C.RELAPSE], counts[C.NRM], counts[C.CENSORED]) == (38, 33, 87)
    else:
        r = raw[name]
        lost_relapses = ((r["rel.s"] == 1) & (r["rel"] > DAY_MAX)).sum()
        assert counts[C.RELAPSE] == r["rel.s"].sum() - lost_relapses
        assert (
            d["cohort_json"]["adapter_changes"]["events_after_day_max_dropped"].get("relapse", 0)
            == lost_relapses
        )


@pytest.mark.parametrize("name", list(DATASETS))
def test_no_event_after_death_and_at_most_one_death(loaded, name):
    ev = loaded[name]["events"]
    death = ev[ev["event"] == "death"].groupby("patient_id")["day"]
    assert (death.size() == 1).all()
    after = ev["day"] > ev["patient_id"].map(death.min())
    assert not after.any()


def test_bmt_events_match_the_source_columns(loaded, raw):
    r, ev = raw["bmt"], loaded["bmt"]["events"]
    n = ev["event"].value_counts()
    alive_or_before_death = lambda t: (r["d1"] == 0) | (r[t] <= r["t1"])  # noqa: E731
    assert n["agvhd"] == ((r["da"] == 1) & alive_or_before_death("ta")).sum()
    assert n["cgvhd"] == ((r["dc"] == 1) & alive_or_before_death("tc")).sum()
    assert n["platelet_recovery"] == ((r["dp"] == 1) & alive_or_before_death("tp")).sum()
    assert "engraftment" not in n  # neutrophil engraftment is not recorded
    assert n["last_followup"] == (r["d1"] == 0).sum()
    dropped = ((r["dc"] == 1) & (r["tc"] > r["t1"]) & (r["d1"] == 1)).sum()
    assert (
        loaded["bmt"]["cohort_json"]["adapter_changes"]["events_after_death_dropped"].get(
            "cgvhd", 0
        )
        == dropped
    )
    assert set(ev.loc[ev["event"] == "agvhd", "grade"]) == {2.0}  # floor of grade II-IV, documented
    # contract columns filled from the source
    p = loaded["bmt"]["patients"]
    np.testing.assert_array_equal(p["age"], r["z1"])
    np.testing.assert_array_equal(p["sex"] == "M", r["z3"] == 1)
    np.testing.assert_array_equal(p["diagnosis"] == "ALL", r["group"] == 1)
    np.testing.assert_array_equal(
        p["aml_risk_group"].fillna("none"), r["group"].map({1: "none", 2: "low", 3: "high"})
    )


def test_ebmt4_maps_recovery_and_the_adverse_event_as_declared_events(loaded, raw):
    r, ev = raw["ebmt4"], loaded["ebmt4"]["events"]
    meta = loaded["ebmt4"]["cohort_json"]
    assert set(meta["extra_events"]) == {"platelet_recovery", "adverse_event"}
    assert not ev["event"].isin(["agvhd", "cgvhd", "engraftment"]).any()  # no invented grade
    for event, t, s_ in (("platelet_recovery", "rec", "rec.s"), ("adverse_event", "ae", "ae.s")):
        got = ev[ev["event"] == event].set_index("patient_id")["day"].sort_index()
        src = r[(r[s_] == 1) & (r[t] <= DAY_MAX)]
        want = pd.Series(src[t].to_numpy(float), index="ebmt4-" + src["id"].map("{:04d}".format))
        pd.testing.assert_series_equal(got, want.sort_index(), check_names=False, check_index_type=False)
    assert ev.loc[ev["event"] == "adverse_event", "day"].max() <= 100  # acute GVHD window
    lfu_max = ev[(ev["event"] == "last_followup") & (ev["day"] == DAY_MAX)]
    observed_beyond = r["srv"] > DAY_MAX  # death at srv, so none of them died by day 4000
    assert lfu_max["detail"].notna().sum() == observed_beyond.sum()  # administrative censoring
    assert len(lfu_max) == observed_beyond.sum() + ((r["srv"] == DAY_MAX) & (r["srv.s"] == 0)).sum()
    p = loaded["ebmt4"]["patients"]
    assert p.groupby("age_class")["age"].nunique().eq(1).all()
    np.testing.assert_array_equal(p["gvhd_prophylaxis"], r["proph"] == "yes")
    np.testing.assert_array_equal(p["sex_match"], r["match"].astype(str))
    np.testing.assert_array_equal(p["year_group"], r["year"].astype(str))


def test_myeloid_field_by_field_on_a_hand_made_frame():
    raw = pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6, 7],
        "trt": ["B", "A", "A", "B", "A", "B", "A"],
        "sex": ["f", "m", "m", "f", "f", "m", "f"],
        "flt3": ["C", "A", "B", "A", "B", "C", "A"],
        "futime": [900, 700, 400, 800, 300, 500, 600],
        "death": [0, 1, 1, 0, 1, 1, 0],
        "txtime": [100, 150, 120, np.nan, 90, 200, 50],
        "crtime": [40, 30, np.nan, 35, 95, 60, 50],
        "rltime": [np.nan, 450, np.nan, np.nan, np.nan, 150, np.nan],
    })  # fmt: skip
    # 1 kept (censored), 2 kept (relapse then death), 3 no remission, 4 not transplanted,
    # 5 remission after transplant, 6 relapse before transplant, 7 remission on transplant day
    d = load_myeloid(raw)
    p, ev, meta = d["patients"], d["events"], d["cohort_json"]
    assert list(p["patient_id"]) == ["myeloid-001", "myeloid-002"]
    assert list(p["arm"]) == ["sorafenib", "control"] and list(p["sex"]) == ["F", "M"]
    assert list(p["flt3_burden"]) == ["C", "A"] and list(p["disease_status"]) == ["CR1", "CR1"]
    assert list(p["days_cr_to_transplant"]) == [60.0, 120.0]
    assert (p["flt3"] == "unknown").all() and p["ecog"].isna().all() and (p["diagnosis"] == "AML").all()
    got = list(ev[["patient_id", "day", "event"]].itertuples(index=False, name=None))
    assert got == [("myeloid-001", 800.0, "last_followup"), ("myeloid-002", 300.0, "relapse"),
                   ("myeloid-002", 550.0, "death")]  # fmt: skip
    assert meta["selection"] == {
        "source_patients": 7, "not_transplanted": 1, "transplanted": 6,
        "kept_in_remission_at_transplant": 2, "left_out_no_remission_before_transplant": 1,
        "left_out_remission_on_or_after_transplant": 2, "left_out_relapse_before_transplant": 1,
    }  # fmt: skip
    assert meta["randomized"] is False and "propensity" in meta["arm_meaning"]
    out = derive_outcome(p, d["measurements"], ev)
    assert list(out["event"]) == [C.CENSORED, C.RELAPSE] and list(out["time"]) == [800.0, 300.0]


def test_myeloid_keeps_every_patient_in_remission_at_transplant(loaded, raw):
    r = raw["myeloid"]
    want = r[r["txtime"].notna() & (r["crtime"] < r["txtime"]) & ~(r["rltime"] <= r["txtime"])]
    p = loaded["myeloid"]["patients"]
    assert list(p["patient_id"]) == list("myeloid-" + want["id"].map("{:03d}".format))
    sel = loaded["myeloid"]["cohort_json"]["selection"]
    assert sel["transplanted"] == r["txtime"].notna().sum() == 364
    assert sel["kept_in_remission_at_transplant"] + sel["left_out_no_remission_before_transplant"] + \
        sel["left_out_remission_on_or_after_transplant"] + sel["left_out_relapse_before_transplant"] == 364
    assert (loaded["myeloid"]["events"]["day"] > 0).all()  # nothing on or before the transplant


def test_adapters_clip_events_after_death_and_beyond_day_4000():
    """Small hand-made source frames: the clean-up rules, one case each."""
    bmt = pd.DataFrame(
        {
            "rownames": [1, 2],
            "group": [2, 1],
            "t1": [100, 500],
            "t2": [100, 200],
            "d1": [1, 0],
            "d2": [0, 1],
            "d3": [1, 1],
            "ta": [150, 20],
            "da": [1, 1],
            "tc": [100, 300],
            "dc": [0, 1],
            "tp": [10, 20],
            "dp": [1, 1],
            "z1": [30, 17],
            "z2": [30, 20],
            "z3": [1, 0],
            "z4": [0, 1],
            "z5": [1, 0],
            "z6": [0, 0],
            "z7": [100, 200],
            "z8": [0, 1],
            "z9": [1, 4],
            "z10": [1, 0],
        }
    )
    d = load_bmt(bmt)
    ev = d["events"]
    assert not (
        (ev["patient_id"] == "bmt-001") & (ev["event"] == "agvhd")
    ).any()  # day 150 > death day 100
    assert d["cohort_json"]["adapter_changes"]["events_after_death_dropped"] == {"agvhd": 1}
    p2 = ev[ev["patient_id"] == "bmt-002"]
    assert list(p2["event"]) == [
        "platelet_recovery",
        "agvhd",
        "relapse",
        "cgvhd",
        "last_followup",
    ]  # same-day order
    ebmt = pd.DataFrame(
        {
            "id": [1, 2, 3],
            "rec": [20, 30, 5000],
            "rec.s": [1, 1, 1],
            "ae": [10, 10, 10],
            "ae.s": [1, 0, 0],
            "recae": [20, 30, 40],
            "recae.s": [1, 0, 0],
            "rel": [4100, 3000, 5000],
            "rel.s": [1, 1, 0],
            "srv": [4500, 4200, 5000],
            "srv.s": [1, 1, 0],
            "year": ["1985-1989"] * 3,
            "agecl": ["<=20", "20-40", ">40"],
            "proph": ["no", "yes", "no"],
            "match": ["gender mismatch", "no gender mismatch", "no gender mismatch"],
        }
    )
    d = load_ebmt4(ebmt)
    out = derive_outcome(d["patients"], d["measurements"], d["events"])
    np.testing.assert_array_equal(out["event"], [C.CENSORED, C.RELAPSE, C.CENSORED])
    np.testing.assert_allclose(out["time"], [DAY_MAX, 3000, DAY_MAX])
    assert d["events"]["day"].max() == DAY_MAX
    assert list(d["patients"]["age"]) == [10.0, 30.0, 50.0]
    ev = d["events"]
    assert list(ev.loc[ev["event"] == "adverse_event", "patient_id"]) == ["ebmt4-0001"]
    assert list(ev.loc[ev["event"] == "platelet_recovery", "day"]) == [20.0, 30.0]  # 5000 > day 4000
    assert d["cohort_json"]["adapter_changes"]["patients_censored_at_day_max"] == 3


def test_eligibility_on_bmt_treats_unknown_as_not_assessable(loaded, raw):
    from relapse_ml.data.cohort import Cohort
    from relapse_ml.eligibility import screen

    d = loaded["bmt"]
    c = Cohort(d["patients"], d["measurements"], d["events"])
    r = screen(c)
    pp = r.per_patient
    assert (pp["inc_ecog_0_2"] == "not_assessable").all()
    assert (pp["status"] != "eligible").all()  # no screening columns in a 1980s data set
    r_ = raw["bmt"]
    alive_relapse_free_at_60 = ~(
        ((r_["d2"] == 1) & (r_["t2"] <= 60)) | ((r_["d1"] == 1) & (r_["t1"] <= 60))
    )
    assert (pp["alive_relapse_free"] == "met").sum() == alive_relapse_free_at_60.sum()
    assert (pp["inc_age_18_65"] == "failed").sum() == (r_["z1"] < 18).sum()
