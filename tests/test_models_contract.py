"""The contract every registered model keeps: shapes, coherent incidences, errors, clone, seeds."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from relapse_ml.errors import ModelError
from relapse_ml.models import MODEL_NAMES, CompetingRiskModel, make_model
from tests._helpers_models import simulate_cause_specific

# small boosters keep the contract fast; the recovery tests use larger ones
FAST = {
    "xgb_cs": {"n_estimators": 30, "learning_rate": 0.2},
    "xgb_direct": {"n_estimators": 20, "learning_rate": 0.2, "horizon": 600.0},
}
TIMES = np.array([0.0, 1.0, 30.0, 90.0, 200.0, 365.0, 600.0, 900.0, 5000.0])


def _model(name, **extra):
    return make_model(name, **{**FAST.get(name, {}), **extra})


@pytest.fixture(scope="module")
def data():
    X, time, event = simulate_cause_specific(
        300, seed=11, beta1=(0.8, -0.5, 0.0), beta2=(0.3, 0.4, 0.0)
    )
    time = np.ceil(time)  # whole days: ties, as in real data
    X.loc[X.index[::7], "x0"] = np.nan
    X.loc[X.index[::11], "x2"] = np.nan
    X["constant"] = 1.0
    return X, time, event


@pytest.fixture(scope="module")
def fitted(data):
    X, time, event = data
    return {name: _model(name).fit(X, time, event) for name in MODEL_NAMES}


def test_registry_has_the_agreed_names():
    assert set(MODEL_NAMES) == {"aalen_johansen", "cox_cs", "fine_gray", "xgb_cs", "xgb_direct"}
    assert all(isinstance(make_model(name), CompetingRiskModel) for name in MODEL_NAMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_incidences_are_coherent(name, data, fitted):
    X, _, _ = data
    cif = fitted[name].predict_cumulative_incidence(X, TIMES)
    assert cif.shape == (len(X), 3, TIMES.size)
    assert np.isfinite(cif).all()
    surv, f1, f2 = cif[:, 0], cif[:, 1], cif[:, 2]
    assert (f1 >= 0).all() and (f2 >= 0).all() and (surv >= 0).all()
    assert (f1 + f2 <= 1 + 1e-9).all()
    np.testing.assert_allclose(surv + f1 + f2, 1.0, atol=1e-9)
    assert (np.diff(f1, axis=1) >= -1e-12).all() and (np.diff(f2, axis=1) >= -1e-12).all()
    np.testing.assert_allclose(f1[:, 0], 0.0)  # nothing happens at the landmark itself
    assert f1[:, -1].mean() > 0.05  # and something happens later


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_predict_cif_is_the_matching_slice(name, data, fitted):
    X, _, _ = data
    model = fitted[name]
    cif = model.predict_cumulative_incidence(X.iloc[:10], TIMES)
    np.testing.assert_array_equal(model.predict_cif(X.iloc[:10], TIMES), cif[:, 1])
    np.testing.assert_array_equal(model.predict_cif(X.iloc[:10], TIMES, cause=2), cif[:, 2])
    with pytest.raises(ModelError, match="cause must be 1"):
        model.predict_cif(X.iloc[:10], TIMES, cause=3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_times_in_any_order_and_columns_by_name(name, data, fitted):
    X, _, _ = data
    model = fitted[name]
    expected = model.predict_cif(X.iloc[:10], TIMES)
    perm = np.random.default_rng(0).permutation(TIMES.size)
    np.testing.assert_array_equal(model.predict_cif(X.iloc[:10], TIMES[perm]), expected[:, perm])
    shuffled = X.iloc[:10, ::-1]
    np.testing.assert_array_equal(model.predict_cif(shuffled, TIMES), expected)
    with pytest.raises(ModelError, match="lacks"):
        model.predict_cif(X.iloc[:10].drop(columns="x1"), TIMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_predict_before_fit_raises_a_clear_error(name, data):
    X, _, _ = data
    with pytest.raises(ModelError, match="not fitted"):
        _model(name).predict_cif(X, TIMES)
    with pytest.raises(NotFittedError):
        _model(name).predict_cumulative_incidence(X, TIMES)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_clone_keeps_parameters_and_drops_fitted_state(name, fitted):
    model = fitted[name]
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert not hasattr(copy, "is_fitted_")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_pickled_model_predicts_the_same(name, data, fitted):
    X, _, _ = data
    restored = pickle.loads(pickle.dumps(fitted[name]))
    np.testing.assert_array_equal(
        restored.predict_cumulative_incidence(X, TIMES),
        fitted[name].predict_cumulative_incidence(X, TIMES),
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_refit_with_same_seed_is_identical(name, data, fitted):
    X, time, event = data
    again = clone(fitted[name]).fit(X, time, event)
    np.testing.assert_array_equal(
        again.predict_cumulative_incidence(X, TIMES),
        fitted[name].predict_cumulative_incidence(X, TIMES),
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_accepts_missing_values_and_plain_arrays(name, data, fitted):
    X, time, event = data
    row = X.iloc[[0]].copy()
    row.loc[:, :] = np.nan  # a patient with every feature missing
    assert np.isfinite(fitted[name].predict_cif(row, TIMES)).all()
    from_array = _model(name).fit(X.to_numpy(), time, event)
    np.testing.assert_allclose(
        from_array.predict_cif(X.to_numpy()[:10], TIMES),
        fitted[name].predict_cif(X.iloc[:10], TIMES),
    )


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bad_inputs_raise_model_errors(name, data):
    X, time, event = data
    with pytest.raises(ModelError, match="rows"):
        _model(name).fit(X.iloc[:-1], time, event)
    with pytest.raises(ModelError, match="event must be"):
        _model(name).fit(X, time, np.where(event == 2, 3, event))
    with pytest.raises(ModelError, match="numeric"):
        _model(name).fit(X.assign(sex="M"), time, event)


def test_make_model_names_the_fix():
    with pytest.raises(ModelError, match="Did you mean 'xgb_cs'"):
        make_model("xgb_c")
    with pytest.raises(ModelError, match="no parameter"):
        make_model("cox_cs", max_depth=3)
    assert make_model("xgb_cs", max_depth=5).max_depth == 5
