"""A TPE sampler whose random draws depend on the trial number, not on the process's history.

Optuna's TPESampler(seed=s) draws from one random stream per process: two workers started
with the same seed would propose the same parameters for their first trials. Re-seeding
from (seed, trial number) keeps one worker exactly reproducible and gives concurrent
workers distinct draws, since the storage hands out each trial number once.
"""

from __future__ import annotations

import numpy as np


def trial_seeded_tpe(seed: int, n_startup_trials: int = 10):
    """A sampler delegating to a fresh ``TPESampler(seed=f(seed, trial.number))`` for each trial."""
    from optuna.samplers import BaseSampler, TPESampler

    class TrialSeededTPE(BaseSampler):
        def __init__(self):
            self._inner = TPESampler(seed=seed, n_startup_trials=n_startup_trials)

        def before_trial(self, study, trial):
            # SeedSequence mixes the pair well; the 32-bit state is what TPESampler accepts
            state = int(np.random.SeedSequence([seed, trial.number]).generate_state(1)[0])
            self._inner = TPESampler(seed=state, n_startup_trials=n_startup_trials)
            self._inner.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self._inner.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self._inner.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self._inner.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            self._inner.after_trial(study, trial, state, values)

        def reseed_rng(self):
            self._inner.reseed_rng()

    return TrialSeededTPE()
