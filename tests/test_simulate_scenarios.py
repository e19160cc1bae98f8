"""The simulator's scenarios: same patients and control arm in each, no benefit under the
null, HR about 0.6 when uniform, harm in a subgroup, benefit only in adverse cytogenetics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.simulate import ScenarioError, SimulatedTrial, simulate_trial
from tests._helpers_simulate import TAU, brute_aalen_johansen, landmark_outcome


@pytest.fixture(scope="module")
def by_scenario() -> dict[str, SimulatedTrial]:
    return {
        name: simulate_trial(6000, seed=21, scenario=name, truth_draws=16)
        for name in ("null", "uniform", "harm_subgroup")
    }


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
