"""Feature functions against hand-computed values and a brute-force per-patient loop."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from relapse_ml.data.cohort import Cohort
from relapse_ml.data.contract import PATIENT_CATEGORIES
from relapse_ml.errors import ConfigError
from relapse_ml.features import (
    DEFAULT_FEATURES,
    FEATURE_GROUPS,
    FEATURES,
    FeatureContext,
    FeatureSettings,
    build_features,
    resolve_features,
)
from tests._helpers_features import make_cohort

NAN = float("nan")


def _patients(rows: list[dict]) -> pd.DataFrame:
    base = {
        "age": 50.0,
        "sex": "M",
        "diagnosis": "AML",
        "disease_status": "CR1",
        "cytogenetic_risk": "favorable",
        "flt3": "negative",
        "pre_hsct_mrd": "negative",
        "donor_type": "MSD",
        "conditioning": "MAC",
        "ecog": 0,
        "hct_ci": 1.0,
        "arm": "control",
    }
    return pd.DataFrame([{**base, **r} for r in rows])


@pytest.fixture(scope="module")
def tiny() -> Cohort:
    """Three patients with samples chosen so every feature is easy to compute by hand."""
    patients = _patients(
        [
            {"patient_id": "A", "arm": "sorafenib"},
            {"patient_id": "B", "hct_ci": np.nan},
            {"patient_id": "C", "arm": np.nan},
        ]
    )
    m = [
        ("A", 10, "mrd_mfc", 0.0, "BM"),
        ("A", 30, "mrd_mfc", 0.02, "BM"),
        ("A", 50, "mrd_mfc", 0.5, "BM"),
        ("A", 50, "mrd_mfc", 0.1, "PB"),  # same day: the higher (worse) value counts
        ("A", 70, "mrd_mfc", 3.0, "BM"),  # after L = 60: invisible
        ("A", 20, "wt1", 100.0, "BM"),
        ("A", 55, "wt1", 40.0, "BM"),
        ("A", 20, "donor_chimerism", 100.0, "PB"),
        ("A", 45, "donor_chimerism", 93.0, "PB"),
        ("A", 58, "donor_chimerism", 97.0, "PB"),
        ("A", 58, "donor_chimerism", 90.0, "BM"),  # same day: the lower (worse) value counts
        ("B", 40, "wt1", 30.0, "BM"),
        ("C", -10, "mrd_mfc", 1.0, "BM"),  # pre-transplant: not a post-transplant sample
        ("C", 61, "mrd_mfc", 1.0, "BM"),
    ]
    e = [
        ("A", 25, "agvhd", 2.0, None),
        ("A", 40, "agvhd", 3.0, None),
        ("A", 45, "sorafenib_start", NAN, None),
        ("A", 50, "sorafenib_stop", NAN, "toxicity"),
        ("A", 55, "sorafenib_start", NAN, None),
        ("A", 300, "last_followup", NAN, None),
        ("B", 35, "agvhd", 1.0, None),
        ("B", 50, "cgvhd", 2.0, None),
        ("B", 65, "cgvhd", 3.0, None),  # after L
        ("B", 200, "relapse", NAN, None),
        ("C", 400, "death", NAN, None),
    ]
    return Cohort(
        patients=patients,
        measurements=pd.DataFrame(m, columns=["patient_id", "day", "marker", "value", "sample"]),
        events=pd.DataFrame(e, columns=["patient_id", "day", "event", "grade", "detail"]),
    )


def test_hand_computed_values(tiny):
    X = build_features(
        tiny, 60, features=[n for n in DEFAULT_FEATURES if n != "extra"] + ["sorafenib_days"]
    )
    assert list(X.index) == ["A", "B", "C"]
    expected = {
        "A": {
            "mrd_mfc_latest": 0.5,
            "mrd_mfc_peak": 0.5,
            "mrd_mfc_days_since": 10.0,
            "mrd_mfc_log_slope": (math.log(0.51) - math.log(0.03)) / 20 * 30,
            "mrd_mfc_detected_ever": 1.0,
            "mrd_mfc_missing": 0.0,
            "wt1_latest": 40.0,
            "wt1_peak": 100.0,
            "wt1_days_since": 5.0,
            "wt1_log_slope": (math.log(41.0) - math.log(101.0)) / 35 * 30,
            "wt1_detected_ever": 1.0,
            "wt1_missing": 0.0,
            "chimerism_latest": 90.0,
            "chimerism_lowest": 90.0,
            "chimerism_mixed": 1.0,
            "chimerism_trend": (90.0 - 93.0) / 13 * 30,
            "chimerism_days_since": 2.0,
            "chimerism_missing": 0.0,
            "agvhd_max_grade": 3.0,
            "agvhd_active": 1.0,  # onset of grade 3 on day 40, within 30 days of L
            "cgvhd_max_grade": 0.0,
            "arm": 1.0,
            "sorafenib_days": 5.0 + 5.0,  # 45..50, then 55..60 (still on at L)
            "hct_ci": 1.0,
            "hct_ci_missing": 0.0,
        },
        "B": {
            "mrd_mfc_latest": NAN,
            "mrd_mfc_peak": NAN,
            "mrd_mfc_days_since": NAN,
            "mrd_mfc_log_slope": NAN,
            "mrd_mfc_detected_ever": NAN,
            "mrd_mfc_missing": 1.0,
            "wt1_latest": 30.0,
            "wt1_peak": 30.0,
            "wt1_days_since": 20.0,
            "wt1_log_slope": NAN,  # one sample only
            "wt1_detected_ever": 0.0,  # 30 is below the positivity threshold 60
            "wt1_missing": 0.0,
            "chimerism_latest": NAN,
            "chimerism_mixed": NAN,
            "chimerism_trend": NAN,
            "chimerism_missing": 1.0,
            "agvhd_max_grade": 1.0,
            "agvhd_active": 1.0,
            "cgvhd_max_grade": 2.0,
            "arm": 0.0,
            "sorafenib_days": 0.0,
            "hct_ci": NAN,
            "hct_ci_missing": 1.0,
        },
        "C": {
            "mrd_mfc_latest": NAN,
            "mrd_mfc_missing": 1.0,
            "wt1_missing": 1.0,
            "chimerism_missing": 1.0,
            "agvhd_max_grade": 0.0,
            "agvhd_active": 0.0,
            "arm": NAN,
        },
    }
    for pid, cols in expected.items():
        for col, want in cols.items():
            got = X.loc[pid, col]
            if math.isnan(want):
                assert math.isnan(got), (pid, col, got)
            else:
                assert got == pytest.approx(want, rel=1e-12), (pid, col, got)


def test_agvhd_active_window_is_a_setting(tiny):
    X = build_features(tiny, 60, ["agvhd_active"], FeatureSettings(agvhd_active_days=10))
    # A's last onset is day 40, B's day 35: both older than 10 days at L = 60
    assert X["agvhd_active"].tolist() == [0.0, 0.0, 0.0]
    X = build_features(tiny, 60, ["agvhd_active"], FeatureSettings(agvhd_active_days=25))
    assert X["agvhd_active"].tolist() == [1.0, 1.0, 0.0]  # day 35 = L - 25 counts


def test_pre_transplant_samples_are_a_setting(tiny):
    X = build_features(tiny, 60, ["mrd_mfc_latest"], FeatureSettings(first_marker_day=-60))
    assert X.loc["C", "mrd_mfc_latest"] == 1.0 and X.loc["C", "mrd_mfc_missing"] == 0.0


def _reference(cohort: Cohort, L: float, settings: FeatureSettings) -> pd.DataFrame:
    """Brute force: one patient at a time, plain Python, straight from the definitions."""
    rows = {}
    meas, ev = cohort.measurements, cohort.events
    for pid in cohort.patients["patient_id"]:
        r: dict[str, float] = {}
        pm = meas[
            (meas.patient_id == pid) & (meas.day <= L) & (meas.day >= settings.first_marker_day)
        ]
        for marker, prefix, offset, positive, worst in (
            ("mrd_mfc", "mrd_mfc", 0.01, 0.0, max),
            ("wt1", "wt1", 1.0, 60.0, max),
            ("donor_chimerism", "chimerism", None, None, min),
        ):
            by_day: dict[float, float] = {}
            for d, v in zip(
                pm.day[pm.marker == marker], pm.value[pm.marker == marker], strict=True
            ):
                by_day[d] = worst(by_day[d], v) if d in by_day else v
            days = sorted(by_day)
            vals = [by_day[d] for d in days]
            r[f"{prefix}_missing"] = float(not days)
            if not days:
                continue
            r[f"{prefix}_latest"] = vals[-1]
            r[f"{prefix}_days_since"] = L - days[-1]
            if marker == "donor_chimerism":
                r["chimerism_lowest"] = min(vals)
                r["chimerism_mixed"] = float(vals[-1] < 95)
                if len(days) > 1:
                    r["chimerism_trend"] = (vals[-1] - vals[-2]) / (days[-1] - days[-2]) * 30
            else:
                r[f"{prefix}_peak"] = max(vals)
                r[f"{prefix}_detected_ever"] = float(any(v > positive for v in vals))
                if len(days) > 1:
                    r[f"{prefix}_log_slope"] = (
                        (math.log(vals[-1] + offset) - math.log(vals[-2] + offset))
                        / (days[-1] - days[-2])
                        * 30
                    )
        pe = ev[(ev.patient_id == pid) & (ev.day <= L)]
        ag = pe[pe.event == "agvhd"]
        r["agvhd_max_grade"] = max(ag.grade, default=0.0)
        r["agvhd_active"] = float(any(d >= L - settings.agvhd_active_days for d in ag.day))
        r["cgvhd_max_grade"] = max(pe.grade[pe.event == "cgvhd"], default=0.0)
        # sorafenib exposure: count whole days d in [0, L) with the drug on during (d, d+1)
        spells = pe[pe.event.isin(["sorafenib_start", "sorafenib_stop"])].sort_values("day")
        changes = list(zip(spells.day, spells.event, strict=True))
        on_days = 0
        for d in range(int(L)):
            state = False
            for day, event in changes:
                if day <= d:
                    state = event == "sorafenib_start"
            on_days += state
        r["sorafenib_days"] = float(on_days)
        rows[pid] = r
    return pd.DataFrame.from_dict(rows, orient="index")


@pytest.mark.parametrize("L", [45, 60, 180, 365])
def test_vectorised_matches_brute_force(L):
    cohort = make_cohort(n=30, seed=L)
    settings = FeatureSettings()
    X = build_features(cohort, L, list(DEFAULT_FEATURES) + ["sorafenib_days"], settings)
    ref = _reference(cohort, L, settings).reindex(X.index)
    assert set(ref.columns) <= set(X.columns)
    for col in ref.columns:
        want = ref[col].to_numpy(dtype=float)
        np.testing.assert_allclose(
            X[col].to_numpy(), want, rtol=1e-12, atol=0, equal_nan=True, err_msg=col
        )
    # the generator makes both missing and present markers, so both branches were exercised
    assert 0 < X["chimerism_missing"].sum() < len(X)
    assert X["wt1_log_slope"].notna().any() and X["chimerism_trend"].notna().any()


def test_sorafenib_days_edge_cases():
    patients = _patients([{"patient_id": p, "arm": "sorafenib"} for p in "PQRS"])
    e = [
        ("P", 50, "sorafenib_start"), ("P", 50, "sorafenib_stop"),  # same-day: 0 days
        ("Q", 40, "sorafenib_stop"),  # stop without start: 0
        ("R", 10, "sorafenib_start"), ("R", 20, "sorafenib_start"), ("R", 30, "sorafenib_stop"),
        ("S", 55, "sorafenib_start"), ("S", 70, "sorafenib_stop"),  # stop after L: on until L
    ]  # fmt: skip
    events = pd.DataFrame(e, columns=["patient_id", "day", "event"])
    measurements = pd.DataFrame(columns=["patient_id", "day", "marker", "value"])
    X = build_features(Cohort(patients, measurements, events), 60, ["sorafenib_days"])
    assert X["sorafenib_days"].tolist() == [0.0, 0.0, 20.0, 5.0]


def test_baseline_levels_are_fixed_by_the_contract():
    one = _patients([{"patient_id": "A"}])
    other = _patients(
        [
            {"patient_id": "B", "sex": "F", "diagnosis": "ALL", "disease_status": "CR3+",
             "donor_type": "haplo", "conditioning": "RIC", "pre_hsct_mrd": "positive"},
            {"patient_id": "C", "diagnosis": "CML"},  # not a contract level: NaN, not "AML"
        ]
    )  # fmt: skip
    empty_m = pd.DataFrame(columns=["patient_id", "day", "marker", "value"])
    empty_e = pd.DataFrame(columns=["patient_id", "day", "event"])
    Xa = build_features(Cohort(one, empty_m, empty_e), 60, ["baseline"])
    Xb = build_features(Cohort(other, empty_m, empty_e), 60, ["baseline"])
    assert list(Xa.columns) == list(Xb.columns)
    # levels besides ``unknown`` and the reference, plus two ``_unknown`` indicators
    n_dummies = sum(len(PATIENT_CATEGORIES[c]) - 2 for c in
                    ("sex", "diagnosis", "disease_status", "cytogenetic_risk", "pre_hsct_mrd",
                     "donor_type", "conditioning")) + 2  # fmt: skip
    assert Xa.shape[1] == 4 + n_dummies  # age, ecog, hct_ci, hct_ci_missing
    assert (Xa.filter(regex="_").drop(columns=["hct_ci", "hct_ci_missing"]) == 0).all().all()
    b = Xb.loc["B"]
    assert b["sex_F"] == 1 and b["diagnosis_ALL"] == 1 and b["disease_status_CR3plus"] == 1
    assert (
        b["donor_type_haplo"] == 1
        and b["conditioning_RIC"] == 1
        and b["pre_hsct_mrd_positive"] == 1
    )
    assert b.filter(like="diagnosis_").sum() == 1 and b.filter(like="donor_type_").sum() == 1
    assert Xb.loc["C"].filter(like="diagnosis_").isna().all()
    assert Xb.loc["C", "sex_F"] == 0


def test_extra_columns():
    patients = _patients([{"patient_id": p} for p in "ABCD"])
    patients["ferritin"] = [100.0, np.nan, 2.5, 0.0]
    patients["cmv"] = [True, "no", None, "YES"]
    patients["center"] = ["x", "y", None, "x"]
    patients["ignored"] = [1, 2, 3, 4]  # not declared: never a feature
    cohort = Cohort(
        patients,
        pd.DataFrame(columns=["patient_id", "day", "marker", "value"]),
        pd.DataFrame(columns=["patient_id", "day", "event"]),
        extra_columns={"ferritin": "number", "cmv": "bool", "center": "string"},
    )
    X = build_features(cohort, 60, ["extra"])
    assert sorted(X.columns) == ["extra_center_x", "extra_center_y", "extra_cmv", "extra_ferritin"]
    np.testing.assert_array_equal(X["extra_ferritin"], [100.0, NAN, 2.5, 0.0])
    np.testing.assert_array_equal(X["extra_cmv"], [1.0, 0.0, NAN, 1.0])
    np.testing.assert_array_equal(X["extra_center_x"], [1.0, 0.0, NAN, 1.0])
    np.testing.assert_array_equal(X["extra_center_y"], [0.0, 1.0, NAN, 0.0])


def test_arm_column_absent():
    patients = _patients([{"patient_id": "A"}]).drop(columns="arm")
    cohort = Cohort(patients, pd.DataFrame(columns=["patient_id", "day", "marker", "value"]),
                    pd.DataFrame(columns=["patient_id", "day", "event"]))  # fmt: skip
    assert np.isnan(build_features(cohort, 60, ["arm"])["arm"].iloc[0])


def test_registry_names_groups_and_errors(tiny):
    assert set(DEFAULT_FEATURES) <= set(FEATURES)
    for name, fn in FEATURES.items():
        assert fn.__name__ == name and fn.__doc__ and fn.__doc__.strip()
    for members in FEATURE_GROUPS.values():
        assert members and set(members) <= set(FEATURES)
    assert resolve_features(["mrd_mfc", "mrd_mfc_peak"]) == list(FEATURE_GROUPS["mrd_mfc"])
    assert resolve_features("arm") == ["arm"]
    with pytest.raises(ConfigError) as err:
        resolve_features(["baseline", "mrd_slope"])
    assert "'mrd_slope'" in str(err.value) and "mrd_mfc_log_slope" in str(err.value)
    with pytest.raises(ConfigError):
        build_features(tiny, 60, ["nonsense"])
    X = build_features(tiny, 60, ["wt1_peak"])
    assert list(X.columns) == ["wt1_peak", "wt1_missing"]


def test_every_feature_returns_aligned_float_columns(tiny):
    ctx = FeatureContext.at_landmark(tiny, 60)
    seen: set[str] = set()
    for name, fn in FEATURES.items():
        out = fn(ctx)
        assert out.index.equals(ctx.index), name
        assert all(pd.api.types.is_float_dtype(t) for t in out.dtypes), name
        assert len(out.columns) >= 1 or name in ("extra", "extra_markers", "extra_events")
        seen |= set(out.columns)
    X = build_features(tiny, 60, list(FEATURES))
    assert X.columns.is_unique and set(X.columns) == seen
    # a missing marker is never silently zero: every NaN value column has a missing flag
    for prefix in ("mrd_mfc", "wt1", "chimerism"):
        flagged = X[f"{prefix}_missing"] == 1
        assert X.loc[flagged, f"{prefix}_latest"].isna().all()
        assert X.loc[~flagged, f"{prefix}_latest"].notna().all()


def test_context_is_cut_at_the_landmark(tiny):
    ctx = FeatureContext.at_landmark(tiny, 60)
    assert ctx.measurements["day"].max() <= 60 and ctx.events["day"].max() <= 60
    assert len(ctx.measurements) == (tiny.measurements["day"] <= 60).sum()
    assert len(ctx.patients) == 3  # no at-risk filtering here


def test_empty_cohort_tables():
    patients = _patients([{"patient_id": "A"}])
    cohort = Cohort(patients, pd.DataFrame(columns=["patient_id", "day", "marker", "value"]),
                    pd.DataFrame(columns=["patient_id", "day", "event", "grade"]))  # fmt: skip
    X = build_features(cohort, 60, list(FEATURES))
    assert X.shape[0] == 1
    assert X[["mrd_mfc_missing", "wt1_missing", "chimerism_missing"]].eq(1).all(axis=None)
    assert X["sorafenib_days"].iloc[0] == 0 and X["agvhd_max_grade"].iloc[0] == 0
