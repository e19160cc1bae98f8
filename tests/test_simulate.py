"""Tests of the trial simulator: calibration, truth = generating process, contract, scenarios."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from relapse_ml.data import contract as C
from relapse_ml.data.outcome import derive_outcome
from relapse_ml.errors import RelapseMLError
from relapse_ml.simulate import SCENARIOS, ScenarioError, SimulatedTrial, simulate_trial

L, TAU = 60, 730


# ---- independent helpers -------------------------------------------------------------
def brute_aalen_johansen(time, event, t_eval, cause=1) -> float:
    """Cumulative incidence of ``cause`` at ``t_eval`` by a plain loop over event times."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    surv, cif = 1.0, 0.0
    for t in np.unique(time[event > 0]):
        if t > t_eval:
            break
        at_risk = np.sum(time >= t)
        d_cause = np.sum((time == t) & (event == cause))
        d_any = np.sum((time == t) & (event > 0))
        cif += surv * d_cause / at_risk
        surv *= 1.0 - d_any / at_risk
    return cif


def landmark_outcome(trial: SimulatedTrial, landmark=L, horizon=TAU) -> pd.DataFrame:
    """Per randomized patient at risk at the landmark: arm, time from L (censored at tau), event."""
    out = derive_outcome(trial.patients, trial.measurements, trial.events)
    p = trial.patients.set_index("patient_id")
    df = out.join(p[["arm", "age", "hct_ci"]])
    df = df[df["arm"].notna() & (df["time"] > landmark)].copy()
    df["t"] = df["time"] - landmark
    df["e"] = np.where(df["t"] > horizon, 0, df["event"])
    df["t"] = np.minimum(df["t"], horizon + 1)
    return df


def mrd_at_landmark(trial: SimulatedTrial, landmark=L) -> pd.Series:
    """Last MFC-MRD value on or before the landmark (NaN without one)."""
    m = trial.measurements
    m = m[(m["marker"] == "mrd_mfc") & (m["day"] <= landmark)].sort_values("day")
    return m.groupby("patient_id")["value"].last()


# ---- fixtures: a few simulations shared by the tests ---------------------------------
@pytest.fixture(scope="module")
def big() -> SimulatedTrial:
    """Default scenario, n = 20,000 randomized, screened candidates included.

    32 truth draws: the tests on it average the truth over thousands of patients, whose
    Monte Carlo errors are independent, so fewer draws per patient suffice.
    """
    return simulate_trial(20_000, seed=11, screen_failures=True, truth_draws=32)


@pytest.fixture(scope="module")
def small() -> SimulatedTrial:
    return simulate_trial(300, seed=3, screen_failures=True)


@pytest.fixture(scope="module")
def by_scenario() -> dict[str, SimulatedTrial]:
    return {
        name: simulate_trial(6000, seed=21, scenario=name, truth_draws=16)
        for name in ("null", "uniform", "harm_subgroup")
    }


# ---- the independent AJ itself is right --------------------------------------------
def test_brute_force_aj_matches_hand_calculation():
    # times 1..5: relapse at 1, death at 2, censored at 3, relapse at 4 and 4, censored 5
    time = [1, 2, 3, 4, 4, 5]
    event = [1, 2, 0, 1, 1, 0]
    # S: 1 -> 5/6 -> 5/6*4/5=2/3; relapse CIF: 1/6 + (2/3)*(2/3) at t=4
    assert brute_aalen_johansen(time, event, 4.0) == pytest.approx(1 / 6 + (2 / 3) * (2 / 3))
    assert brute_aalen_johansen(time, event, 4.0, cause=2) == pytest.approx((5 / 6) * (1 / 5))


