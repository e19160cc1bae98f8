"""Linear models on simulated trials: mean predicted relapse incidence matches Aalen–Johansen.

The default cause-specific Cox used to collapse (mean incidence 0.5–3 % against an observed
27 %) because lifelines' Newton steps diverged on raw, heavy-tailed MRD percentages and the
warning was silenced. Sizes 346, 2,000 and 20,000: the 20,000 set resamples the 2,000
simulated patients (times in whole days, as in the contract) to keep the test fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.evaluation.calibration import calibration_slope_intercept
from relapse_ml.landmark import landmark_dataset
from relapse_ml.models import CauseSpecificCox, FineGray, aalen_johansen
from relapse_ml.models.preprocess import LinearPreprocessor
from relapse_ml.simulate import simulate_trial

TAU = 729.5


@pytest.fixture(scope="module")
def trial():
    ld = landmark_dataset(simulate_trial(2000, seed=3).to_cohort(), 60, 730)
    return ld.X, ld.time, ld.event


def _sized(trial, n):
    X, time, event = trial
    rng = np.random.default_rng(n)
    rows = rng.choice(len(time), size=n, replace=n > len(time))
    return X.iloc[rows].reset_index(drop=True), time[rows], event[rows]


@pytest.mark.parametrize("n", [346, 2000, 20000])
@pytest.mark.parametrize("model", [CauseSpecificCox, FineGray])
def test_mean_predicted_incidence_is_within_two_points_of_aalen_johansen(trial, n, model):
    X, time, event = _sized(trial, n)
    fit = model(penalizer=0.01).fit(X, time, event)  # 0.01: the penalty that used to collapse
    risk = fit.predict_cif(X, [TAU], cause=1)[:, 0]
    aj = aalen_johansen(time, event, [TAU], cause=1)[0]
    assert abs(risk.mean() - aj) < 0.02, (risk.mean(), aj)
    margin = fit.preprocessor_.transform(X) @ fit.beta_std_[1]
    assert np.ptp(margin) < 15  # no linear-predictor blow-up (it spanned -180 to +15)
    if n == 2000:  # (pseudo-observations at 20,000 cost a minute; the slope is a 2,000 check)
        slope = calibration_slope_intercept(time, event, risk, TAU)["slope"]
        assert 0.8 < slope < 1.2


def test_heavy_tailed_markers_are_read_on_a_log_scale_with_the_detection_limit(trial):
    X = trial[0]
    pre = LinearPreprocessor().fit(X)
    assert "mrd_mfc_latest" in pre.log_columns_ and "wt1_peak" in pre.log_columns_
    assert "age" not in pre.log_columns_ and "agvhd_max_grade" not in pre.log_columns_
    j = pre.columns_.index("mrd_mfc_latest")
    positive = X["mrd_mfc_latest"][X["mrd_mfc_latest"] > 0]
    assert pre.log_offset_[j] == positive.min()  # the smallest reported value: the detection limit
    Z = pre.transform(X)
    assert np.abs(Z).max() < 12  # raw MRD % sat 17 SD from its mean


def test_values_beyond_the_training_range_are_clipped_to_it(trial):
    X = trial[0]
    pre = LinearPreprocessor().fit(X)
    extreme = X.iloc[:3].copy()
    extreme["mrd_mfc_latest"] = [1e6, -5.0, np.nan]
    Z = pre.transform(extreme)
    j = pre.columns_.index("mrd_mfc_latest")
    at_max = pre.transform(extreme.assign(mrd_mfc_latest=X["mrd_mfc_latest"].max()))
    assert Z[0, j] == pytest.approx(at_max[0, j])
    at_min = pre.transform(extreme.assign(mrd_mfc_latest=0.0))
    assert Z[1, j] == pytest.approx(at_min[1, j])
    assert np.isfinite(Z).all()  # NaN → the training median


def test_a_diverging_fit_is_an_error_not_a_silent_estimate():
    from relapse_ml.errors import ModelError
    from relapse_ml.models.cox import fit_cox_coefficients

    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 1))
    time = np.arange(1, 61, dtype=float)
    status = np.zeros(60, bool)
    status[:30] = True
    z[:30, 0] = 50 + np.arange(30)[::-1]  # perfectly separates: earlier events, larger z
    with pytest.raises(ModelError, match="did not converge"):
        fit_cox_coefficients(np.c_[z, pd.Series(range(60)).to_numpy()], time, status, penalizer=0.0)


def test_a_separating_fine_gray_fit_is_an_error_too():
    from relapse_ml.errors import ModelError
    from relapse_ml.models.partial_likelihood import fit_subdistribution_hazard

    rng = np.random.default_rng(0)
    z = rng.normal(size=(60, 1))
    time = np.arange(1, 61, dtype=float)
    event = np.zeros(60, int)
    event[:30] = 1
    event[40:45] = 2  # a competing event: the Fine–Gray weights are in play
    z[:30, 0] = 50 + np.arange(30)[::-1]  # perfectly separates: earlier events, larger z
    with pytest.raises(ModelError, match="did not converge"):
        fit_subdistribution_hazard(z, time, event, 1, penalizer=0.0, max_iter=200)
    # a feature unrelated to the events fits
    beta, _ = fit_subdistribution_hazard(rng.normal(size=(60, 1)), time, event, 1)
    assert np.isfinite(beta).all()
