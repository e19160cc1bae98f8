"""``penalizer: auto`` — the linear models' ridge penalty chosen inside each fit by
cross-validated partial likelihood on the training rows, split by patient
(`relapse_ml.models.penalty`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relapse_ml.errors import ModelError
from relapse_ml.models import CauseSpecificCox, FineGray
from relapse_ml.models.partial_likelihood import SubdistributionProblem
from relapse_ml.models.penalty import GRID, choose_penalizer, chosen_penalizers
from tests._helpers_models import simulate_cause_specific
from tests.test_models_landmark_strata import stacked

REFERENCE = Path(__file__).parent / "data" / "linear_numeric_penalizer_reference.npz"


def _noise(n: int, p: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Outcomes with no relation to ``p`` noise columns (the truth: every coefficient 0)."""
    X, time, event = simulate_cause_specific(n, seed, beta1=(0.0,), beta2=(0.0,))
    rng = np.random.default_rng(seed + 1)
    return pd.DataFrame(rng.normal(size=(n, p)), columns=[f"z{j}" for j in range(p)]), time, event


def test_numeric_penalizer_predicts_as_before():
    """A numeric penalizer is untouched: the predictions of commit 045163b (before ``auto``),
    stored by running the loop below on that commit, to rounding (they were equal to the
    last bit until numpy 2.4 and scipy 1.17 changed summation order: differences of 1e-16;
    any change of method moves them by far more than 1e-12)."""
    ref = np.load(REFERENCE)
    X, time, event, _ = stacked(60, seed=21)
    patient = np.tile(np.arange(60), 3)
    for name, cls in (("cox_cs", CauseSpecificCox), ("fine_gray", FineGray)):
        for pen in (0.1, 0.003):
            model = cls(penalizer=pen).fit(X, time, event, groups=patient)
            got = model.predict_cumulative_incidence(X.iloc[::7], [50.0, 300.0, 729.5])
            np.testing.assert_allclose(got, ref[f"{name}_{pen}"], rtol=1e-12, atol=1e-14)
            assert model.penalizer_ == {1: pen, 2: pen} and model.penalty_choices_ == {}
            assert chosen_penalizers(model) is None


def test_auto_penalizes_small_noisy_data_more_than_a_large_true_signal():
    """Known truth. 150 patients, 15 noise columns: a large penalty (the CV partial likelihood
    falls as the noise is fitted). 3,000 patients with log hazard ratios (0.8, -0.5) for
    relapse: a small one, and the coefficients recovered within 0.08 of the truth."""
    X, time, event = _noise(150, 15, seed=3)
    small = CauseSpecificCox(penalizer="auto").fit(X, time, event)
    X2, time2, event2 = simulate_cause_specific(3000, seed=4)
    large = CauseSpecificCox(penalizer="auto").fit(X2, time2, event2)
    assert small.penalizer_[1] >= 0.3
    assert large.penalizer_[1] <= 0.01
    assert small.penalizer_[1] >= 30 * large.penalizer_[1]
    np.testing.assert_allclose(large.coef_[1].to_numpy(), [0.8, -0.5], atol=0.08)
    # noise: the chosen penalty shrinks the spurious coefficients well below a near-plain fit's
    plain = CauseSpecificCox(penalizer=1e-4).fit(X, time, event)
    assert np.abs(small.coef_[1]).max() < 0.5 * np.abs(plain.coef_[1]).max()