# ---- calibration to the published figures (default scenario, n = 20,000) -------------
def test_calibration_published_ranges(big):
    lo = landmark_outcome(big)
    ctl = lo[lo["arm"] == "control"]
    # control arm, from the landmark (day 60) over 2 years; NRM competes with relapse
    relapse = brute_aalen_johansen(ctl["t"], ctl["e"], TAU, cause=1)
    nrm = brute_aalen_johansen(ctl["t"], ctl["e"], TAU, cause=2)
    assert 0.20 <= relapse <= 0.35, relapse
    assert 0.08 <= nrm <= 0.20, nrm

    # grade II-IV aGVHD by day 100 after transplant among all transplanted candidates
    # (screen failures are followed to their screening day; relapse and death compete)
    ev, p = big.events, big.patients
    out = derive_outcome(p, big.measurements, ev)
    onset = ev[(ev["event"] == "agvhd") & (ev["grade"] >= 2)].groupby("patient_id")["day"].min()
    onset = onset.reindex(out.index).to_numpy()
    t = np.where(np.isnan(onset), np.maximum(out["time"].to_numpy(), 0.5), onset)
    e = np.where(~np.isnan(onset), 1, np.where(out["event"].to_numpy() > 0, 2, 0))
    agvhd = brute_aalen_johansen(t, e, 100.0)
    assert 0.25 <= agvhd <= 0.40, agvhd

    # MRD positivity and mixed chimerism at day 60 (randomized patients, a sample on day 50-70)
    rand_ids = set(p.loc[p["arm"].notna(), "patient_id"])
    m = big.measurements
    d60 = m[(m["day"] >= 50) & (m["day"] <= 70) & m["patient_id"].isin(rand_ids)]
    mrd = d60[d60["marker"] == "mrd_mfc"].groupby("patient_id")["value"].first()
    chim = d60[d60["marker"] == "donor_chimerism"].groupby("patient_id")["value"].first()
    assert len(mrd) > 15_000 and len(chim) > 15_000
    assert 0.10 <= (mrd > 0).mean() <= 0.30, (mrd > 0).mean()
    assert 0.10 <= (chim < C.MIXED_CHIMERISM_BELOW).mean() <= 0.30, (chim < 95).mean()


# ---- the truth is the generating process --------------------------------------------
def test_mean_truth_agrees_with_empirical_incidence_by_arm(big):
    lo = landmark_outcome(big)
    truth = big.truth.set_index("patient_id")
    assert truth.loc[lo.index, "at_risk_at_landmark"].all()
    for arm, col, rfs_col in (
        ("control", "risk_control", "rfs_risk_control"),
        ("sorafenib", "risk_sorafenib", "rfs_risk_sorafenib"),
    ):
        g = lo[lo["arm"] == arm]
        n = len(g)
        emp = brute_aalen_johansen(g["t"], g["e"], TAU, cause=1)
        true = truth.loc[g.index, col].mean()
        tol = 4 * np.sqrt(emp * (1 - emp) / n) + 0.005
        assert abs(emp - true) < tol, (arm, emp, true, tol)
        emp_any = emp + brute_aalen_johansen(g["t"], g["e"], TAU, cause=2)
        true_any = truth.loc[g.index, rfs_col].mean()
        tol = 4 * np.sqrt(emp_any * (1 - emp_any) / n) + 0.005
        assert abs(emp_any - true_any) < tol, (arm, emp_any, true_any, tol)


def _states_at_randomization(n: int, seed: int):
    """Kinetics and latent state at randomization of ``n`` randomized patients (internal API)."""
    from relapse_ml.simulate import trial as T
    from relapse_ml.simulate.disease import drug_sensitivity
    from relapse_ml.simulate.params import GeneratorParams
    from relapse_ml.simulate.scenarios import get_scenario

    P, scen = GeneratorParams(), get_scenario("mrd_driven")
    c, reason, _, _ = T._screen_until(n, seed, scen, P)
    rand = np.flatnonzero(reason == "")
    kin, st = c.kinetics.take(rand), c.state.take(rand)
    kin.sensitivity = drug_sensitivity(kin, st, scen, P)
    return kin, st, scen, P


def test_truth_monte_carlo_error_is_small():
    """Two independent randomizations of the quasi-Monte Carlo truth: their spread is the error.

    The future is random (growth drift, GVHD, drug course), so each risk is a Monte Carlo
    mean over 64 paths. Plain Monte Carlo would have a root-mean-square error of
    sqrt(mean p (1 - p) / 64) (0.04-0.06 here); the quasi-Monte Carlo estimate with its
    principal-component drift must do clearly better, and the documented accuracy (RMS
    about 0.015-0.02, the benefit smaller thanks to common random numbers) must hold.
    """
    from relapse_ml.simulate.truth import landmark_truth

    kin, st, scen, P = _states_at_randomization(800, seed=9)
    a = landmark_truth(kin, st, scen, P, L, TAU, 64, np.random.default_rng(1))
    b = landmark_truth(kin, st, scen, P, L, TAU, 64, np.random.default_rng(2))
    for col in ("risk_control", "risk_sorafenib", "benefit", "rfs_benefit"):
        err = np.abs(a[col] - b[col]) / np.sqrt(2)  # one estimate's error, in distribution
        rms = np.sqrt(np.mean(err**2))
        p = 0.5 * (a["risk_control"] + b["risk_control"])
        plain_mc = np.sqrt(np.mean(p * (1 - p)) / 64)
        assert rms < 0.6 * plain_mc, (col, rms, plain_mc)
        assert rms < 0.025, col
        assert np.quantile(err, 0.9) < 0.04, col
    assert not np.allclose(a["risk_control"], b["risk_control"])  # really two randomizations
    # the i.i.d.-formula standard error does not understate the error
    assert np.mean(np.abs(a["risk_control"] - b["risk_control"])) < 2 * np.mean(
        np.hypot(a["risk_control_se"], b["risk_control_se"])
    )


