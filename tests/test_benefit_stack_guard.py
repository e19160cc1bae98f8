"""The guards of the reported stack (`benefit.stacking`, `reported.finish_stack`): the nested
cross-fitted test against the average, the calibration-slope shrinkage and the centring on
the trial's average — on cases with a known answer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from relapse_ml.benefit import reported as RP
from relapse_ml.benefit.config import LearnerSpec, ReportConfig
from relapse_ml.benefit.stacking import benefit_slope, nested_stack, slope_test, stack_weights

SPECS = [
    LearnerSpec(kind="constant", label="constant"),
    LearnerSpec(kind="risk", label="risk_path"),
    LearnerSpec(kind="s", label="s_key", interactions="key"),
    LearnerSpec(kind="s", label="s_risk", interactions=[]),
]


def trial(n=3000, seed=0, modifier=0.0, noise=0.5):
    """Cross-fitted estimates and DR scores φ = truth + noise, truth = 0.1 + modifier·x.
    s_key follows x (plus its own estimation error), risk_path and s_risk follow other
    covariates; under ``modifier`` 0 every non-constant learner is fitted noise."""
    rng = np.random.default_rng(seed)
    x, z, u = rng.normal(size=(3, n))
    truth = 0.1 + modifier * x
    est = {
        "constant": np.full(n, 0.1) + rng.normal(scale=0.003, size=n),  # fold-to-fold wobble
        "risk_path": 0.1 + 0.02 * z,
        "s_key": 0.1 + max(modifier, 0.03) * x + rng.normal(scale=0.01, size=n),
        "s_risk": 0.1 + 0.02 * u,
    }
    estimates = {k: SimpleNamespace(benefit={"relapse": v}) for k, v in est.items()}
    phi = truth + rng.normal(scale=noise, size=n)
    return estimates, {"relapse": {"phi": phi}}, np.arange(n) % 5


def choose(estimates, targets, folds, **report):
    cfg = ReportConfig(**report)
    return RP.choose(SPECS, estimates, targets, "relapse", "stack", 0.05, report=cfg,
                     folds=folds)


def test_pure_noise_default_shrinks_the_noise_fitted_spread_away():
    """No effect modification, the shrink guard alone (shrink, centre; no nested test): the
    cross-fitted slope is
    clipped to 0 in about half the trials (its sign is a coin flip under noise), so the
    noise-fitted spread the plain stack keeps in every trial is removed there and, over
    trials, at least halved."""
    zero = 0
    spread, shrunk = [], []
    for seed in range(20):
        est, tg, folds = trial(seed=seed)
        ch = choose(est, tg, folds, stack_test="none")
        assert ch.method == "stack" and 0.0 <= ch.slope <= 1.0
        dev = sum(w * est[k].benefit["relapse"] for k, w in ch.weights.items())
        spread.append(np.var(dev))
        shrunk.append(ch.slope**2 * np.var(dev))
        zero += ch.slope == 0.0
    assert zero >= 8
    assert np.mean(shrunk) <= 0.6 * np.mean(spread)
    assert min(spread) > 1e-5  # the plain stack did keep a spread in every trial


def test_pure_noise_nested_test_tells_the_average_and_the_plain_stack_does_not():
    """``stack_test: nested``: the constant in nearly every noise trial (at z > 1 at most
    ~16% false keeps even for a test with no edge; the nested stack has none); the stack
    without the test keeps noise-fitted weights in most."""
    kept_nested = kept_plain = kept_default = 0
    for seed in range(20):
        est, tg, folds = trial(seed=seed)
        kept_nested += choose(est, tg, folds, stack_test="nested", stack_z=1.0).kind != "constant"
        kept_plain += choose(est, tg, folds, stack_test="none", shrink=False).kind != "constant"
        kept_default += choose(est, tg, folds).kind != "constant"  # nested, z > 2
    assert kept_nested <= 3 and kept_default <= 1
    assert kept_plain >= 10


def test_a_strong_effect_modifier_is_kept_with_slope_near_one():
    est, tg, folds = trial(modifier=0.08, seed=1)
    ch = choose(est, tg, folds)
    assert ch.kind == "individual" and ch.weights["s_key"] > 0.8
    assert 0.7 <= ch.slope <= 1.0 and "calibration slope" in ch.reason
    nested = choose(est, tg, folds, stack_test="nested")  # passes the stricter test too
    assert nested.kind == "individual" and "nested cross-fitted" in nested.reason


def test_nested_stack_never_uses_a_patients_own_score():
    """Changing φ in fold k leaves fold k's nested values unchanged (its weights come from
    the other folds) and moves the other folds' values."""
    est, tg, folds = trial(modifier=0.05, seed=2)
    B = np.column_stack([e.benefit["relapse"] for e in est.values()])
    phi = tg["relapse"]["phi"]
    base = nested_stack(B, phi, folds)
    moved = phi.copy()
    moved[folds == 3] += 5.0 * B[folds == 3, 0]  # pull fold 3's scores towards the constant
    after = nested_stack(B, moved, folds)
    np.testing.assert_array_equal(after[folds == 3], base[folds == 3])
    assert np.abs(after[folds != 3] - base[folds != 3]).max() > 1e-4
    # fold k's values are fold k's rows under weights fitted on the other folds
    w = stack_weights(B[folds != 0], phi[folds != 0])
    np.testing.assert_allclose(base[folds == 0], B[folds == 0] @ w)


