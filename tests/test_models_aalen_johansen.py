"""Aalen–Johansen incidence against lifelines (tie-free) and a brute-force loop (exact ties)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from relapse_ml.errors import ModelError
from relapse_ml.models import AalenJohansen, aalen_johansen


def _tie_free(n=300, seed=0):
    rng = np.random.default_rng(seed)
    time = rng.exponential(300.0, n)
    event = rng.choice([0, 1, 2], size=n, p=[0.3, 0.4, 0.3])
    return time, event


def _tied(n=200, seed=1):
    """Integer times: many ties between events of both causes and censorings."""
    rng = np.random.default_rng(seed)
    time = rng.integers(1, 25, n).astype(float)
    event = rng.choice([0, 1, 2], size=n, p=[0.3, 0.4, 0.3])
    return time, event


def _brute_force_aj(time, event, t, cause):
    """Walk the distinct event times one by one, counting patients with plain loops."""
    surv, cif = 1.0, 0.0
    for s in sorted({float(x) for x, e in zip(time, event, strict=True) if e != 0}):
        if s > t:
            break
        at_risk = sum(1 for x in time if x >= s)
        d_any = sum(1 for x, e in zip(time, event, strict=True) if x == s and e != 0)
        d_cause = sum(1 for x, e in zip(time, event, strict=True) if x == s and e == cause)
        cif += surv * d_cause / at_risk
        surv *= 1.0 - d_any / at_risk
    return cif


@pytest.mark.parametrize("cause", [1, 2])
def test_matches_lifelines_on_tie_free_data(cause):
    from lifelines import AalenJohansenFitter

    time, event = _tie_free()
    assert np.unique(time).size == time.size  # lifelines would jitter ties
    fitter = AalenJohansenFitter(calculate_variance=False)
    fitter.fit(time, event, event_of_interest=cause)
    # at every event time (where the step happens) and between them
    times = np.r_[np.sort(time), np.linspace(0, time.max() * 1.1, 57)]
    expected = fitter.predict(times).to_numpy()
    np.testing.assert_allclose(
        aalen_johansen(time, event, times, cause=cause), expected, atol=1e-12
    )


@pytest.mark.parametrize("cause", [1, 2])
def test_exact_ties_match_brute_force(cause):
    time, event = _tied()
    times = np.array([0.0, 1.0, 3.0, 7.5, 12.0, 24.0, 30.0])
    expected = [_brute_force_aj(time, event, t, cause) for t in times]
    np.testing.assert_allclose(
        aalen_johansen(time, event, times, cause=cause), expected, atol=1e-12
    )


def test_incidences_and_kaplan_meier_of_any_event_sum_to_one_with_ties():
    from lifelines import KaplanMeierFitter

    time, event = _tied()
    times = np.arange(0, 27, 0.5)
    km = KaplanMeierFitter().fit(time, event != 0).predict(times).to_numpy()
    total = aalen_johansen(time, event, times, 1) + aalen_johansen(time, event, times, 2)
    np.testing.assert_allclose(total, 1.0 - km, atol=1e-12)


def test_without_competing_events_it_is_one_minus_kaplan_meier():
    from sksurv.nonparametric import kaplan_meier_estimator

    time, event = _tied(seed=3)
    event = np.where(event == 2, 0, event)
    grid, surv = kaplan_meier_estimator(event == 1, time)
    np.testing.assert_allclose(aalen_johansen(time, event, grid), 1.0 - surv, atol=1e-12)


def test_is_not_one_minus_kaplan_meier_of_one_cause():
    from lifelines import KaplanMeierFitter

    time, event = _tie_free()
    t = np.quantile(time, 0.8)
    naive = 1.0 - KaplanMeierFitter().fit(time, event == 1).predict(t)
    assert aalen_johansen(time, event, [t])[0] < naive - 0.02  # naive overstates relapse


def test_marginal_model_gives_every_patient_the_cohort_curve():
    time, event = _tied()
    X = pd.DataFrame({"a": np.arange(time.size, dtype=float)})
    times = [2.0, 10.0, 20.0]
    model = AalenJohansen().fit(X, time, event)
    cif = model.predict_cumulative_incidence(X.iloc[:5], times)
    for cause in (1, 2):
        np.testing.assert_allclose(
            cif[:, cause, :], np.tile(aalen_johansen(time, event, times, cause), (5, 1))
        )
    np.testing.assert_allclose(cif.sum(axis=1), 1.0)


def test_on_stacked_landmarks_each_visit_gets_its_own_rows_curve():
    """The super-landmark null: per landmark day the Aalen–Johansen of that day's rows (brute
    force); a day between landmarks takes the latest one before it, before the first the first."""
    time, event = _tied(n=240, seed=3)
    day = np.repeat([60.0, 180.0, 365.0], 80)
    time = time + (day == 365.0) * 3.0  # the landmarks differ
    X = pd.DataFrame({"landmark_day": day, "x": np.arange(240.0)})
    model = AalenJohansen().fit(X, time, event)
    times = [3.0, 12.0, 26.0]
    probe = pd.DataFrame({"landmark_day": [60.0, 180.0, 365.0, 120.0, 30.0, 400.0], "x": 0.0})
    cif = model.predict_cumulative_incidence(probe, times)
    from_day = [60.0, 180.0, 365.0, 60.0, 60.0, 365.0]
    for i, d in enumerate(from_day):
        m = day == d
        for cause in (1, 2):
            want = [_brute_force_aj(time[m], event[m], t, cause) for t in times]
            np.testing.assert_allclose(cif[i, cause, :], want, atol=1e-12)
    # one landmark only (or no landmark column): the cohort curve, as before
    single = AalenJohansen().fit(X.assign(landmark_day=60.0), time, event)
    np.testing.assert_allclose(
        single.predict_cumulative_incidence(probe, times)[:, 1, :],
        np.tile(aalen_johansen(time, event, times, 1), (6, 1)),
    )


@pytest.mark.parametrize(
    ("time", "event", "message"),
    [
        ([1.0, 2.0], [1, 3], "event must be 0"),
        ([1.0, 0.0], [1, 0], "time must be finite and > 0"),
        ([1.0, np.nan], [1, 0], "time must be finite"),
        ([1.0, 2.0], [1], "time has 2 values"),
    ],
)
def test_bad_outcomes_raise_clear_errors(time, event, message):
    with pytest.raises(ModelError, match=message):
        aalen_johansen(time, event, [1.0])