def _brute_force_patient_risks(copies=20_000, seed=5):
    """Re-run the sampled course of a few patients from randomization many times.

    Patients are picked where mistakes would show: a sizeable relapse risk with much
    competing NRM, and a large drug effect.
    """
    from scipy.special import logit

    from relapse_ml.simulate.disease import node_day, start_drug, step
    from relapse_ml.simulate.params import PRE_STEPS
    from relapse_ml.simulate.state import PATH_DRAWS, path_draws
    from relapse_ml.simulate.truth import landmark_truth

    kin, st, scen, P = _states_at_randomization(400, seed)
    rough = landmark_truth(kin, st, scen, P, L, TAU, 16, np.random.default_rng(0))
    mid = (rough["risk_control"] > 0.15) & (rough["risk_control"] < 0.8)
    competing = np.where(mid, rough["rfs_risk_control"] - rough["risk_control"], -1)
    pick = np.unique(
        np.concatenate([np.argsort(-competing)[:3], np.argsort(-rough["benefit"])[:2]])
    )
    truth = landmark_truth(
        kin.take(pick), st.take(pick), scen, P, L, TAU, 512, np.random.default_rng(1), tolerance=0.0
    )

    rng = np.random.default_rng(seed)
    rows = np.repeat(pick, copies)
    results = {}
    for on in (False, True):
        k, s = kin.take(rows), st.take(rows)
        m = len(rows)
        for name, v in path_draws(
            {name: rng.random(m) for name in PATH_DRAWS if name != "e_esc"}
        ).items():
            setattr(s, name, v)
        for name in ("h_nrm", "h_ag", "h_cg", "h_red", "h_tox", "h_oth"):
            setattr(s, name, np.zeros(m))
        # a fresh relapse threshold above the running maximum (relapse-free at R)
        f_top = 1.0 / (1.0 + np.exp(-(s.top - P.threshold_mean) / P.threshold_scale))
        u = f_top + (1.0 - f_top) * rng.random(m)
        s.threshold = P.threshold_mean + P.threshold_scale * logit(u)
        s.e_nrm = rng.exponential(1.0, m)
        s.t_relapse = np.full(m, np.nan)
        s.t_nrm = np.full(m, np.nan)
        start_drug(s, k, np.full(m, on), P)
        kk = PRE_STEPS
        while not np.all(node_day(k.rand_day, kk) >= L + TAU):
            # the growth drift: plain i.i.d. normals per step, as in the sampled trial
            step(k, s, kk, scen, P, sample=True, z=rng.standard_normal(m))
            kk += 1
        free_at_l = ~(s.t_relapse <= L) & ~(s.t_nrm <= L)
        rel = free_at_l & (s.t_relapse <= L + TAU)
        any_event = rel | (free_at_l & (s.t_nrm <= L + TAU))
        n = free_at_l.reshape(-1, copies).sum(1)
        results[on] = (
            rel.reshape(-1, copies).sum(1) / n,
            any_event.reshape(-1, copies).sum(1) / n,
            n,
        )
    return truth, results


def test_truth_equals_brute_force_sampling_of_the_same_patients():
    truth, results = _brute_force_patient_risks()
    for on, arm in ((False, "control"), (True, "sorafenib")):
        rel, any_event, n = results[on]
        for emp, col in ((rel, f"risk_{arm}"), (any_event, f"rfs_risk_{arm}")):
            # both sides are Monte Carlo estimates: the brute force's binomial error and the
            # truth's (512 quasi-random paths; its i.i.d.-formula SE, which overstates it)
            se_truth = truth.get(f"{col}_se", truth[f"risk_{arm}_se"])
            var = np.maximum(emp * (1 - emp), 0.01) / n + se_truth**2
            tol = 4 * np.sqrt(var) + 0.003
            assert np.all(np.abs(emp - truth[col]) < tol), (col, emp, truth[col], tol)
    # the picked patients have real relapse risk, competing NRM and a drug effect
    assert truth["risk_control"].max() > 0.3
    assert (truth["rfs_risk_control"] - truth["risk_control"]).max() > 0.1
    assert truth["benefit"].max() > 0.1


