"""experiments/jm_simulator.py: the joint-model simulator of issue 10's second benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tests._helpers_experiments import load_experiment


@pytest.fixture(scope="module")
def jm():
    return load_experiment("jm_simulator")


def test_cohort_directory_validates_and_reads_as_the_simulator_writes_it(jm, tmp_path):
    from relapse_ml.data.io import read_cohort

    trial = jm.simulate_jm(150, 3)
    out = trial.write(tmp_path / "jm")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, "-m", "relapse_ml.cli", "validate", str(out)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    cohort = read_cohort(out)
    assert cohort.n_patients == 150
    assert set(cohort.patients["arm"]) == {"sorafenib", "control"}
    assert cohort.patients["randomization_day"].between(45, 60).all()
    assert "jm_simulator" in cohort.source
    assert set(cohort.measurements["marker"]) == {"mrd_mfc", "wt1", "donor_chimerism"}
    # MRD below the detection limit is reported as "not detected" (0), never a small number
    mrd = cohort.measurements.query("marker == 'mrd_mfc'")["value"]
    assert (mrd == 0).any() and mrd[mrd > 0].min() >= jm.DETECTION_LIMIT
    assert {"truth.csv", "truth_at_landmarks.csv", "meta.json"} <= {p.name for p in out.iterdir()}
    assert set(trial.truth_at_landmarks["landmark_day"]) == {60.0, 180.0}


def test_no_measurement_after_relapse_death_or_last_followup(jm):
    trial = jm.simulate_jm(400, 4)
    lat = trial.latent.set_index("patient_id")
    m = trial.measurements.join(lat, on="patient_id")
    assert (m["day"] < m["t_relapse"]).all() and (m["day"] < m["t_nrm"]).all()
    assert (m["day"] <= m["obs_end"]).all()
    out = trial.to_cohort().outcome  # the contract's derivation: time = relapse / death / censoring
    last = m.groupby("patient_id")["day"].max()
    assert (last <= out.reindex(last.index)["time"]).all()


def test_relapse_cif_matches_the_closed_form_for_constant_hazards(jm):
    h1, h2, dt = np.array([[0.002], [0.01]]), np.array([[0.001], [0.0]]), 5.0
    H1, H2 = np.repeat(h1, 400, axis=1), np.repeat(h2, 400, axis=1)
    got = jm.relapse_cif(H1, H2, dt, 60.0, 790.0)
    hs = h1[:, 0] + h2[:, 0]
    want = h1[:, 0] / hs * (1 - np.exp(-hs * 730.0))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_truth_agrees_with_the_sampled_outcomes(jm):
    """Without censoring, the share relapsing in (60, 790] equals the mean true risk
    (binomial SE about 0.01 at 2,000 patients; tolerance 3.5 SE)."""
    P = replace(jm.JMParams(), accrual_min=1790.0, accrual_max=1800.0, loss_rate=1e-12)
    trial = jm.simulate_jm(2000, 5, P)
    lat = trial.latent.set_index("patient_id")
    t60 = trial.truth_at_landmarks.query("landmark_day == 60").set_index("patient_id")["risk"]
    r = lat.loc[t60.index]
    observed = ((r["t_relapse"] <= 790) & (r["t_relapse"] < r["t_nrm"])).mean()
    se = np.sqrt(observed * (1 - observed) / len(t60))
    assert abs(observed - t60.mean()) < 3.5 * se


def test_a_cox_fit_on_the_true_latent_course_recovers_alpha(jm):
    """Cause-specific Cox (lifelines' time-varying fitter) on the true m_i(t) at each 10-day
    cell: alpha 0.8 recovered within ±0.15 (about 3 SE at 1,200 patients)."""
    from lifelines import CoxTimeVaryingFitter

    P = replace(jm.JMParams(), alpha=0.8, dt=10.0, accrual_min=700.0, accrual_max=720.0)
    trial = jm.simulate_jm(1200, 6, P)
    lat = trial.latent
    pts = trial.patients
    ev = trial.events
    ag = ev[ev["event"] == "agvhd"].set_index("patient_id")
    rows = []
    for i, pid in enumerate(lat["patient_id"]):
        a, b, xb = lat.at[i, "a"], lat.at[i, "b"], lat.at[i, "x_beta"]
        t_end = min(lat.at[i, "t_relapse"], lat.at[i, "t_nrm"], lat.at[i, "obs_end"])
        rel = lat.at[i, "t_relapse"] <= min(lat.at[i, "t_nrm"], lat.at[i, "obs_end"])
        r_day = pts.at[i, "randomization_day"]
        sor = pts.at[i, "arm"] == "sorafenib"
        g_day = ag.at[pid, "day"] if pid in ag.index and ag.at[pid, "grade"] >= 2 else np.inf
        k = int(r_day // P.dt)
        start = r_day
        while start < t_end:
            stop = min((k + 1) * P.dt, t_end)
            mid = (k + 0.5) * P.dt
            rows.append((i, start, stop, a + b * mid / 365.0, b, xb, float(mid >= g_day),
                         float(sor and mid >= r_day), int(rel and stop == t_end)))
            start, k = stop, k + 1
    df = pd.DataFrame(rows, columns=["id", "start", "stop", "m", "b", "xb", "gvl", "arm", "event"])
    fit = CoxTimeVaryingFitter().fit(df, id_col="id", start_col="start", stop_col="stop",
                                     event_col="event")
    assert abs(fit.params_["m"] - 0.8) < 0.15
    assert abs(fit.params_["arm"] - P.beta_arm) < 0.3


def test_bayes_on_data_posterior_matches_the_conjugate_normal_posterior():
    """jm_diagnose.bayes_data (importance sampling) against the closed-form posterior of
    (a, b) when the only data are two detected MRD values (a linear Gaussian model)."""
    jm = load_experiment("jm_simulator")
    diag = load_experiment("jm_diagnose")
    P = jm.JMParams()
    trial = jm.simulate_jm(40, 8, P)
    pid = trial.patients["patient_id"].iloc[0]
    days, y = np.array([30.0, 60.0]), np.array([-1.5, -1.2])  # log10 MRD %, above the limit
    trial.measurements = pd.DataFrame({"patient_id": pid, "day": days, "marker": "mrd_mfc",
                                       "value": 10.0 ** y, "sample": "BM"})
    row = trial.patients.iloc[0]
    shifts = [t[row[c]] for t, c in ((jm.DISEASE_STATUS, "disease_status"),
                                     (jm.CYTOGENETICS, "cytogenetic_risk"),
                                     (jm.PRE_MRD, "pre_hsct_mrd"))]
    m0 = np.array([P.mu_a + sum(s[1] for s in shifts), P.mu_b + sum(s[2] for s in shifts)])
    Z = np.column_stack([np.ones(2), days / 365.0])
    prec = np.diag([P.sd_a ** -2, P.sd_b ** -2]) + Z.T @ Z / P.sigma_mrd ** 2
    mean = np.linalg.solve(prec, np.diag([P.sd_a ** -2, P.sd_b ** -2]) @ m0 + Z.T @ y / P.sigma_mrd ** 2)
    risk, b_post, ess = diag.bayes_data(trial, 60.0, [pid], P, K=20_000, seed=1,
                                        survival=False)
    sd_b = np.sqrt(np.linalg.inv(prec)[1, 1])
    assert abs(b_post[0] - mean[1]) < 4 * sd_b / np.sqrt(ess[0])
    assert 0.0 < risk[0] < 1.0


def test_bayes_on_data_conditions_on_being_event_free_at_the_landmark():
    """With no marker observed, the posterior of (a, b) given "event-free at L" is the prior
    reweighted by P(T > L | a, b): bayes_data's importance sampling against a 2-D
    Gauss-Hermite quadrature of the same integrals; and the conditioning matters (it moves b
    down, since a steeper course would more often have relapsed by L)."""
    jm = load_experiment("jm_simulator")
    diag = load_experiment("jm_diagnose")
    P = jm.JMParams()
    trial = jm.simulate_jm(40, 9, P)
    pid = trial.patients["patient_id"].iloc[0]
    trial.measurements = trial.measurements.iloc[:0]
    trial.events = trial.events.iloc[:0]
    L = 180.0
    risk, b_post, ess = diag.bayes_data(trial, L, [pid], P, K=40_000, seed=2)
    _, b_prior, _ = diag.bayes_data(trial, L, [pid], P, K=40_000, seed=2, survival=False)

    row = trial.patients.iloc[[0]].reset_index(drop=True)
    shifts = [t[row.at[0, c]] for t, c in ((jm.DISEASE_STATUS, "disease_status"),
                                           (jm.CYTOGENETICS, "cytogenetic_risk"),
                                           (jm.PRE_MRD, "pre_hsct_mrd"))]
    ma = P.mu_a + sum(x[1] for x in shifts)
    mb = P.mu_b + sum(x[2] for x in shifts)
    xb = sum(P.beta_scale * x[3] for x in shifts)
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)  # weight exp(-z^2 / 2)
    z1, z2 = (g.ravel() for g in np.meshgrid(nodes, nodes, indexing="ij"))
    wq = np.outer(weights, weights).ravel()
    a = ma + P.sd_a * z1
    b = mb + P.sd_b * (P.rho_ab * z1 + np.sqrt(1 - P.rho_ab ** 2) * z2)
    k = len(a)
    base = row.loc[row.index.repeat(k)].reset_index(drop=True)
    n_cells = int(np.ceil((L + float(trial.meta["horizon_days"])) / P.dt)) + 1
    h1, h2 = jm.hazards(P, {"a": a, "b": b, "x_beta": np.full(k, xb)}, base,
                        np.zeros(k), np.full(k, np.inf), np.full(k, row.at[0, "arm"] == "sorafenib"),
                        np.full(k, float(row.at[0, "randomization_day"])), n_cells)
    assert L % P.dt == 0  # the cumulative hazard at L is a whole number of grid cells
    surv = wq * np.exp(-np.cumsum((h1 + h2) * P.dt, axis=1)[:, int(L / P.dt) - 1])
    r = jm.relapse_cif(h1, h2, P.dt, L, L + float(trial.meta["horizon_days"]))
    b_quad, r_quad = surv @ b / surv.sum(), surv @ r / surv.sum()
    sd_post = np.sqrt(surv @ (b - b_quad) ** 2 / surv.sum())
    assert abs(b_post[0] - b_quad) < 4 * sd_post / np.sqrt(ess[0])
    assert abs(risk[0] - r_quad) < 0.01
    assert b_quad < b_prior[0] - 4 * sd_post / np.sqrt(ess[0])  # conditioning moved it


def test_benchmark_jm_table_pairs_every_model_with_the_careful_cox():
    bj = load_experiment("benchmark_jm")
    c = {("careful_cox", 1): 0.67, ("careful_cox", 2): 0.68, ("careful_cox", 3): 0.66,
         ("cox_traj", 1): 0.69, ("cox_traj", 2): 0.69, ("cox_traj", 3): 0.67}
    rows = [{"kind": "eval", "seed": s, "landmark": 60, "model": m, "n_train": 2500,
             "n_test": 1500, "c_index": v, "ipa": 0.1, "cal_slope_truth": 1.0,
             "rmse_truth": 0.2} for (m, s), v in c.items()]
    md = bj.render(rows)
    line = next(x for x in md.splitlines() if x.startswith("| Cox trajectory model (fitted"))
    cells = [x.strip() for x in line.split("|")]
    assert cells[2] == "0.683 ± 0.012"
    assert cells[3] == "+0.0133 ± 0.0058"  # paired: 0.02, 0.01, 0.01
    assert cells[4] == "3/3"
    assert "Cox trajectory model (fitted at L): C ≥ 0.69 at day 60 in 2/3 seeds" in md