def test_the_inner_split_keeps_a_patients_rows_together(monkeypatch):
    """Stacked landmarks: the fit passes the patient ids to the inner split, which never puts a
    patient on both sides, and a subset (large training sets) takes whole patients."""
    import relapse_ml.evaluation.crossval as crossval

    seen = []
    real = crossval.fold_labels

    def spy(event, groups=None, **kw):
        labels = real(event, groups, **kw)
        seen.append((np.asarray(groups), labels[0]))
        return labels

    monkeypatch.setattr(crossval, "fold_labels", spy)
    X, time, event, _ = stacked(120, seed=5)
    patient = np.tile(np.arange(120), 3)  # the same patient at days 60, 180 and 365
    model = CauseSpecificCox(penalizer="auto").fit(X, time, event, groups=patient)
    assert len(seen) == 2  # one inner split per cause
    for groups, fold in seen:
        assert groups is not None and groups.size == len(X)
        per_patient = pd.Series(fold).groupby(groups).nunique()
        assert (per_patient == 1).all()
    assert model.penalty_choices_[1].n_patients == 120
    seen.clear()
    choice = choose_penalizer(model._design(X), time, event, 1, strata=X["landmark_day"],
                              groups=patient, max_patients=50)
    groups, fold = seen[0]
    assert choice.n_patients == 50 and choice.n_rows == 150  # whole patients: 3 rows each
    assert (pd.Series(fold).groupby(groups).nunique() == 1).all()
    # the same sum-scale ridge on all rows: mean-scale penalty × 150 / 360
    assert choice.penalizer == pytest.approx(choice.selected * 150 / 360)


def test_the_choice_uses_the_training_rows_only():
    """Refitting on a subset of the rows chooses again on that subset."""
    X, time, event = _noise(300, 8, seed=7)
    full = CauseSpecificCox(penalizer="auto").fit(X, time, event)
    part = CauseSpecificCox(penalizer="auto").fit(X.iloc[:150], time[:150], event[:150])
    assert full.penalty_choices_[1].n_rows == 300 and part.penalty_choices_[1].n_rows == 150
    assert set(full.penalizer_) == {1, 2} and set(part.penalty_choices_) == {1, 2}


def test_auto_then_the_chosen_number_is_the_same_fit():
    """``auto`` only chooses the number: a numeric fit at the chosen penalty is identical."""
    X, time, event = simulate_cause_specific(400, seed=8, beta2=(0.8, -0.5))
    auto = FineGray(penalizer="auto").fit(X, time, event)
    for cause in (1, 2):
        pen = auto.penalizer_[cause]
        fixed = FineGray(penalizer=pen).fit(X, time, event)
        np.testing.assert_array_equal(fixed.beta_std_[cause], auto.beta_std_[cause])


def test_the_log_partial_likelihood_is_lifelines():
    """The criterion's building block against an independent implementation: lifelines'
    stratified Cox log-likelihood (no tied times, so Efron = Breslow)."""
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(11)
    n = 250
    Z = rng.normal(size=(n, 2))
    stratum = rng.choice([60.0, 180.0], size=n)
    time = rng.exponential(1 / (0.01 * np.exp(Z @ [0.6, -0.3])))
    cens = rng.exponential(120, size=n)
    status = (time <= cens).astype(int)
    time = np.minimum(time, cens)
    df = pd.DataFrame({"z0": Z[:, 0], "z1": Z[:, 1], "t": time, "s": status, "k": stratum})
    ref = CoxPHFitter().fit(df, "t", "s", strata=["k"])
    problem = SubdistributionProblem(Z, time, status, 1, strata=stratum)
    ll = problem.log_likelihood(ref.params_.to_numpy())[0]
    assert ll == pytest.approx(ref.log_likelihood_, abs=1e-6)


@pytest.mark.parametrize("value", ["lasso", -0.1, True, None])
def test_a_bad_penalizer_is_a_clear_error(value):
    X, time, event = simulate_cause_specific(80, seed=1)
    with pytest.raises(ModelError, match="penalizer must be a number >= 0, 'auto' or 'auto_1se'"):
        CauseSpecificCox(penalizer=value).fit(X, time, event)


def test_auto_with_an_l1_share_is_refused():
    X, time, event = simulate_cause_specific(80, seed=1)
    with pytest.raises(ModelError, match="l1_ratio 0"):
        CauseSpecificCox(penalizer="auto", l1_ratio=0.5).fit(X, time, event)