def test_truth_ranges_and_definitions(big):
    t = big.truth
    lo = landmark_outcome(big)
    at = t["at_risk_at_landmark"].to_numpy()
    risk_cols = ["risk_control", "risk_sorafenib", "rfs_risk_control", "rfs_risk_sorafenib"]
    assert t.loc[at, risk_cols].notna().all().all()
    assert t.loc[~at, risk_cols + ["benefit", "rfs_benefit"]].isna().all().all()
    vals = t.loc[at, risk_cols].to_numpy()
    assert (vals >= -1e-9).all() and (vals <= 1 + 1e-9).all()
    assert np.allclose(
        t.loc[at, "benefit"], t.loc[at, "risk_control"] - t.loc[at, "risk_sorafenib"]
    )
    assert np.allclose(
        t.loc[at, "rfs_benefit"], t.loc[at, "rfs_risk_control"] - t.loc[at, "rfs_risk_sorafenib"]
    )
    # relapse or death includes relapse
    assert (t.loc[at, "rfs_risk_control"] >= t.loc[at, "risk_control"] - 1e-9).all()
    # at risk = randomized, alive and relapse-free at the landmark (latent course): the
    # observed outcome agrees, except for the few lost to follow-up before the landmark
    at_ids = set(t.loc[at, "patient_id"])
    assert set(lo.index) <= at_ids
    out = derive_outcome(big.patients, big.measurements, big.events)
    extra = out.loc[sorted(at_ids - set(lo.index))]
    assert len(extra) < 20 and (extra["event"] == C.CENSORED).all() and (extra["time"] <= L).all()
    se_cols = ["risk_control_se", "risk_sorafenib_se", "benefit_se", "rfs_benefit_se"]
    assert (t.loc[at, se_cols] >= 0).all().all() and t.loc[at, "draws"].isin([16, 32]).all()
    assert t.loc[at, "burden_landmark"].between(-9, 2).all()


def test_truth_does_not_depend_on_scenario_for_control(by_scenario):
    """Same seed: same patients, arms and control-arm courses in every scenario."""
    a, b = by_scenario["null"], by_scenario["uniform"]
    pd.testing.assert_frame_equal(a.patients, b.patients)
    ctl = set(a.patients.loc[a.patients["arm"] == "control", "patient_id"])
    for table in ("events", "measurements"):
        ta, tb = getattr(a, table), getattr(b, table)
        pd.testing.assert_frame_equal(
            ta[ta["patient_id"].isin(ctl)].reset_index(drop=True),
            tb[tb["patient_id"].isin(ctl)].reset_index(drop=True),
        )
    ta, tb = a.truth.set_index("patient_id"), b.truth.set_index("patient_id")
    both = ta["at_risk_at_landmark"] & tb["at_risk_at_landmark"]
    diff = (ta["risk_control"] - tb["risk_control"])[both].abs()
    se = np.hypot(ta["risk_control_se"], tb["risk_control_se"])[both]
    assert (diff <= 4 * se + 1e-9).all()


def brute_wolbers_c(time, event, risk, tau) -> float:
    """Wolbers' C for relapse truncated at ``tau``: a loop over cases (ties in risk count 1/2)."""
    time, event, risk = (np.asarray(v, float) for v in (time, event, risk))
    num = den = 0.0
    for i in np.flatnonzero((event == 1) & (time <= tau)):
        # j known relapse-free at T_i: still event-free after T_i, or died of NRM by T_i
        comp = (time > time[i]) | ((event == 2) & (time <= time[i]))
        num += np.sum(risk[i] > risk[comp]) + 0.5 * np.sum(risk[i] == risk[comp])
        den += comp.sum()
    return num / den


def test_oracle_is_a_realistic_ceiling():
    """The future is genuinely random: the oracle ranks well but far from perfectly.

    Published relapse models after transplant reach C 0.61-0.71; an oracle that knows the
    latent state should be clearly better, but not near 1, and its risks must be spread
    out rather than piled at 0 and 1. The observed MRD at the landmark stays informative.
    """
    from relapse_ml.evaluation import concordance_index_wolbers
    from relapse_ml.landmark import landmark_dataset

    trial = simulate_trial(2000, seed=4, truth_draws=32)
    lm = landmark_dataset(trial.to_cohort(), L, TAU, features=[])
    truth = trial.truth.set_index("patient_id").loc[lm.patient_id]
    arm = trial.patients.set_index("patient_id").loc[lm.patient_id, "arm"].to_numpy()
    own = np.where(arm == "sorafenib", truth["risk_sorafenib"], truth["risk_control"])
    c = concordance_index_wolbers(lm.time, lm.event, own, tau=TAU)
    # the library and the loop may differ only in how ties in time are broken
    assert c == pytest.approx(brute_wolbers_c(lm.time, lm.event, own, TAU), abs=1e-3)
    assert 0.78 <= c <= 0.92, c

    risk = truth["risk_control"].to_numpy()
    assert np.mean(risk < 0.02) < 0.40, np.mean(risk < 0.02)
    assert np.mean(risk > 0.90) < 0.10, np.mean(risk > 0.90)
    q25, q75 = np.quantile(risk, [0.25, 0.75])
    assert q75 - q25 > 0.2, (q25, q75)

    mrd = mrd_at_landmark(trial).reindex(lm.patient_id).fillna(0.0).to_numpy()
    c_mrd = brute_wolbers_c(lm.time, lm.event, mrd, TAU)
    assert 0.55 < c_mrd < c - 0.1, (c_mrd, c)


