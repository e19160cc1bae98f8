"""Prediction intervals of each patient's own benefit (`benefit.prediction`): the widening,
the PATH variance bound, and coverage of a known individual truth on a small trial."""

from __future__ import annotations

import numpy as np
import pytest

from relapse_ml.benefit import prediction as PR
from tests.test_benefit_yardstick import SPECS, TAU, cfg_with, synthetic


def test_widen_adds_the_unexplained_spread_to_each_side():
    est, lo, hi = np.array([0.1, 0.0]), np.array([0.07, -0.04]), np.array([0.15, 0.01])
    z = 1.959963984540054
    new_lo, new_hi = PR.widen(est, lo, hi, sigma2=0.02**2, level=0.95)
    np.testing.assert_allclose(new_lo, est - np.sqrt((est - lo) ** 2 + (z * 0.02) ** 2))
    np.testing.assert_allclose(new_hi, est + np.sqrt((hi - est) ** 2 + (z * 0.02) ** 2))
    same = PR.widen(est, lo, hi, sigma2=0.0, level=0.95)
    np.testing.assert_allclose(same[0], lo) and np.testing.assert_allclose(same[1], hi)


def test_path_bound_by_hand_without_censoring():
    # no censoring and no competing event before tau: the Aalen-Johansen incidences are the
    # proportions, their variances binomial
    rng = np.random.default_rng(3)
    n = 4000
    arm = np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(int)
    p = np.where(arm == 0, 0.4, 0.3)
    event = (rng.uniform(size=n) < p).astype(int)
    time = np.where(event == 1, rng.uniform(1, 500, n), 800.0)
    b = PR.path_variance_bound(time, event, arm, 700.0, "relapse")
    p0, p1 = event[arm == 0].mean(), event[arm == 1].mean()
    se2 = p0 * (1 - p0) / (n // 2) + p1 * (1 - p1) / (n // 2)
    assert b["p0"] == pytest.approx(p0)
    assert b["average"] == pytest.approx(p0 - p1)
    assert b["v_path"] == pytest.approx(((p0 - p1) ** 2 + se2) * (1 - p0) / p0, rel=0.01)


def _fake_reported(benefits: dict, kinds: dict, reported: str):
    """A `reported.Reported` stand-in: cross-fitted estimates and a one-learner choice."""
    from types import SimpleNamespace as NS

    est = {lab: NS(kind=kinds[lab], benefit={o: b for o in ("relapse", "rfs")})
           for lab, b in benefits.items()}
    choice = NS(offset=0.0, weights={reported: 1.0})
    return NS(estimates=est, choices={"relapse": choice, "rfs": choice})


@pytest.mark.parametrize("modifier_found", [0.0, 0.05])
def test_unexplained_variance_adds_effect_modification_beyond_the_path_bound(modifier_found):
    # by hand: D_L = mean (phi - const)^2 - mean (phi - L)^2; the PATH bound from the data;
    # heterogeneity found beyond the best risk-following learner is added to V_path
    rng = np.random.default_rng(5)
    n = 3000
    arm = rng.integers(0, 2, n)
    event = (rng.uniform(size=n) < np.where(arm == 0, 0.4, 0.3)).astype(int)
    data = type("D", (), dict(time=np.where(event == 1, 100.0, 800.0), event=event, arm=arm,
                              tau=700.0))
    risk = rng.uniform(0.1, 0.6, n)
    modifier = rng.integers(0, 2, n)
    truth = 0.25 * risk + modifier_found * (2 * modifier - 1)
    phi = truth + rng.normal(0, 0.2, n)  # DR scores: the truth plus noise
    benefits = {"constant": np.full(n, truth.mean()), "risk_path": 0.25 * risk,
                "s_fg": truth + rng.normal(0, 0.02, n)}
    kinds = {"constant": "constant", "risk_path": "risk", "s_fg": "s"}
    rep = _fake_reported(benefits, kinds, "risk_path")
    out = PR.unexplained_variance(rep, {o: {"phi": phi} for o in ("relapse", "rfs")}, data,
                                  ["risk_path"])["relapse"]
    loss = {lab: np.mean((phi - b) ** 2) for lab, b in benefits.items()}
    d = {lab: loss["constant"] - v for lab, v in loss.items()}
    v_path = PR.path_variance_bound(data.time, event, arm, 700.0, "relapse")["v_path"]
    beyond = max(0.0, max(d.values()) - max(0.0, d["risk_path"], d["constant"]))
    v_total = max(v_path + beyond, max(d.values()))
    assert out["beyond_path"] == pytest.approx(beyond, rel=1e-9, abs=1e-12)
    assert out["sigma2"] == pytest.approx(max(0.0, v_total - d["risk_path"]), rel=1e-9)
    if modifier_found:  # a modifier of +-0.05 adds about its variance, 0.0025
        assert 0.0015 < out["beyond_path"] < 0.0035
        assert out["sigma2"] > max(v_path, max(d.values())) - d["risk_path"] + 0.001
    # never narrower than the stop-22 rule max(V_path, best D_L)
    assert out["sigma2"] >= max(0.0, max(v_path, max(d.values())) - d["risk_path"]) - 1e-12
    # a learner not declared risk-following finds what PATH explains: nothing is added
    # beyond the bound unless it beats the risk-following ones
    assert out["explained_by_risk"] == pytest.approx(max(0.0, d["risk_path"], d["constant"]))


def true_benefit(data, effect, modifier):
    """Relapse risk at TAU under control minus under sorafenib (the `synthetic` trial's
    exponential cause-specific hazards; censoring does not enter the truth)."""
    x1, x2 = data.X["x1"].to_numpy(), data.X["x2"].to_numpy()
    l2 = 1 / 2500

    def risk(a):
        l1 = np.exp(0.5 * x2 - a * (effect + modifier * x1)) / 900
        return l1 / (l1 + l2) * (1 - np.exp(-(l1 + l2) * TAU))

    return risk(0) - risk(1)


def test_prediction_intervals_cover_each_patients_own_benefit():
    from relapse_ml.benefit.individual import reported_benefit

    data = synthetic(n=500, seed=11, effect=0.6)  # benefit varies with the baseline risk
    truth = true_benefit(data, 0.6, 0.0)
    cov = {}
    for prediction in (False, True):
        cfg = cfg_with(
            specs=SPECS,
            intervals={"n_boot": 12, "n_folds": 3, "n_jobs": 1, "prediction": prediction},
        )
        frame, rep, info = reported_benefit(data, cfg)
        lo, hi = frame["benefit_relapse_low"], frame["benefit_relapse_high"]
        assert np.isfinite(lo).all() and np.isfinite(hi).all()
        cov[prediction] = float(np.mean((lo <= truth) & (truth <= hi)))
    # the estimate's own interval covers the average, not the patients; the prediction
    # interval, widened by the unexplained heterogeneity, covers most patients' own benefit
    assert cov[False] < 0.8
    assert cov[True] >= 0.9
    assert info["unexplained"]["relapse"]["sigma2"] > 0


def test_truth_coverage_is_missing_without_intervals_and_counted_with_them():
    """Evaluation against a simulation's truth: without a bootstrap (intervals all NaN) the
    coverage is missing, not 0; with intervals it is the share of patients covered."""
    import pandas as pd

    from relapse_ml.benefit.individual import reported_truth_rows
    from tests.test_benefit_yardstick import synthetic

    data = synthetic(n=200, seed=1, effect=0.5)
    true = np.linspace(-0.1, 0.3, data.n)
    truth = pd.DataFrame({"benefit": true, "rfs_benefit": true})
    est = {o: np.full(data.n, 0.1) for o in ("relapse", "rfs")}
    nan = {o: np.full(data.n, np.nan) for o in est}
    rows = pd.DataFrame(reported_truth_rows(est, nan, dict(nan), data, truth))
    cov = rows[(rows.learner == "reported") & (rows.metric == "truth_coverage")]
    assert len(cov) == 2 and cov["value"].isna().all()
    lo = {o: np.full(data.n, 0.0) for o in est}
    hi = {o: np.full(data.n, 0.2) for o in est}
    rows = pd.DataFrame(reported_truth_rows(est, lo, hi, data, truth))
    cov = rows[(rows.learner == "reported") & (rows.metric == "truth_coverage")]["value"]
    assert np.allclose(cov, np.mean((true >= 0.0) & (true <= 0.2)))