def test_benefit_slope_is_the_clipped_least_squares_slope():
    rng = np.random.default_rng(4)
    v = rng.normal(size=500)
    for b, want in ((0.4, None), (-0.5, 0.0), (3.0, 1.0)):
        phi = 0.2 + b * v + rng.normal(scale=0.3, size=500)
        ref = np.polyfit(v, phi, 1)[0]
        assert benefit_slope(v, phi) == pytest.approx(
            want if want is not None else ref, abs=1e-12
        )
    assert benefit_slope(np.full(10, 0.3), rng.normal(size=10)) == 0.0


def test_finish_stack_centres_on_the_average_and_shrinks_the_deviation():
    rng = np.random.default_rng(5)
    preds = {"constant": np.full(50, 0.04), "s_key": rng.normal(0.1, 0.05, 50)}
    w = {"constant": 0.3, "s_key": 0.7}
    stack = 0.3 * preds["constant"] + 0.7 * preds["s_key"]
    ch = RP.Choice("relapse", "stack", dict(w), "", "individual", slope=0.6)
    RP.finish_stack(ch, preds, 0.04, "average", "constant")
    got = ch.offset + sum(v * preds[k] for k, v in ch.weights.items())
    np.testing.assert_allclose(got, 0.04 + 0.6 * (stack - stack.mean()))
    own = RP.Choice("relapse", "stack", dict(w), "", "individual", slope=1.0)
    RP.finish_stack(own, preds, 0.04, "stack", "constant")  # the rule before: unchanged
    assert own.offset == pytest.approx(0.0) and own.weights == pytest.approx(w)
    flat = RP.Choice("relapse", "stack", dict(w), "", "individual", slope=0.0)
    RP.finish_stack(flat, preds, 0.04, "average", "constant")
    assert flat.weights == {"constant": 1.0} and flat.kind == "constant" and flat.offset == 0


def spread_trial(seed, modifier=0.04, spread=3.0, n=3000, noise=0.5):
    """As `trial`, but s_key ranks patients by the true modifier with ``spread`` times its
    size (the convex stack then weighs it down towards the constant)."""
    rng = np.random.default_rng(seed)
    x, z, u = rng.normal(size=(3, n))
    truth = 0.1 + modifier * x
    est = {
        "constant": np.full(n, 0.1) + rng.normal(scale=0.003, size=n),
        "risk_path": 0.1 + 0.02 * z,
        "s_key": 0.1 + spread * modifier * x + rng.normal(scale=0.01, size=n),
        "s_risk": 0.1 + 0.02 * u,
    }
    estimates = {k: SimpleNamespace(benefit={"relapse": v}) for k, v in est.items()}
    return estimates, {"relapse": {"phi": truth + rng.normal(scale=noise, size=n)}}, np.arange(n) % 5


def test_slope_test_is_ols_with_a_sandwich_standard_error():
    """Against the textbook matrix form: (X'X)^-1 X' diag(e²) X (X'X)^-1 with an intercept."""
    rng = np.random.default_rng(6)
    v = rng.normal(size=400)
    phi = 0.1 + 0.3 * v + rng.normal(scale=0.5 + 0.5 * np.abs(v), size=400)  # heteroscedastic
    X = np.column_stack([np.ones_like(v), v])
    coef, *_ = np.linalg.lstsq(X, phi, rcond=None)
    e = phi - X @ coef
    bread = np.linalg.inv(X.T @ X)
    cov = bread @ (X.T * e**2) @ X @ bread
    beta, se = slope_test(v, phi)
    assert beta == pytest.approx(coef[1], abs=1e-12)
    assert se == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-10)
    assert slope_test(np.full(5, 0.2), rng.normal(size=5)) == (0.0, 0.0)


