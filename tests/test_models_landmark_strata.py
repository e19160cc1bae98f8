"""The linear models on stacked landmarks: a baseline per landmark stratum, feature × landmark
interactions, in-between days, and their scoring twins (`relapse_ml.landmark_strata`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.landmark_strata import landmark_scale, stratum_weights
from relapse_ml.models import CauseSpecificCox, FineGray
from relapse_ml.models.cox import fit_cox_coefficients
from relapse_ml.models.fine_gray import geskus_expansion
from relapse_ml.models.partial_likelihood import _WeightedRiskSet, fit_subdistribution_hazard
from relapse_ml.scoring.numbers import numbers_from_model

DAYS = (60.0, 180.0, 365.0)
TAU = 729.5


def stacked(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Stacked rows with a known, non-proportional baseline per landmark day.

    Relapse hazard exp(0.7 x) times: at day 60 0.004/day in the first 120 days, then 0;
    at day 180 a constant 0.0006/day; at day 365 0 before day 400, then 0.003/day. NRM:
    0.0003/day everywhere; censoring at 730 days and uniform 0-1,500 days.
    Returns ``(X, time, event, true F1(TAU | x))``.
    """
    rng = np.random.default_rng(seed)
    day = np.repeat(DAYS, n)
    x = rng.normal(size=day.size)
    hr = np.exp(0.7 * x)
    e1 = rng.exponential(size=day.size) / hr  # unit-rate time on the cumulative-hazard scale
    t1 = np.select(
        [day == 60.0, day == 180.0],
        [np.where(e1 < 0.004 * 120, e1 / 0.004, np.inf), e1 / 0.0006],
        400.0 + e1 / 0.003,
    )
    t2 = rng.exponential(1 / 0.0003, size=day.size)
    c = np.minimum(730.0, rng.uniform(0, 1500, size=day.size))
    time = np.minimum.reduce([t1, t2, c])
    event = np.select([time == t1, time == t2], [1, 2], 0)
    X = pd.DataFrame({"x": x, "noise": rng.normal(size=day.size), "landmark_day": day,
                      "landmark_day_sq": (day / 365.0) ** 2})
    return X, time, event, _true_f1(day, hr)


def _true_f1(day, hr, t=TAU) -> np.ndarray:
    """F1(t | x) by numerical integration of S(u) λ1(u) on a fine grid."""
    u = np.linspace(0, t, 5001)
    du = u[1] - u[0]
    out = np.empty(day.size)
    for d in DAYS:
        m = day == d
        base = {60.0: np.where(u < 120, 0.004, 0.0), 180.0: np.full(u.size, 0.0006),
                365.0: np.where(u >= 400, 0.003, 0.0)}[d]
        lam1 = hr[m, None] * base[None, :]
        cum = np.cumsum(lam1 + 0.0003, axis=1) * du
        out[m] = np.sum(np.exp(-cum) * lam1, axis=1) * du
    return out


@pytest.fixture(scope="module")
def data():
    return stacked(1500, seed=1)


@pytest.mark.parametrize("cls", [CauseSpecificCox, FineGray])
def test_the_stratified_fit_recovers_each_landmarks_mean_incidence(data, cls):
    X, time, event, truth = data
    strat = cls(penalizer=0.01, landmark_interactions=False).fit(X, time, event)
    shared = cls(penalizer=0.01, landmark_strata=False, landmark_interactions=False).fit(
        X, time, event)
    assert strat.landmark_strata_.tolist() == list(DAYS)
    f_strat = strat.predict_cif(X, [TAU])[:, 0]
    f_shared = shared.predict_cif(X, [TAU])[:, 0]
    gap_strat, gap_shared = [], []
    for d in DAYS:
        m = X["landmark_day"].to_numpy() == d
        gap_strat.append(f_strat[m].mean() - truth[m].mean())
        gap_shared.append(f_shared[m].mean() - truth[m].mean())
    # 1,500 rows per landmark: the Aalen–Johansen standard error is about 0.011
    assert np.max(np.abs(gap_strat)) < 0.03, gap_strat
    assert np.max(np.abs(gap_shared)) > 0.06, gap_shared  # one baseline cannot fit them all
    # the coefficient of x is recovered (Cox: 0.7; a Fine–Gray coefficient differs but is > 0)
    beta = strat.coef_.loc["x", 1]
    assert (abs(beta - 0.7) < 0.08) if cls is CauseSpecificCox else beta > 0.3
    assert "landmark_day" not in strat.coef_.index  # constant within a stratum: left out


