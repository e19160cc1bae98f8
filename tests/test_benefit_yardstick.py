"""The benefit yardstick (cross-fitted τ-risk, R-loss), the new learners, the reported
estimate's choice and the bootstrap that re-runs it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.benefit import reported as RP
from relapse_ml.benefit.config import BenefitConfig, LearnerSpec
from relapse_ml.benefit.data import BenefitData
from relapse_ml.benefit.estimation import cross_fit_learners, evaluation_targets
from relapse_ml.benefit.learners import make_folds
from relapse_ml.benefit.yardstick import yardstick_table
from relapse_ml.errors import ConfigError
from relapse_ml.models import make_model

TAU = 700.0


def synthetic(n=240, seed=0, effect=0.0, modifier=0.0) -> BenefitData:
    """A small trial: relapse hazard lowered by sorafenib by ``effect`` + ``modifier`` × x1."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x1", "x2", "x3"])
    arm = rng.permutation(np.r_[np.zeros(n // 2), np.ones(n - n // 2)]).astype(int)
    lp = 0.5 * X["x2"].to_numpy() - arm * (effect + modifier * X["x1"].to_numpy())
    t1 = rng.exponential(900 / np.exp(lp))
    t2 = rng.exponential(2500, n)
    c = rng.uniform(300, 1400, n)
    time = np.minimum.reduce([t1, t2, c, np.full(n, 729.5)])
    event = np.where(time == t1, 1, np.where(time == t2, 2, 0))
    time = np.ceil(time)  # ties, as in day-resolution data
    return BenefitData(X, time, event, arm, np.array([f"p{i}" for i in range(n)]), TAU)


SPECS = [
    LearnerSpec(kind="constant", label="constant"),
    LearnerSpec(kind="s", label="s_fg", interactions=["x1"]),
]


def cfg_with(specs=SPECS, **kw) -> BenefitConfig:
    return BenefitConfig(learners=specs, **kw)


def censoring_before(time, event, t):
    """G(t−) by hand: product over distinct times s < t of (1 − censored at s / at risk),
    events at s leaving the risk set before the censorings at s (the project's convention)."""
    g = 1.0
    for s in np.unique(time[time < t]):
        at_risk = np.sum(time >= s) - np.sum((time == s) & (event != 0))
        g *= 1 - np.sum((time == s) & (event == 0)) / at_risk
    return g


def aj_by_hand(time, event, tau, causes):
    """Aalen–Johansen incidence of ``causes`` at tau by an explicit loop."""
    surv, f = 1.0, 0.0
    for s in np.unique(time[(event != 0) & (time <= tau)]):
        at_risk = np.sum(time >= s)
        d_any = np.sum((time == s) & (event != 0))
        d_c = np.sum((time == s) & np.isin(event, causes))
        f += surv * d_c / at_risk
        surv *= 1 - d_any / at_risk
    return f


def test_yardstick_matches_a_brute_force_calculation():
    data = synthetic()
    cfg = cfg_with()
    folds = make_folds(data.arm, data.event, 5, 0)
    est, _, cache = cross_fit_learners(cfg, data, lambda *a: None, folds=folds)
    targets, _ = evaluation_targets(cfg, data, folds, cache)
    table = yardstick_table(est, targets, "constant").set_index(["learner", "outcome"])

    n = data.n
    phi, y_star, m = np.empty(n), np.empty(n), np.empty(n)
    const = np.empty(n)
    for i in range(n):
        train = folds != folds[i]
        mu = []
        for a in (0, 1):
            rows = train & (data.arm == a)
            model = make_model("fine_gray", penalizer=0.1).fit(
                data.X.loc[rows], data.time[rows], data.event[rows]
            )
            mu.append(model.predict_cumulative_incidence(data.X.iloc[[i]], [TAU])[0, 1, 0])
        had = data.event[i] == 1 and data.time[i] <= TAU
        y_star[i] = had / censoring_before(data.time, data.event, data.time[i]) if had else 0.0
        a = data.arm[i]
        phi[i] = mu[0] - mu[1] + (1 - a) * (y_star[i] - mu[0]) / 0.5 - a * (y_star[i] - mu[1]) / 0.5
        m[i] = 0.5 * mu[0] + 0.5 * mu[1]
        const[i] = aj_by_hand(
            data.time[train & (data.arm == 0)], data.event[train & (data.arm == 0)], TAU, (1,)
        ) - aj_by_hand(
            data.time[train & (data.arm == 1)], data.event[train & (data.arm == 1)], TAU, (1,)
        )
    np.testing.assert_allclose(est["constant"].benefit["relapse"], const, atol=1e-12)
    s_hat = est["s_fg"].benefit["relapse"]
    for label, b in (("constant", const), ("s_fg", s_hat)):
        row = table.loc[(label, "relapse")]
        assert row["tau_risk"] == pytest.approx(np.mean((phi - b) ** 2), rel=1e-9)
        r = (y_star - m) + (data.arm - 0.5) * b
        assert row["r_loss"] == pytest.approx(np.mean(r**2), rel=1e-9)
    d = (phi - s_hat) ** 2 - (phi - const) ** 2
    row = table.loc[("s_fg", "relapse")]
    assert row["tau_risk_vs_constant"] == pytest.approx(d.mean(), rel=1e-9)
    assert row["tau_risk_vs_constant_se"] == pytest.approx(d.std(ddof=1) / np.sqrt(n), rel=1e-9)


def test_no_patient_own_outcome_shapes_their_estimate():
    specs = [
        LearnerSpec(kind="constant", label="constant"),
        LearnerSpec(kind="risk", label="risk"),
        LearnerSpec(kind="s", label="shrunk", interactions=["x1"], shrink=[0, 1]),
        LearnerSpec(kind="r", label="r_ridge"),
    ]
    cfg = cfg_with(specs)
    data = synthetic(n=200, seed=4, effect=0.5)
    folds = make_folds(data.arm, data.event, 4, 0)
    before, _, _ = cross_fit_learners(cfg, data, lambda *a: None, folds=folds)
    i = int(np.flatnonzero(data.event == 1)[0])
    changed = BenefitData(
        data.X, data.time.copy(), data.event.copy(), data.arm, data.patient_id, TAU
    )
    changed.time[i], changed.event[i] = 729.0, 0  # the relapse becomes "event-free"
    after, _, _ = cross_fit_learners(cfg, changed, lambda *a: None, folds=folds)
    others = folds != folds[i]
    for label in before:
        for o in ("relapse", "rfs"):
            assert after[label].benefit[o][i] == pytest.approx(before[label].benefit[o][i])
            # and the change does reach the estimates of patients in other folds
        moved = np.abs(
            after[label].benefit["relapse"][others] - before[label].benefit["relapse"][others]
        )
        assert moved.max() > 0


def test_null_trial_falls_back_to_the_trial_average():
    data = synthetic(n=300, seed=11)
    specs = [
        LearnerSpec(kind="s", label="s_fg", interactions="all"),
        LearnerSpec(kind="t", label="t_fg"),
        LearnerSpec(kind="risk", label="risk"),
        LearnerSpec(kind="r", label="r_ridge"),
    ]
    cfg = cfg_with(specs)  # no constant configured: it is added
    folds = make_folds(data.arm, data.event, 5, 0)
    rep = RP.selection_procedure(cfg, data, folds)
    est = rep.predict(data.X)
    for o in ("relapse", "rfs"):
        assert rep.choices[o].kind == "constant", rep.choices[o].reason
        assert "cannot tell patients apart" in rep.choices[o].reason or "no learner" in (
            rep.choices[o].reason
        )
    causes = {"relapse": (1,), "rfs": (1, 2)}
    for o in ("relapse", "rfs"):
        aj = [
            aj_by_hand(data.time[data.arm == a], data.event[data.arm == a], TAU, causes[o])
            for a in (0, 1)
        ]
        np.testing.assert_allclose(est[o], aj[0] - aj[1], atol=1e-12)


def test_a_strong_modifier_is_reported_individually():
    data = synthetic(n=1200, seed=2, effect=0.3, modifier=1.2)
    cfg = cfg_with()
    folds = make_folds(data.arm, data.event, 5, 0)
    rep = RP.selection_procedure(cfg, data, folds)
    assert rep.choices["relapse"].kind == "individual"
    assert rep.choices["relapse"].learner == "s_fg"
    b = rep.predict(data.X)["relapse"]
    assert np.corrcoef(b, data.X["x1"])[0, 1] > 0.9  # more benefit where x1 is high


def test_stack_weights_recover_a_known_mixture():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(4000, 3))
    phi = B @ np.array([0.7, 0.3, 0.0]) + rng.normal(scale=0.1, size=4000)
    w = RP.stack_weights(B, phi)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    np.testing.assert_allclose(w, [0.7, 0.3, 0.0], atol=0.02)


def test_bootstrap_re_runs_the_selection_in_every_replicate(monkeypatch):
    from relapse_ml.benefit import intervals as IV

    data = synthetic(n=200, seed=5, effect=0.4)
    cfg = cfg_with(intervals={"n_boot": 4, "n_folds": 3, "n_jobs": 1})  # counted in-process
    folds = make_folds(data.arm, data.event, 5, 0)
    rep = RP.selection_procedure(cfg, data, folds)
    est = rep.predict(data.X)
    calls = []
    real = RP.selection_procedure

    def counting(*args, **kw):
        calls.append(len(args[1].time))
        return real(*args, **kw)

    monkeypatch.setattr(RP, "selection_procedure", counting)
    lo, hi, info = IV.bootstrap_reported(cfg, data, est)
    assert len(calls) == 4 and info["n_ok"] == 4
    assert sum(info["choices"]["relapse"].values()) == 4
    for o in ("relapse", "rfs"):
        assert np.isfinite(lo[o]).all() and np.isfinite(hi[o]).all()
        assert (lo[o] <= est[o] + 1e-12).all() and (est[o] <= hi[o] + 1e-12).all()
        assert np.median(hi[o] - lo[o]) > 0  # the average effect's own uncertainty


def test_bootstrap_on_worker_processes_gives_the_same_intervals():
    from relapse_ml.benefit import intervals as IV

    data = synthetic(n=160, seed=6, effect=0.4)
    est = {o: np.full(data.n, 0.05) for o in ("relapse", "rfs")}
    out = {}
    for jobs in (1, 2):
        cfg = cfg_with(intervals={"n_boot": 3, "n_folds": 3, "n_jobs": jobs})
        out[jobs] = IV.bootstrap_reported(cfg, data, est)
    assert out[1][2]["n_ok"] == out[2][2]["n_ok"] == 3
    for o in ("relapse", "rfs"):
        np.testing.assert_allclose(out[1][0][o], out[2][0][o], rtol=1e-10)
        np.testing.assert_allclose(out[1][1][o], out[2][1][o], rtol=1e-10)


def test_bad_learner_options_are_config_errors():
    from relapse_ml.config import parse_config

    with pytest.raises(ConfigError, match="shrink"):
        parse_config(
            {"learners": [{"kind": "t", "label": "t", "shrink": [0, 1]}]}, model=BenefitConfig
        )
    with pytest.raises(ConfigError, match="nope"):
        parse_config({"report": {"candidates": ["nope"]}}, model=BenefitConfig)


def test_observational_cohort_adjusts_the_average_effect():
    from types import SimpleNamespace

    from relapse_ml.benefit.observational import effective_config

    rng = np.random.default_rng(3)
    n = 1200
    X = pd.DataFrame(rng.normal(size=(n, 2)), columns=["x1", "x2"])
    arm = (rng.uniform(size=n) < 1 / (1 + np.exp(-1.5 * X["x2"]))).astype(int)  # confounded
    t1 = rng.exponential(900 / np.exp(0.9 * X["x2"].to_numpy()))  # no effect of the arm
    c = rng.uniform(300, 1400, n)
    time = np.ceil(np.minimum.reduce([t1, c, np.full(n, 729.5)]))
    event = np.where(np.minimum(t1, 729.5) <= np.minimum(c, 729.5), 1, 0)
    data = BenefitData(X, time, event, arm, np.array([f"p{i}" for i in range(n)]), TAU)
    cfg = effective_config(cfg_with([SPECS[0]]), SimpleNamespace(randomized=False))
    assert cfg.treatment.assignment == "observational"
    assert effective_config(cfg_with(), SimpleNamespace(randomized=None)).treatment.assignment == (
        "randomized"
    )
    folds = make_folds(arm, event, 5, 0)
    est, _, _ = cross_fit_learners(cfg, data, lambda *a: None, folds=folds)
    crude = aj_by_hand(time[arm == 0], event[arm == 0], TAU, (1,)) - aj_by_hand(
        time[arm == 1], event[arm == 1], TAU, (1,)
    )
    adjusted = est["constant"].benefit["relapse"]
    assert crude < -0.1  # the treated are the high-risk patients
    assert abs(adjusted.mean()) < 0.03 and np.abs(adjusted).max() < 0.05


def test_public_api_gives_every_patient_an_estimate_and_an_interval():
    from relapse_ml.benefit.individual import reported_benefit

    data = synthetic(n=160, seed=8, effect=0.4)
    cfg = cfg_with(intervals={"n_boot": 3, "n_folds": 3}, crossfit={"n_folds": 3})
    frame, rep, info = reported_benefit(data, cfg)
    cols = [f"benefit_{o}{s}" for o in ("relapse", "rfs") for s in ("", "_low", "_high")]
    assert list(frame.columns) == ["patient_id", *cols] and len(frame) == data.n
    assert frame[cols].notna().all().all() and info["n_ok"] == 3
    new = rep.predict(data.X.iloc[:5])  # a new patient's reported benefit
    np.testing.assert_allclose(new["relapse"], frame["benefit_relapse"].iloc[:5])
