"""Null calibration, small and fast: with no treatment effect the heterogeneity test and the
Holm-corrected subgroup interactions reject at about the nominal 5%, not more.

The null data sets are one simulated null trial with its arm labels re-randomized 20 times
(1:1, as in the trial): under "no effect" every re-randomization is an equally likely trial.
With 20 replicates at a true rate of 5%, five or more rejections happen with probability
0.0026, so the bound below fails only for a test that is really anti-conservative (the
naive all-data AUTOC, for example, rejected up to 15% of 100 null trials at n = 346).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from relapse_ml.benefit.arm_stats import holm
from relapse_ml.benefit.config import BenefitConfig
from relapse_ml.benefit.run import benefit_data, sequential_validation
from relapse_ml.benefit.subgroups import interaction_pvalues, subgroup_frame, subgroup_levels

N_REPLICATES = 20
MAX_REJECTIONS = 4  # P(X >= 5) = 0.0026 for X ~ Binomial(20, 0.05)


def test_bound_is_what_the_docstring_says():
    assert stats.binom.sf(MAX_REJECTIONS, N_REPLICATES, 0.05) == pytest.approx(0.0026, abs=1e-4)


def test_null_rejection_rate_is_nominal():
    from relapse_ml.simulate import simulate_trial

    trial = simulate_trial(n=346, seed=5, scenario="null", truth=False)
    cohort = trial.to_cohort()
    cfg = BenefitConfig(
        learners=[{"kind": "s", "label": "s_risk", "interactions": []}],
        heterogeneity={"n_boot": 100},
    )
    data = benefit_data(cohort, cfg)
    levels = subgroup_levels(subgroup_frame(cohort, data.patient_id, 60), cfg.subgroups.names)
    rng = np.random.default_rng(2024)
    het, sub = 0, 0
    for r in range(N_REPLICATES):
        arm = rng.permutation(data.arm)
        d = type(data)(
            X=data.X,
            time=data.time,
            event=data.event,
            arm=arm,
            patient_id=data.patient_id,
            tau=data.tau,
        )
        seq = sequential_validation(cfg, d, n_boot=100, seed=r)
        p_het = seq[("s_risk", "relapse")]["autoc"]["p"]
        het += bool(np.isfinite(p_het) and p_het < 0.05)
        p = np.array(list(interaction_pvalues(d.time, d.event, d.arm, levels).values()))
        sub += bool(np.nanmin(holm(p)) < 0.05)
    assert het <= MAX_REJECTIONS, f"heterogeneity test rejected {het}/{N_REPLICATES}"
    assert sub <= MAX_REJECTIONS, f"Holm subgroup interaction rejected {sub}/{N_REPLICATES}"