def test_stratified_cox_coefficients_agree_with_lifelines():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(5)
    n = 300
    Z = rng.normal(size=(n, 2))
    stratum = rng.choice([60.0, 120.0, 365.0], size=n)
    rate = np.select([stratum == 60.0, stratum == 120.0], [0.01, 0.003], 0.02)
    time = rng.exponential(1 / (rate * np.exp(Z @ [0.5, -0.4])))
    cens = rng.exponential(150, size=n)
    status = time <= cens
    time = np.minimum(time, cens)
    beta = fit_cox_coefficients(Z, time, status, strata=stratum)
    df = pd.DataFrame({"z0": Z[:, 0], "z1": Z[:, 1], "t": time, "s": status.astype(int),
                       "stratum": stratum})
    ref = CoxPHFitter().fit(df, "t", "s", strata=["stratum"]).params_.to_numpy()
    np.testing.assert_allclose(beta, ref, atol=1e-5)
    unstratified = fit_cox_coefficients(Z, time, status)
    assert np.abs(unstratified - ref).max() > 0.02  # the strata matter on these data


def test_stratified_fine_gray_agrees_with_lifelines_on_the_geskus_expansion():
    """Independent: a weighted, stratified Cox fit with delayed entry (lifelines) on each
    stratum's own Geskus expansion is the stratified Fine–Gray fit."""
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(8)
    n = 240
    Z = rng.normal(size=(n, 2))
    stratum = rng.choice([60.0, 180.0], size=n)
    t1 = rng.exponential(1 / (np.where(stratum == 60, 0.02, 0.006) * np.exp(Z @ [0.6, 0.0])))
    t2 = rng.exponential(1 / (0.01 * np.exp(Z @ [0.0, 0.5])))
    c = rng.uniform(0, 200, size=n)
    time = np.minimum.reduce([t1, t2, c])
    event = np.select([time == t1, time == t2], [1, 2], 0)
    beta, base = fit_subdistribution_hazard(Z, time, event, 1, strata=stratum)
    assert sorted(base) == [60.0, 180.0]
    frames = []
    for s in (60.0, 180.0):
        rows = np.flatnonzero(stratum == s)
        ex = geskus_expansion(time[rows], event[rows], 1)
        frames.append(pd.DataFrame({
            "z0": Z[rows[ex.patient], 0], "z1": Z[rows[ex.patient], 1], "entry": ex.entry,
            "stop": ex.stop, "s": ex.status.astype(int), "w": ex.weight, "stratum": s}))
    df = pd.concat(frames, ignore_index=True)
    ref = CoxPHFitter().fit(df, "stop", "s", weights_col="w", entry_col="entry",
                            strata=["stratum"], robust=False).params_.to_numpy()
    np.testing.assert_allclose(beta, ref, atol=1e-5)


def test_the_stratified_risk_set_sums_are_adjoint():
    """sum_transpose is the adjoint of sum, strata and competing weights included."""
    rng = np.random.default_rng(2)
    n = 200
    time = np.round(rng.exponential(50, size=n), 0) + 1  # ties on purpose
    event = rng.choice([0, 1, 2], size=n)
    code = rng.choice(3, size=n)
    rs = _WeightedRiskSet(time, code, event == 1, event == 2, event)
    v, a = rng.normal(size=n), rng.normal(size=rs.d.size)
    assert np.dot(a, rs.sum(v)) == pytest.approx(np.dot(rs.sum_transpose(a), v), rel=1e-10)
    # a stratum's risk set holds only its own rows: brute force at the first event time
    j = 0
    s = code[np.argmax((event == 1) & (time == rs.event_times[j]) & (code == rs.event_stratum[j]))]
    assert rs.event_stratum[j] == s
    in_s = code == s
    from relapse_ml.evaluation.ipcw import censoring_km

    G = censoring_km(time[in_s], event[in_s])
    u = rs.event_times[j]
    w = np.where(time >= u, 1.0, 0.0)
    early_comp = (event == 2) & (time < u)
    w[early_comp] = G.before(u) / G.before(time[early_comp])
    assert rs.sum(v)[j] == pytest.approx(np.sum((w * v)[in_s]), rel=1e-12)


