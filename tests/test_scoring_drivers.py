"""Group-Shapley drivers without a model: exact and sampled values against brute force,
the words for an old marker result, and the background summary."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from relapse_ml.scoring import drivers as D


# -- drivers ----------------------------------------------------------------------------------
def _brute_force_shapley(value, x, ref, groups):
    """Average marginal contribution over every ordering of the groups (independent check)."""
    names = list(groups)
    phi = {g: 0.0 for g in names}
    orders = list(itertools.permutations(names))
    for order in orders:
        row = ref.copy()
        prev = value(row[None, :])[0, 0]
        for g in order:
            row[groups[g]] = x[groups[g]]
            cur = value(row[None, :])[0, 0]
            phi[g] += (cur - prev) / len(orders)
            prev = cur
    return phi


def test_group_shapley_matches_brute_force_and_adds_up():
    rng = np.random.default_rng(0)
    x, ref = rng.normal(size=6), rng.normal(size=6)
    groups = {"a": [0, 1], "b": [2], "c": [3, 4], "d": [5]}

    def value(rows):  # non-additive: interactions and a saturating link, like a risk
        z = rows[:, 0] * rows[:, 2] + np.sin(rows[:, 3]) + rows[:, 5] ** 2 - rows[:, 1] * rows[:, 4]
        return (1 / (1 + np.exp(-z)))[:, None]

    phi, at_x, at_ref, method = D.group_shapley(value, x, ref, groups)
    expected = _brute_force_shapley(value, x, ref, groups)
    for g in groups:
        assert phi[g][0] == pytest.approx(expected[g], abs=1e-12)
    assert sum(p[0] for p in phi.values()) == pytest.approx(at_x[0] - at_ref[0], abs=1e-12)
    assert method == "exact"


def test_sampled_shapley_adds_up_and_is_close(monkeypatch):
    rng = np.random.default_rng(1)
    x, ref = rng.normal(size=5), rng.normal(size=5)
    groups = {g: [i] for i, g in enumerate("abcde")}

    def value(rows):
        return np.tanh(rows @ np.arange(1, 6) / 5 + rows[:, 0] * rows[:, 1])[:, None]

    exact, at_x, at_ref, _ = D.group_shapley(value, x, ref, groups)
    monkeypatch.setattr(D, "EXACT_LIMIT", 2)
    sampled, _, _, method = D.group_shapley(value, x, ref, groups, seed=3)
    assert method.startswith("sampled")
    assert sum(p[0] for p in sampled.values()) == pytest.approx(at_x[0] - at_ref[0], abs=1e-12)
    for g in groups:
        assert sampled[g][0] == pytest.approx(exact[g][0], abs=0.02)


def test_marker_words_name_an_old_last_result():
    """The MRD driver group carries the days since the last sample: a visit long after it says
    so, instead of naming only the (old) undetectable results."""
    m = pd.DataFrame({"marker": ["mrd_mfc"] * 2, "day": [30.0, 58.0], "value": [0.0, 0.0]})
    words = D._marker_words(m, "mrd_mfc", "MRD (flow)", 150.0, D._pct, "", "max")
    assert words == "MRD (flow) undetectable on days 30 and 58, none in the 92 days since"
    # a result from this visit's window is not called old
    assert D._marker_words(m, "mrd_mfc", "MRD (flow)", 60.0, D._pct, "", "max") == (
        "MRD (flow) undetectable on days 30 and 58"
    )
    one = m.iloc[:1]
    assert D._marker_words(one, "mrd_mfc", "MRD (flow)", 90.0, D._pct, "", "max") == (
        "MRD (flow) undetectable on day 30, none in the 60 days since"
    )

def test_background_summary_uses_medians_and_category_modes():
    X = pd.DataFrame(
        {
            "age": [30, 40, np.nan, 70.0],
            "donor_type_MUD": [1, 0, 0, 0.0],
            "donor_type_haplo": [0, 1, 1, 0.0],
            "hct_ci": [np.nan] * 4,
        }
    )
    s = D.background_summary(X)
    assert s["reference"]["age"] == 40.0 and s["reference"]["hct_ci"] is None
    assert s["reference"]["donor_type_haplo"] == 1.0 and s["reference"]["donor_type_MUD"] == 0.0
    assert s["n_rows"] == 4 and math.isclose(s["mean"]["age"], 140 / 3)