@pytest.mark.parametrize("name", ["cox_cs", "cox_cs_trajectory"])
def test_the_chosen_penalty_travels_in_the_bundle(tmp_path, name):
    """The bundle of an ``auto`` model scores what the model predicts and records the chosen
    penalty per cause."""
    import json

    from relapse_ml.features import DEFAULT_FEATURES
    from relapse_ml.landmark import DEFAULT_LANDMARKS, super_landmark_dataset
    from relapse_ml.models import make_model
    from relapse_ml.predictor import RelapseRiskPredictor, training_ranges
    from relapse_ml.scoring.bundle import load_bundle
    from relapse_ml.scoring.export import export_predictor
    from relapse_ml.scoring.inputs import model_features
    from relapse_ml.scoring.score import score_cohort
    from relapse_ml.simulate import simulate_trial

    cohort = simulate_trial(200, seed=6, truth=False).to_cohort()
    traj = name.endswith("_trajectory")
    features = [*DEFAULT_FEATURES, "marker_history"] if traj else None
    ld = super_landmark_dataset(cohort, DEFAULT_LANDMARKS, 730, features=features)
    params = ({"model": "cox_cs", "model_params": {"penalizer": "auto"}, "em_max_iter": 10}
              if traj else {"penalizer": "auto"})
    model = make_model("trajectory" if traj else name, **params).fit(
        ld.X, ld.time, ld.event, groups=ld.patient_id)
    chosen = chosen_penalizers(model)
    assert set(chosen) == {1, 2} and all(v > 0 for v in chosen.values())
    predictor = RelapseRiskPredictor(
        model=model, feature_columns=list(ld.X.columns), features=features, landmark_day=60.0,
        horizon_days=730.0, horizons=[365.0, 730.0], super_landmark=True,
        landmarks=list(DEFAULT_LANDMARKS), training_ranges=training_ranges(ld.X),
        info={"model": name, "model_name": "trajectory" if traj else name, "params": params})
    path, _ = export_predictor(predictor, tmp_path / "bundle", training=ld, progress=None)
    text = "".join(p.read_text() for p in Path(path).rglob("*.json"))
    assert '"penalizer"' in text
    specs = [json.loads(p.read_text()) for p in Path(path).rglob("*.json")]
    found = [s for s in specs if isinstance(s, dict) and _find(s, "penalizer")]
    assert {int(k): v for k, v in _find(found[0], "penalizer").items()} == pytest.approx(chosen)
    bundle = load_bundle(path)
    scores = score_cohort(bundle, cohort, landmark_day=180.0).set_index("patient_id")
    X = model_features(bundle, cohort, 180.0)
    ok = scores["at_risk"].to_numpy(bool)
    own = model.predict_cif(X[ok].assign(arm=0.0), [730.0])[:, 0]
    np.testing.assert_allclose(scores.loc[ok, "relapse_730d_control"], own, atol=1e-12)


def _find(obj, key):
    """The first value of ``key`` anywhere in a nested JSON object (None when absent)."""
    if isinstance(obj, dict):
        if key in obj and isinstance(obj[key], dict):
            return obj[key]
        for v in obj.values():
            got = _find(v, key)
            if got is not None:
                return got
    elif isinstance(obj, list):
        for v in obj:
            got = _find(v, key)
            if got is not None:
                return got
    return None


