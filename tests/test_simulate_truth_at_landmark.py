"""The simulator's truth at later landmarks: given the latent state at L and the arm received."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from relapse_ml.errors import RelapseMLError
from relapse_ml.simulate import simulate_trial
from tests._helpers_simulate import _states_at_randomization, brute_aalen_johansen, landmark_outcome

H = 365


@pytest.fixture(scope="module")
def trial():
    return simulate_trial(3000, seed=17, horizon_days=H, truth_draws=16,
                          truth_landmarks=[90, 180])


def _own_arm_state(n=300, seed=9):
    from relapse_ml.simulate.disease import start_drug

    kin, st, scen, P = _states_at_randomization(n, seed)
    arm = np.random.default_rng(seed).random(len(kin)) < 0.5
    own = st.take(np.arange(len(st)))
    start_drug(own, kin, arm, P)
    return kin, st, own, arm, scen, P


def test_at_randomization_it_is_the_existing_truth_under_the_arm_received():
    """Started at the randomization node with the drug just begun, the landmark truth is the
    existing truth of the arm received: with the same random numbers exactly, with fresh
    ones within the quasi-Monte Carlo error."""
    from relapse_ml.simulate.params import PRE_STEPS
    from relapse_ml.simulate.truth import landmark_truth, truth_at_landmark

    kin, st, own, arm, scen, P = _own_arm_state()
    node = np.full(len(kin), PRE_STEPS)
    both = landmark_truth(kin, st, scen, P, 60, H, 32, np.random.default_rng(3), tolerance=-1.0)
    at = truth_at_landmark(kin, own, node, scen, P, 60, H, 32, np.random.default_rng(3),
                           tolerance=-1.0)
    for col, c, s in (("risk", "risk_control", "risk_sorafenib"),
                      ("rfs_risk", "rfs_risk_control", "rfs_risk_sorafenib")):
        expected = np.where(arm, both[s], both[c])
        np.testing.assert_allclose(at[col], expected, atol=1e-12)
    fresh = truth_at_landmark(kin, own, node, scen, P, 60, H, 64, np.random.default_rng(4))
    expected = np.where(arm, both["risk_sorafenib"], both["risk_control"])
    diff = fresh["risk"] - expected
    assert abs(diff.mean()) < 0.01
    assert np.sqrt(np.mean(diff**2)) < 0.04
    assert abs(diff[arm].mean()) < 0.015  # the arm is used: the benefit is larger than this
    assert np.mean(both["benefit"][arm]) > 0.02


def test_higher_latent_burden_means_higher_truth():
    """Raising the latent burden at the start node raises every patient's truth (same
    random numbers), and across patients the truth at L follows the burden at L."""
    from relapse_ml.simulate.params import PRE_STEPS
    from relapse_ml.simulate.truth import truth_at_landmark

    kin, _, own, _, scen, P = _own_arm_state(200, seed=5)
    node = np.full(len(kin), PRE_STEPS)
    high = own.take(np.arange(len(own)))
    high.x = np.minimum(own.x + 1.5, 0.0)
    high.top = np.maximum(own.top, high.x)
    high.erad = np.zeros_like(own.erad)
    base = truth_at_landmark(kin, own, node, scen, P, 90, H, 32, np.random.default_rng(1))
    more = truth_at_landmark(kin, high, node, scen, P, 90, H, 32, np.random.default_rng(1))
    assert np.mean(more["risk"] >= base["risk"] - 1e-9) > 0.97
    assert more["risk"].mean() > base["risk"].mean() + 0.1


def test_truth_at_landmark_table(trial):
    t = trial.truth_at_landmarks
    assert set(t["landmark_day"]) == {90.0, 180.0}
    assert trial.meta["truth"]["landmarks"] == [90.0, 180.0]
    assert t["risk"].between(0, 1).all() and (t["rfs_risk"] >= t["risk"] - 1e-12).all()
    assert not t.duplicated(["patient_id", "landmark_day"]).any()
    arm = trial.patients.set_index("patient_id")["arm"]
    assert (t["arm"].to_numpy() == arm.reindex(t["patient_id"]).to_numpy()).all()
    for day, g in t.groupby("landmark_day"):
        rho = spearmanr(g["burden_landmark"], g["risk"]).statistic
        assert rho > 0.5, (day, rho)
        # the rows are exactly the randomized patients alive and relapse-free at L
        at_risk = trial.truth[trial.truth["screen_reason"] == "randomized"]
        assert len(g) <= len(at_risk)
    fewer_later = t.groupby("landmark_day").size()
    assert fewer_later[180.0] < fewer_later[90.0]


def test_truth_at_landmark_is_a_proper_conditional(trial):
    """Averaged over the patients event-free at L, the truth at L is the Aalen-Johansen
    incidence of relapse (and of relapse or death) in (L, L + H] of the sampled outcomes,
    overall and by arm."""
    t = trial.truth_at_landmarks.set_index(["landmark_day", "patient_id"])
    for day in (90.0, 180.0):
        lo = landmark_outcome(trial, landmark=day, horizon=H)
        truth = t.loc[day].reindex(lo.index)
        assert truth["risk"].notna().all()
        for arm, g in [("all", lo), *lo.groupby("arm")]:
            tr = truth.loc[g.index]
            aj = brute_aalen_johansen(g["t"], g["e"], H)
            aj_any = brute_aalen_johansen(g["t"], np.where(g["e"] > 0, 1, 0), H)
            n = len(g)
            tol = 3.5 * np.sqrt(aj * (1 - aj) / n) + 0.005
            assert abs(tr["risk"].mean() - aj) < tol, (day, arm, tr["risk"].mean(), aj)
            tol = 3.5 * np.sqrt(aj_any * (1 - aj_any) / n) + 0.005
            assert abs(tr["rfs_risk"].mean() - aj_any) < tol, (day, arm)


def test_truth_landmarks_checked_and_written(tmp_path):
    with pytest.raises(RelapseMLError, match="truth landmark"):
        simulate_trial(20, seed=1, truth_landmarks=[30])
    with pytest.raises(RelapseMLError, match="truth landmark"):
        simulate_trial(20, seed=1, truth_landmarks=[3500])
    sim = simulate_trial(40, seed=1, truth_draws=4, truth_landmarks=[120])
    sim.write(tmp_path / "c")
    back = pd.read_csv(tmp_path / "c" / "truth_at_landmarks.csv")
    assert len(back) == len(sim.truth_at_landmarks) > 0
    plain = simulate_trial(40, seed=1, truth_draws=4)
    assert plain.truth_at_landmarks.empty
    # asking for later truths changes nothing else
    pd.testing.assert_frame_equal(plain.truth, sim.truth)
    pd.testing.assert_frame_equal(plain.measurements, sim.measurements)