def test_slope_gate_keeps_a_real_but_too_spread_modifier_and_not_noise():
    """``stack_test: slope`` at z > 3: a stack of a learner that ranks patients by a real,
    modest modifier is kept in at least 8 of 10 trials (shrunk by its slope) and in at least
    as many as by the nested τ-risk gate at 2 SE (the slope test has more power there); on
    pure noise it keeps the stack in at most 1 of 30 trials, saying why in the others."""
    slope = nested = 0
    for seed in range(10):
        est, tg, folds = spread_trial(seed)
        ch = choose(est, tg, folds, stack_test="slope", stack_z=3.0)
        if ch.kind == "individual":
            slope += 1
            assert 0.5 < ch.slope <= 1.0 and "robust SE" in ch.reason
        nested += choose(est, tg, folds, stack_test="nested", stack_z=2.0).kind == "individual"
    assert slope >= 8 and slope >= nested
    noise = said = 0
    for seed in range(30):
        est, tg, folds = trial(seed=seed)
        ch = choose(est, tg, folds, stack_test="slope", stack_z=3.0)
        noise += ch.kind != "constant"
        said += "did not separate patients beyond chance" in ch.reason
    assert noise <= 1 and said >= 25


def risk_trial(seed, n=3000, noise=0.3, slope=0.05):
    """The benefit follows one arm-blind risk learner exactly (truth = 0.1 + its deviation,
    s_risk = 0.1 + slope·u); s_key is fitted noise. The stack beats the average by far, and
    the damped s_risk at weight 1 (the floor) is the truth itself."""
    rng = np.random.default_rng(seed)
    x, u = rng.normal(size=(2, n))
    truth = 0.1 + slope * u
    est = {
        "constant": np.full(n, 0.1) + rng.normal(scale=0.003, size=n),
        "risk_path": 0.1 + 0.02 * rng.normal(size=n),
        "s_key": 0.1 + 0.03 * x + rng.normal(scale=0.01, size=n),
        "s_risk": truth.copy(),
    }
    estimates = {k: SimpleNamespace(benefit={"relapse": v}) for k, v in est.items()}
    return estimates, {"relapse": {"phi": truth + rng.normal(scale=noise, size=n)}}, np.arange(n) % 5


def test_gate_against_the_floor_keeps_the_floor_the_stack_cannot_beat():
    """``stack_against: floor`` (the default): where the damped risk-based estimate already is the truth,
    the stack passes the test against the average in (nearly) every trial but not the test
    against the floor, which then reports the floor (method ``damped``)."""
    floor = dict(damped_learner="s_risk", damped_weight=1.0, stack_floor="damped")
    vs_avg = vs_floor = 0
    for seed in range(10):
        est, tg, folds = risk_trial(seed)
        vs_avg += choose(est, tg, folds, stack_against="average", **floor).method == "stack"
        ch = choose(est, tg, folds, stack_against="floor", **floor)
        vs_floor += ch.method == "stack"
        assert ch.method == "stack" or "did not beat the damped risk-based estimate" in ch.reason
    assert vs_avg >= 9
    assert vs_floor <= 1


def test_gate_against_the_floor_reports_the_paired_tau_risk_difference():
    """The d and SE the floor gate prints are the paired τ-risk difference between the
    nested stack and the floor's out-of-fold values (constant + weight × the damped
    learner's deviation from its mean), computed here by hand."""
    est, tg, folds = trial(seed=3, modifier=0.04)
    cfg = dict(damped_learner="s_risk", damped_weight=0.4, stack_floor="damped",
               stack_against="floor", stack_z=0.0)
    ch = choose(est, tg, folds, **cfg)
    labels = RP.stack_labels(SPECS)
    B = np.column_stack([est[k].benefit["relapse"] for k in labels])
    phi = tg["relapse"]["phi"]
    nested = nested_stack(B, phi, folds)
    risk = est["s_risk"].benefit["relapse"]
    base = est["constant"].benefit["relapse"] + 0.4 * (risk - risk.mean())
    diff = (nested - phi) ** 2 - (base - phi) ** 2
    d, se = diff.mean(), diff.std(ddof=1) / np.sqrt(len(diff))
    assert f"{d:+.4f} (SE {se:.4f}) against the damped s_risk's" in ch.reason