def test_one_stratum_is_the_unstratified_fit():
    X, time, event, _ = stacked(300, seed=3)
    Z = X[["x", "noise"]].to_numpy()
    b0, base0 = fit_subdistribution_hazard(Z, time, event, 1, penalizer=0.01)
    b1, base1 = fit_subdistribution_hazard(Z, time, event, 1, penalizer=0.01,
                                           strata=np.full(time.size, 60.0))
    np.testing.assert_array_equal(b0, b1)
    np.testing.assert_array_equal(base0.increments, base1[60.0].increments)


@pytest.mark.parametrize("cls", [CauseSpecificCox, FineGray])
def test_a_single_landmark_fit_is_unchanged(cls):
    """One landmark (with or without the landmark columns): the plain model, identical."""
    X, time, event, _ = stacked(300, seed=4)
    one = X["landmark_day"].to_numpy() == 60.0
    X1, t1, e1 = X[one].assign(landmark_day_sq=(60 / 365) ** 2), time[one], event[one]
    plain = cls(penalizer=0.1, landmark_strata=False, landmark_interactions=False)
    a = plain.fit(X1, t1, e1).predict_cumulative_incidence(X1, [100.0, TAU])
    b = cls(penalizer=0.1).fit(X1, t1, e1).predict_cumulative_incidence(X1, [100.0, TAU])
    np.testing.assert_array_equal(a, b)
    assert cls(penalizer=0.1).fit(X1, t1, e1).landmark_strata_ is None


def test_in_between_days_mix_the_neighbouring_landmarks(data):
    X, time, event, _ = data
    model = CauseSpecificCox(penalizer=0.01, landmark_interactions=False).fit(X, time, event)
    rows = X.iloc[:50]

    def at(day):
        return model.predict_cumulative_incidence(rows.assign(landmark_day=day), [200.0, TAU])

    np.testing.assert_allclose(at(120.0), 0.5 * at(60.0) + 0.5 * at(180.0), atol=1e-12)
    np.testing.assert_allclose(at(300.0), (65 * at(180.0) + 120 * at(365.0)) / 185, atol=1e-12)
    np.testing.assert_array_equal(at(30.0), at(60.0))  # outside: the nearest landmark's
    np.testing.assert_array_equal(at(500.0), at(365.0))
    w = stratum_weights(np.array([60.0, 120.0, 400.0]), np.array(DAYS))
    assert [(k, r.tolist(), v.tolist()) for k, r, v in w] == [
        (60.0, [0, 1], [1.0, 0.5]), (180.0, [1], [0.5]), (365.0, [2], [1.0])]


def test_interactions_let_a_marker_effect_grow_with_the_landmark():
    """A feature whose log hazard ratio is 0.2 at day 60 and 1.2 at day 365 (truth): the
    interaction coefficient recovers the change, per unit of x and of s(L)."""
    rng = np.random.default_rng(11)
    day = np.repeat(DAYS, 2000)
    x = rng.normal(size=day.size)
    lp = (0.2 + 1.0 * landmark_scale(day)) * x
    t1 = rng.exponential(1 / (0.002 * np.exp(lp)))
    t2 = rng.exponential(1 / 0.0005, size=day.size)
    c = np.full(day.size, 730.0)
    time = np.minimum.reduce([t1, t2, c])
    event = np.select([time == t1, time == t2], [1, 2], 0)
    X = pd.DataFrame({"x": x, "landmark_day": day, "landmark_day_sq": (day / 365) ** 2})
    model = CauseSpecificCox(penalizer=0.001).fit(X, time, event)
    coef = model.coef_[1]
    assert coef["x"] == pytest.approx(0.2, abs=0.08)
    assert coef["x:landmark"] == pytest.approx(1.0, abs=0.15)
    shared = CauseSpecificCox(penalizer=0.001, landmark_interactions=False).fit(X, time, event)
    assert "x:landmark" not in shared.coef_.index


