"""The truth tables of a simulated trial: risks at the landmark given the state at
randomization (`truth_table`), and at later landmarks given the state then
(`truth_at_landmarks_table`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.simulate.observe import interpolate_nodes
from relapse_ml.simulate.state import concat_rows
from relapse_ml.simulate.truth import (
    TRUTH_AT_COLUMNS,
    TRUTH_COLUMNS,
    landmark_truth,
    truth_at_landmark,
)


def truth_table(
    ids, course, rand_idx, reason, kin, at_r, scen, P, landmark, horizon, draws, rng
) -> pd.DataFrame:
    n = len(ids)
    L = float(landmark)
    at_risk = course.is_rand & ~(course.t_relapse <= L) & ~(course.t_death <= L)
    df = pd.DataFrame({"patient_id": ids, "at_risk_at_landmark": at_risk})
    for name in TRUTH_COLUMNS:
        df[name] = np.nan
    if draws and at_risk.any():
        # computed for every randomized patient (then masked), so that which patients are
        # at risk in their assigned arm cannot change anyone's random numbers
        res = landmark_truth(kin, at_r, scen, P, L, float(horizon), int(draws), rng)
        rows = np.flatnonzero(course.is_rand)
        keep = at_risk[rows]
        for name in TRUTH_COLUMNS:
            df.loc[rows[keep], name] = res[name][course.rand_pos[rows[keep]]]
    x_l = interpolate_nodes(course.x_nodes, course.rand_day, np.full((n, 1), L))[:, 0]
    df["burden_landmark"] = np.where(at_risk, np.round(x_l.astype(float), 4), np.nan)
    r_day = course.rand_day
    x_r = interpolate_nodes(course.x_nodes, r_day, r_day[:, None])[:, 0]
    df["burden_randomization"] = np.where(course.is_rand, np.round(x_r.astype(float), 4), np.nan)
    df["screen_reason"] = np.where(course.is_rand, "randomized", reason[course.take_idx])
    return df


def truth_at_landmarks_table(
    ids, course, kin, snapshots, scen, P, horizon, draws, rng_for
) -> pd.DataFrame:
    """Long table of the truth at each later landmark (see `simulate_trial`).

    ``snapshots``: landmark day -> ``[(rows, state, node), ...]`` collected by the follow-up
    (rows index the randomized patients); ``rng_for(day)`` gives the landmark's random stream.
    """
    cols = ["patient_id", "landmark_day", "arm", *TRUTH_AT_COLUMNS, "burden_landmark"]
    out = []
    pid = np.flatnonzero(course.is_rand)  # output row of each randomized patient, by position
    pid = pid[np.argsort(course.rand_pos[pid])]
    for day in list(snapshots):
        parts = snapshots.pop(day)  # each landmark's copy is freed once its truth is known
        if not parts:
            continue
        rows = np.concatenate([p[0] for p in parts])
        state = concat_rows([p[1] for p in parts])
        node = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
        out_rows = pid[rows]
        keep = ~(course.t_relapse[out_rows] <= day) & ~(course.t_death[out_rows] <= day)
        rows, node, out_rows = rows[keep], node[keep], out_rows[keep]
        state = state.take(np.flatnonzero(keep))
        res = truth_at_landmark(
            kin.take(rows), state, node, scen, P, day, float(horizon), int(draws),
            rng_for(day),
        )
        df = pd.DataFrame({"patient_id": ids[out_rows], "landmark_day": day,
                           "arm": np.where(course.on_sorafenib[out_rows], "sorafenib", "control")})
        for name in TRUTH_AT_COLUMNS:
            df[name] = res[name]
        x_l = interpolate_nodes(
            course.x_nodes[out_rows], course.rand_day[out_rows], np.full((len(out_rows), 1), day)
        )[:, 0]
        df["burden_landmark"] = np.round(x_l.astype(float), 4)
        out.append(df.sort_values("patient_id"))
    if not out:
        return pd.DataFrame({c: [] for c in cols})
    return pd.concat(out, ignore_index=True)[cols]
