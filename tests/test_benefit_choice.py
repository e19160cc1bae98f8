"""The reported estimate's rule `auto`: stack with enough events, the stricter selection
below; which learners a stack may combine; how a stack is described."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from relapse_ml.benefit import reported as RP
from relapse_ml.benefit.choice import stack_kind
from relapse_ml.benefit.learner_specs import FinalStage, LearnerSpec

SPECS = [
    LearnerSpec(kind="constant", label="constant"),
    LearnerSpec(kind="risk", label="risk_path"),
    LearnerSpec(kind="s", label="s_key", interactions="key"),
    LearnerSpec(kind="s", label="s_risk", interactions=[]),
    LearnerSpec(kind="s", label="s_shrunk", interactions="key", shrink=[0, 0.5, 1]),
    LearnerSpec(kind="t", label="t_fg"),
    LearnerSpec(kind="r", label="r_ridge"),
    LearnerSpec(kind="r", label="r_xgb", final=FinalStage(name="xgb", params={})),
]


def fake(n=4000, seed=0):
    """Cross-fitted estimates and DR scores: the truth is 0.1 + 0.05 x; s_key estimates it
    well (s_shrunk exactly: left out of a stack all the same), t_fg and r_xgb are the truth
    plus large noise, the rest are flat."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    truth = 0.1 + 0.05 * x
    est = {
        "constant": np.full(n, 0.1),
        "risk_path": np.full(n, 0.1) + 0.001 * x,
        "s_key": truth + rng.normal(scale=0.01, size=n),
        "s_risk": np.full(n, 0.1),
        "s_shrunk": truth,
        "t_fg": truth + rng.normal(scale=0.2, size=n),
        "r_ridge": np.full(n, 0.1),
        "r_xgb": truth + rng.normal(scale=0.2, size=n),
    }
    estimates = {k: SimpleNamespace(benefit={"relapse": v}) for k, v in est.items()}
    targets = {"relapse": {"phi": truth + rng.normal(scale=0.5, size=n)}}
    return estimates, targets


def test_auto_stacks_only_with_enough_events():
    estimates, targets = fake()
    folds = np.arange(4000) % 5
    few = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05, n_events=150,
                    min_events=200, folds=folds)
    assert few.method == "select" and few.reason.startswith("150 events < 200")
    many = RP.choose(SPECS, estimates, targets, "relapse", "auto", 0.05, n_events=250,
                     min_events=200, folds=folds)
    assert many.method == "stack" and many.reason.startswith("250 events ≥ 200")
    assert set(many.weights) <= {"constant", "risk_path", "s_key", "s_risk", "r_ridge"}
    assert many.weights["s_key"] > 0.8 and many.kind == "individual"
    assert sum(many.weights.values()) == pytest.approx(1.0)


def test_stack_leaves_out_t_boosted_and_shrunk_learners_unless_named():
    assert RP.stack_labels(SPECS) == ["constant", "risk_path", "s_key", "s_risk", "r_ridge"]
    # named: those and the constant, always
    assert RP.stack_labels(SPECS, ["t_fg", "s_key"]) == ["constant", "s_key", "t_fg"]


def test_a_stack_is_described_by_what_its_members_can_express():
    assert stack_kind(SPECS, {"constant": 1.0}) == "constant"
    assert stack_kind(SPECS, {"constant": 0.4, "risk_path": 0.3, "s_risk": 0.3}) == "risk"
    assert stack_kind(SPECS, {"constant": 0.9, "s_key": 0.1}) == "individual"


def test_outcome_events_count_events_of_the_outcome_by_the_horizon():
    time = np.array([10, 20, 30, 800, 40, 50])
    event = np.array([1, 2, 0, 1, 1, 2])
    assert RP.outcome_events(time, event, 700, "relapse") == 2
    assert RP.outcome_events(time, event, 700, "rfs") == 4


def test_auto_on_a_trial_with_a_modifier_stacks_towards_it():
    from relapse_ml.benefit.learners import make_folds
    from tests.test_benefit_yardstick import cfg_with, synthetic

    data = synthetic(n=800, seed=3, effect=0.3, modifier=0.8)
    specs = [LearnerSpec(kind="constant", label="constant"),
             LearnerSpec(kind="s", label="s_fg", interactions=["x1"])]
    cfg = cfg_with(specs, report={"method": "auto", "min_events": 50})
    folds = make_folds(data.arm, data.event, 5, 0)
    rep = RP.selection_procedure(cfg, data, folds)
    ch = rep.choices["relapse"]
    assert ch.method == "stack" and ch.weights.get("s_fg", 0) > 0.5
    assert "2 SE" not in ch.reason and "nested cross-fitted" in ch.reason  # the gate passed
    b = rep.predict(data.X)["relapse"]
    assert np.corrcoef(b, data.X["x1"])[0, 1] > 0.9
    strict = cfg_with(specs, report={"method": "auto", "min_events": 10_000})
    assert RP.selection_procedure(strict, data, folds).choices["relapse"].method == "select"


def test_the_nested_gate_keeps_a_weak_modifier_out():
    """The default gate (nested cross-fitted τ-risk gain over the average > 2 SE): the same
    modifier in half the patients is not shown (z ≈ 1.4), and without a damped learner
    among the candidates the report is the trial's average, saying why."""
    from relapse_ml.benefit.learners import make_folds
    from tests.test_benefit_yardstick import cfg_with, synthetic

    data = synthetic(n=400, seed=3, effect=0.3, modifier=0.8)
    specs = [LearnerSpec(kind="constant", label="constant"),
             LearnerSpec(kind="s", label="s_fg", interactions=["x1"])]
    folds = make_folds(data.arm, data.event, 5, 0)
    cfg = cfg_with(specs, report={"method": "auto", "min_events": 50})
    ch = RP.selection_procedure(cfg, data, folds).choices["relapse"]
    assert ch.weights == {"constant": 1.0} and "by more than 2 SE" in ch.reason
    loose = cfg_with(specs, report={"method": "auto", "min_events": 50, "stack_z": 1.0})
    assert RP.selection_procedure(loose, data, folds).choices["relapse"].weights.get("s_fg", 0) > 0.5


def test_a_selected_learner_is_described_like_a_stack_of_it_alone():
    """An S-learner without arm interactions has one relative effect for everyone: selected
    alone it is a risk-based estimate (the score then says there is no evidence this
    patient's benefit differs from the average), as it is inside a stack."""
    rng = np.random.default_rng(3)
    n = 4000
    risk = rng.uniform(0.05, 0.4, size=n)
    truth = 0.5 * risk  # benefit follows baseline risk
    specs = [LearnerSpec(kind="constant", label="constant"),
             LearnerSpec(kind="s", label="s_risk", interactions=[]),
             LearnerSpec(kind="s", label="s_key", interactions="key")]
    phi = truth + rng.normal(scale=0.3, size=n)
    for winner, kind in (("s_risk", "risk"), ("s_key", "individual")):
        est = {"constant": np.full(n, truth.mean()), "s_risk": np.full(n, truth.mean()),
               "s_key": np.full(n, truth.mean())}
        est[winner] = truth
        estimates = {k: SimpleNamespace(benefit={"relapse": v}) for k, v in est.items()}
        ch = RP.choose(specs, estimates, {"relapse": {"phi": phi}}, "relapse", "select", 0.05)
        assert ch.weights == {winner: 1.0}
        assert ch.kind == kind