@pytest.mark.parametrize("cls", [CauseSpecificCox, FineGray])
def test_the_scoring_twin_predicts_what_the_model_predicts(data, cls):
    X, time, event, _ = data
    model = cls(penalizer=0.1).fit(X, time, event)
    twin = numbers_from_model(model)
    spec, files = twin.to_files()
    assert "strata" in spec and "baselines" not in spec and "interactions" in spec
    from relapse_ml.scoring.predict import single_numbers_from_files

    again = single_numbers_from_files(twin.model_type, spec, files, list(X.columns))
    rows = X.iloc[::37]
    for day in (60.0, 150.0, 365.0, 400.0):  # training landmarks, between them, beyond
        Xd = rows.assign(landmark_day=day, landmark_day_sq=(day / 365) ** 2)
        expected = model.predict_cumulative_incidence(Xd, [0.0, 100.0, TAU])
        got = again.predict_incidence(Xd.to_numpy(float), [0.0, 100.0, TAU])
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["cox_cs", "fine_gray", "cox_cs_trajectory"])
def test_score_on_an_exported_bundle_reproduces_the_model(tmp_path, name):
    """`score` from a bundle of a stratified super-landmark model gives the model's own numbers
    at a training landmark (180) and between two of them (150)."""
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
    traj = name.endswith("_trajectory")  # the default's Cox inside the trajectory step
    features = [*DEFAULT_FEATURES, "marker_history"] if traj else None
    ld = super_landmark_dataset(cohort, DEFAULT_LANDMARKS, 730, features=features)
    params = ({"model": "cox_cs", "model_params": {"penalizer": 0.1}, "em_max_iter": 10}
              if traj else {"penalizer": 0.1})
    model = make_model("trajectory" if traj else name, **params).fit(
        ld.X, ld.time, ld.event, groups=ld.patient_id)
    linear = model.model_ if traj else model
    assert linear.landmark_strata_.tolist() == list(DEFAULT_LANDMARKS)
    predictor = RelapseRiskPredictor(
        model=model, feature_columns=list(ld.X.columns), features=features, landmark_day=60.0,
        horizon_days=730.0, horizons=[365.0, 730.0], super_landmark=True,
        landmarks=list(DEFAULT_LANDMARKS), training_ranges=training_ranges(ld.X),
        info={"model": "trajectory" if traj else name,
              "model_name": "trajectory" if traj else name, "params": params})
    if traj:  # no reference values of its own: the drivers' background needs the cohort
        from relapse_ml.errors import RelapseMLError

        with pytest.raises(RelapseMLError, match="give --data DIR"):
            export_predictor(predictor, tmp_path / "no_data", progress=None)
        assert not (tmp_path / "no_data").exists()  # nothing half-written
    path, _ = export_predictor(predictor, tmp_path / "bundle", training=ld, progress=None)
    bundle = load_bundle(path)
    for day in (180.0, 150.0):
        scores = score_cohort(bundle, cohort, landmark_day=day).set_index("patient_id")
        X = model_features(bundle, cohort, day)
        ok = scores["at_risk"].to_numpy(bool)
        assert ok.sum() > 100
        for arm, value in (("control", 0.0), ("sorafenib", 1.0)):
            own = model.predict_cif(X[ok].assign(arm=value), [730.0])[:, 0]
            np.testing.assert_allclose(scores.loc[ok, f"relapse_730d_{arm}"], own, atol=1e-12)


def test_varying_interactions_take_only_the_columns_that_change_between_visits():
    X, time, event, _ = stacked(200, seed=9)
    patient = np.tile(np.arange(200), len(DAYS))  # row i of each landmark: the same patient
    X = X.assign(baseline=np.tile(np.random.default_rng(1).normal(size=200), len(DAYS)))
    with_ids = CauseSpecificCox(penalizer=0.1).fit(X, time, event, groups=patient)
    assert [c for c in with_ids.coef_.index if c.endswith(":landmark")] == [
        "x:landmark", "noise:landmark"]  # 'baseline' is the same at every visit
    without_ids = CauseSpecificCox(penalizer=0.1).fit(X, time, event)
    assert "baseline:landmark" in without_ids.coef_.index  # no ids: every feature
    every = CauseSpecificCox(penalizer=0.1, landmark_interactions=True).fit(
        X, time, event, groups=patient)
    assert "baseline:landmark" in every.coef_.index
    from relapse_ml.errors import ModelError

    with pytest.raises(ModelError, match="landmark_interactions must be"):
        CauseSpecificCox(landmark_interactions="some").fit(X, time, event)


def test_the_training_runs_importance_figure_names_every_coefficient(data):
    from relapse_ml.tracking.figures import feature_importance

    X, time, event, _ = data
    model = CauseSpecificCox(penalizer=0.1, landmark_interactions=True).fit(X, time, event)
    names, values, _ = feature_importance(model, X)
    assert names == ["x", "noise", "x:landmark", "noise:landmark"]
    assert len(values) == len(names)