def test_a_config_with_a_bad_penalizer_fails_before_training(tmp_path):
    """`train` builds the model table first: the error names the value and what is allowed,
    exit 2, before any fitting."""
    import subprocess
    import sys

    cfg = tmp_path / "c.yaml"
    cfg.write_text("models:\n  - name: cox_cs\n    params: {penalizer: lasso}\n")
    out = subprocess.run([sys.executable, "-m", "relapse_ml.cli", "train", "--config", str(cfg),
                          "--no-track"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "penalizer must be a number >= 0, 'auto' or 'auto_1se', not 'lasso'" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_one_standard_error_rule_shrinks_at_least_as_much():
    """``auto_1se``: the largest penalty whose criterion is within one standard error of the
    best — never less than ``auto``'s, and within that distance of the best criterion."""
    X, time, event = simulate_cause_specific(400, seed=12, beta1=(0.4, 0.0))
    best = CauseSpecificCox(penalizer="auto").fit(X, time, event).penalty_choices_
    wide = CauseSpecificCox(penalizer="auto_1se").fit(X, time, event).penalty_choices_
    for cause in (1, 2):
        b, w = best[cause], wide[cause]
        assert w.rule == "1se" and b.rule == "min" and w.se > 0
        assert w.selected >= b.selected
        cvpl = np.asarray(w.cvpl)
        assert cvpl[w.grid.index(w.selected)] >= cvpl.max() - w.se
        larger = [c for g, c in zip(w.grid, cvpl, strict=True) if g > w.selected]
        assert all(c < cvpl.max() - w.se for c in larger)  # the largest such penalty


def test_train_reports_the_penalty_its_final_model_chose():
    from relapse_ml.config import parse_config
    from relapse_ml.simulate import simulate_trial
    from relapse_ml.train import run_training

    cfg = parse_config({"landmark": {"landmarks": [60, 120]},
                        "models": [{"name": "cox_cs", "params": {"penalizer": "auto_1se"}}],
                        "features": ["baseline", "mrd_mfc", "gvhd"],
                        "evaluation": {"n_splits": 3, "n_boot": 0}})
    said = []
    result = run_training(cfg, simulate_trial(n=200, seed=2, truth=False).to_cohort(),
                          track=False, progress=said.append)
    chosen = result.predictor.info["penalizer_chosen"]
    model = result.predictor.model
    assert chosen == {"relapse": model.penalizer_[1], "nrm": model.penalizer_[2]}
    assert any("penalizer chosen in the final fit" in str(s) and "relapse" in str(s)
               for s in said)


def test_auto_does_not_choose_a_penalty_at_which_a_feature_separates_events():
    """A feature that orders the events perfectly: the cross-validated likelihood keeps
    rising as the penalty falls, but below some penalty the fits separate (linear predictor
    spread > `partial_likelihood.MAX_LP_SPREAD`) and the final fit's guard would refuse
    them. ``auto`` stops there and picks a penalty whose fit on all rows is accepted — for
    Fine–Gray and the cause-specific Cox alike."""
    from relapse_ml.models.partial_likelihood import (
        MAX_LP_SPREAD,
        fit_subdistribution_hazard,
    )

    rng = np.random.default_rng(0)
    n = 200
    z = rng.normal(size=(n, 1))
    time = np.arange(1, n + 1, dtype=float)
    event = np.zeros(n, int)
    event[:100] = 1
    event[150:160] = 2
    z[:100, 0] = 5 + 0.1 * np.arange(100)[::-1]  # earlier events, larger z
    with pytest.raises(ModelError, match="did not converge"):  # the smallest penalty separates
        fit_subdistribution_hazard(z, time, event, 1, penalizer=min(GRID))
    for cause_specific in (False, True):
        choice = choose_penalizer(z, time, event, 1, cause_specific=cause_specific)
        assert choice.penalizer > min(GRID)
        assert not np.isfinite(choice.cvpl[0])  # the smallest penalty (grid ascending): no fit
    beta, _ = fit_subdistribution_hazard(z, time, event, 1, penalizer=choice.penalizer)
    assert np.ptp(z @ beta) <= MAX_LP_SPREAD
    # and a plain Fine–Gray model with penalizer auto fits these data
    model = FineGray(penalizer="auto").fit(pd.DataFrame({"z": z[:, 0]}), time, event)
    assert np.isfinite(model.coef_[1].to_numpy()).all()