# ---- scenarios ----------------------------------------------------------------------
def test_null_scenario_has_no_benefit(by_scenario):
    t = by_scenario["null"].truth
    at = t["at_risk_at_landmark"]
    assert abs(t.loc[at, "benefit"].mean()) < 1e-9
    assert t.loc[at, "benefit"].abs().max() < 1e-9
    assert abs(t.loc[at, "rfs_benefit"].mean()) < 1e-9
    lo = landmark_outcome(by_scenario["null"])
    inc = {a: brute_aalen_johansen(g["t"], g["e"], TAU) for a, g in lo.groupby("arm")}
    se = np.sqrt(0.25 * 0.75 / (len(lo) / 2) * 2)
    assert abs(inc["control"] - inc["sorafenib"]) < 4 * se


def test_uniform_scenario_relapse_hr_about_0_6(by_scenario):
    from lifelines import CoxPHFitter

    trial = by_scenario["uniform"]
    t = trial.truth
    assert t.loc[t["at_risk_at_landmark"], "benefit"].mean() > 0.03
    lo = landmark_outcome(trial)
    df = pd.DataFrame(
        {
            "T": lo["t"],
            "E": (lo["e"] == 1).astype(int),
            "sor": (lo["arm"] == "sorafenib").astype(float),
        }
    )
    hr = float(np.exp(CoxPHFitter().fit(df, "T", "E").params_["sor"]))
    assert 0.45 <= hr <= 0.78, hr


def test_mrd_driven_benefit_concentrates_in_detectable_disease(big):
    t = big.truth.set_index("patient_id")
    t = t[t["at_risk_at_landmark"]]
    mrd = mrd_at_landmark(big).reindex(t.index)
    have = mrd.notna()
    pos = mrd[have] > 0
    b = t.loc[have, "benefit"]
    assert b[pos].mean() > 3 * b[~pos].mean()
    assert b[~pos].mean() < 0.08
    rho = spearmanr(b, mrd[have]).statistic
    assert rho > 0.2, rho


def test_harm_subgroup_has_net_harm_in_old_or_comorbid(by_scenario):
    trial = by_scenario["harm_subgroup"]
    t = trial.truth.set_index("patient_id")
    t = t[t["at_risk_at_landmark"]]
    p = trial.patients.set_index("patient_id").loc[t.index]
    harm = (p["age"] >= 55) | (p["hct_ci"] >= 3)
    assert harm.sum() > 200
    assert t.loc[harm, "rfs_benefit"].mean() < 0
    assert t.loc[~harm, "rfs_benefit"].mean() > 0
    assert t.loc[harm, "benefit"].mean() > 0  # relapse itself still benefits


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


def test_cytogenetics_driven_benefit_only_where_the_recorded_level_says():
    """The positive control for the benefit analyses: the same patients as every scenario,
    a true benefit of exactly 0 outside adverse cytogenetics and a clear one inside it."""
    t = simulate_trial(600, seed=5, scenario="cytogenetics_driven")
    u = simulate_trial(600, seed=5, scenario="null")
    pd.testing.assert_frame_equal(t.patients, u.patients)
    d = t.truth.merge(t.patients[["patient_id", "cytogenetic_risk", "arm"]], on="patient_id")
    d = d[d["at_risk_at_landmark"] & d["arm"].notna()]
    adverse = d["cytogenetic_risk"] == "adverse"
    assert adverse.sum() > 100 and (~adverse).sum() > 300
    assert (d.loc[~adverse, "benefit"] == 0).all()
    assert d.loc[adverse, "benefit"].mean() > 0.1
    with pytest.raises(ScenarioError, match="responder_cytogenetics 'poor'"):
        simulate_trial(10, scenario="uniform", effect={"responder_cytogenetics": "poor"})


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
