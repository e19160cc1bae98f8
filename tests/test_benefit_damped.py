"""The few-events rule `report.few_events: damped` (issue 9, ρ at n = 346): the trial's
average plus a fixed fraction of one learner's deviation from its own mean."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from relapse_ml.benefit import reported as RP
from relapse_ml.benefit.config import LearnerSpec
from relapse_ml.benefit.learners import make_folds
from tests.test_benefit_choice import SPECS, fake
from tests.test_benefit_yardstick import TAU, cfg_with, synthetic

RISK_SPECS = [
    LearnerSpec(kind="constant", label="constant"),
    LearnerSpec(kind="s", label="s_fg_risk", interactions=[]),
]


def test_damped_is_the_average_plus_a_fraction_of_the_learners_deviation():
    estimates, targets = fake(n=500)
    rep = {"few_events": "damped", "damped_learner": "s_key", "damped_weight": 0.25}
    from relapse_ml.benefit.config import ReportConfig

    ch = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05, n_events=80,
                   min_events=200, report=ReportConfig(**rep))
    assert ch.method == "damped" and ch.weights == {"s_key": 1.0} and ch.slope == 0.25
    assert ch.kind == "individual" and ch.reason.startswith("80 events < 200")
    learner = estimates["s_key"].benefit["relapse"]
    RP.finish_stack(ch, {"s_key": learner, "constant": np.full(500, 0.07)}, 0.07, "stack",
                    "constant")
    got = ch.offset + ch.weights["s_key"] * learner
    np.testing.assert_allclose(got, 0.07 + 0.25 * (learner - learner.mean()), atol=1e-12)
    # nothing but the learner's own estimates enters: other DR scores, the same choice
    other = {"relapse": {"phi": -targets["relapse"]["phi"]}}
    ch2 = RP.choose(SPECS, estimates, other, "relapse", "auto", 0.05, n_events=80,
                    min_events=200, report=ReportConfig(**rep))
    assert (ch2.weights, ch2.slope, ch2.kind) == ({"s_key": 1.0}, 0.25, "individual")


def test_a_learner_not_among_the_candidates_falls_back_to_selection():
    estimates, targets = fake(n=500)
    ch = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05, n_events=80,
                   min_events=200)  # default damped_learner s_fg_risk is not in SPECS
    assert ch.method == "select" and "is not a candidate" in ch.reason
    with pytest.raises(ValueError, match="not one of the candidates"):
        RP.damped_choice(SPECS, "relapse", "", "s_fg_risk", 0.2)


def _reported(data, weight):
    cfg = cfg_with(RISK_SPECS, report={"method": "auto", "damped_weight": weight,
                                         "min_events": 10_000})
    folds = make_folds(data.arm, data.event, 5, 0)
    rep = RP.selection_procedure(cfg, data, folds)
    return rep, rep.predict(data.X)["relapse"]


def test_on_pure_noise_the_damped_estimate_stays_at_the_average():
    data = synthetic(n=400, seed=5, effect=0.0)
    rep, b = _reported(data, 0.2)
    ch = rep.choices["relapse"]
    assert ch.method == "damped" and ch.kind == "risk"
    average = rep.fitted["constant"].predict(data.X)["relapse"]
    assert b.mean() == pytest.approx(average.mean(), abs=1e-12)  # centred on the average
    assert np.std(b) < 0.002  # no effect: an estimated relative effect near 1, damped
    _, flat = _reported(data, 0.0)
    np.testing.assert_allclose(flat, average, atol=1e-12)  # weight 0: the average itself


def true_benefit(data, effect):
    """F_1(τ | x) without − with sorafenib in `synthetic`: exponential relapse (rate
    e^{0.5 x2} / 900) and death (1 / 2500) hazards, the hazard ratio e^{−effect}."""
    lam2 = 1 / 2500

    def f1(lam1):
        return lam1 / (lam1 + lam2) * (1 - np.exp(-(lam1 + lam2) * TAU))

    lam0 = np.exp(0.5 * data.X["x2"].to_numpy()) / 900
    return f1(lam0) - f1(lam0 * np.exp(-effect))


def test_known_heterogeneity_through_baseline_risk_is_ranked():
    data = synthetic(n=400, seed=3, effect=0.8)
    rep, b = _reported(data, 0.2)
    assert rep.choices["relapse"].method == "damped"
    rho = stats.spearmanr(b, true_benefit(data, 0.8))[0]
    assert rho > 0.5


def test_a_stack_shrunk_to_nothing_falls_to_the_damped_estimate(monkeypatch):
    from relapse_ml.benefit.config import ReportConfig

    estimates, targets = fake(n=500)
    folds = np.arange(500) % 5
    monkeypatch.setattr(RP, "benefit_slope", lambda *a: 0.0)  # the stack's slope is 0
    kw = dict(n_events=250, min_events=200, folds=folds)
    rep = {"damped_learner": "s_key", "damped_weight": 0.2, "stack_test": "none",
           "damped_events": None}
    ch = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05,
                   report=ReportConfig(**rep), **kw)
    assert ch.method == "damped" and ch.weights == {"s_key": 1.0} and ch.slope == 0.2
    assert "slope is 0" in ch.reason
    old = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05,
                    report=ReportConfig(stack_floor="average", **rep), **kw)
    assert old.method == "stack" and old.slope == 0.0  # finish_stack makes it the average


def test_bootstrap_replicates_re_run_the_damped_rule():
    from relapse_ml.benefit.intervals import bootstrap_reported

    data = synthetic(n=300, seed=4, effect=0.6)
    cfg = cfg_with(RISK_SPECS, report={"min_events": 10_000},
                   intervals={"n_boot": 4, "n_jobs": 1})
    folds = make_folds(data.arm, data.event, 5, 0)
    rep = RP.selection_procedure(cfg, data, folds)
    est = rep.predict(data.X)
    lo, hi, info = bootstrap_reported(cfg, data, est, chosen=rep.chosen_learners)
    assert info["n_ok"] == 4 and info["choices"]["relapse"] == {"risk": 4}
    assert np.all(lo["relapse"] <= est["relapse"]) and np.all(est["relapse"] <= hi["relapse"])
    assert np.ptp(hi["relapse"] - lo["relapse"]) > 0  # replicates' damped tilts differ


def test_above_min_events_the_damped_weight_grows_with_the_events(monkeypatch):
    """A stack that fails the nested gate reports the damped estimate, weighted
    E / (E + damped_events) from min_events on (the fixed damped_weight below)."""
    from relapse_ml.benefit.config import ReportConfig

    estimates, targets = fake(n=500)
    folds = np.arange(500) % 5
    monkeypatch.setattr(RP, "stack_gain", lambda *a: (0.0, 1.0))  # no gain: the gate fails
    rep = ReportConfig(damped_learner="s_key")
    k = rep.damped_events  # 180 by default since stop 29
    for events, weight in ((250, 250 / (250 + k)), (800, 800 / (800 + k))):
        ch = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05, n_events=events,
                       min_events=200, folds=folds, report=rep)
        assert ch.method == "damped" and ch.weights == {"s_key": 1.0}
        assert ch.slope == pytest.approx(weight) and "2 SE" in ch.reason
    low = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05, n_events=150,
                    min_events=200, folds=folds, report=rep)
    assert low.method == "damped" and low.slope == 0.2
    fixed = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05, n_events=800,
                      min_events=200, folds=folds,
                      report=ReportConfig(damped_learner="s_key", damped_events=None))
    assert fixed.slope == 0.2
    plain = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05, n_events=800,
                      min_events=200, folds=folds,
                      report=ReportConfig(damped_learner="s_key", stack_floor="average"))
    assert plain.weights == {"constant": 1.0}  # the rule before: the bare average
