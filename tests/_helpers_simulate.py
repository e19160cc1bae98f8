"""Shared by the simulator tests: an independent Aalen–Johansen, the landmark outcome of a
trial, and the latent state of randomized patients at randomization."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.data.outcome import derive_outcome
from relapse_ml.simulate import SimulatedTrial

L, TAU = 60, 730


# ---- independent helpers -------------------------------------------------------------
def brute_aalen_johansen(time, event, t_eval, cause=1) -> float:
    """Cumulative incidence of ``cause`` at ``t_eval`` by a plain loop over event times."""
    time, event = np.asarray(time, float), np.asarray(event, int)
    surv, cif = 1.0, 0.0
    for t in np.unique(time[event > 0]):
        if t > t_eval:
            break
        at_risk = np.sum(time >= t)
        d_cause = np.sum((time == t) & (event == cause))
        d_any = np.sum((time == t) & (event > 0))
        cif += surv * d_cause / at_risk
        surv *= 1.0 - d_any / at_risk
    return cif


def landmark_outcome(trial: SimulatedTrial, landmark=L, horizon=TAU) -> pd.DataFrame:
    """Per randomized patient at risk at the landmark: arm, time from L (censored at tau), event."""
    out = derive_outcome(trial.patients, trial.measurements, trial.events)
    p = trial.patients.set_index("patient_id")
    df = out.join(p[["arm", "age", "hct_ci"]])
    df = df[df["arm"].notna() & (df["time"] > landmark)].copy()
    df["t"] = df["time"] - landmark
    df["e"] = np.where(df["t"] > horizon, 0, df["event"])
    df["t"] = np.minimum(df["t"], horizon + 1)
    return df


def _states_at_randomization(n: int, seed: int):
    """Kinetics and latent state at randomization of ``n`` randomized patients (internal API)."""
    from relapse_ml.simulate import trial as T
    from relapse_ml.simulate.disease import drug_sensitivity
    from relapse_ml.simulate.params import GeneratorParams
    from relapse_ml.simulate.scenarios import get_scenario

    P, scen = GeneratorParams(), get_scenario("mrd_driven")
    c, reason, _, _ = T._screen_until(n, seed, scen, P)
    rand = np.flatnonzero(reason == "")
    kin, st = c.kinetics.take(rand), c.state.take(rand)
    kin.sensitivity = drug_sensitivity(kin, st, scen, P)
    return kin, st, scen, P
