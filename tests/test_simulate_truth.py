"""The simulator's truth at randomization: calibration, truth = generating process, the
oracle's ceiling, and where the default (mrd_driven) scenario puts the benefit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from relapse_ml.data import contract as C
from relapse_ml.data.outcome import derive_outcome
from relapse_ml.simulate import SimulatedTrial, simulate_trial
from tests._helpers_simulate import (
    TAU,
    L,
    _states_at_randomization,
    brute_aalen_johansen,
    landmark_outcome,
)


def mrd_at_landmark(trial: SimulatedTrial, landmark=L) -> pd.Series:
    """Last MFC-MRD value on or before the landmark (NaN without one)."""
    m = trial.measurements
    m = m[(m["marker"] == "mrd_mfc") & (m["day"] <= landmark)].sort_values("day")
    return m.groupby("patient_id")["value"].last()


# ---- fixture: the default scenario at n = 20,000 ------------------------------------
@pytest.fixture(scope="module")
def big() -> SimulatedTrial:
    """Default scenario, n = 20,000 randomized, screened candidates included.

    32 truth draws: the tests on it average the truth over thousands of patients, whose
    Monte Carlo errors are independent, so fewer draws per patient suffice.
    """
    return simulate_trial(20_000, seed=11, screen_failures=True, truth_draws=32)


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


# ---- the default scenario: benefit where MRD is detectable ---------------------------
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
