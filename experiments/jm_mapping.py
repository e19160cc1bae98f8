"""Where the day-60 gap to the data's ceiling is (issue 10; joint-model simulator).

The ceiling (`jm_diagnose.bayes_data`) is each patient's posterior expected true risk under
the TRUE generating model. Two things separate a fitted model from it: the posterior of the
latent course (the trajectory step estimates it; the ceiling knows it exactly) and the
mapping from that posterior to a two-year risk (a model learns it from 2,500 patients; the
ceiling knows it). This study swaps in the exact posterior to tell the two apart:

* careful Cox — the peer (`benchmark_trajectory.careful_features`, `cox_cs`);
* + trajectory step — the careful Cox with the trajectory step's features (fitted on the
  training patients, the toolkit's estimate of the posterior);
* + exact posterior — the careful Cox with the EXACT posterior mean and SD of the latent
  log10 MRD at L and of its slope (importance sampling under the true model, the same
  draws as the ceiling; evaluation-only information, never available to a model);
* the same in a two-window Cox (coefficients free before and after 180 days from L: the
  slope's hazard ratio grows with time in this generator, which one proportional-hazards
  fit averages);
* XGBoost regression of the TRUE risk (no outcome noise at all) on the careful features
  + the exact posterior, and on the careful features + the trajectory step: how far a
  flexible learner gets from 2,500 patients when even the outcome's noise is removed;
* the ceiling itself.

Evaluation code: it reads the generator's parameters and latent values.

    nice -n 10 .venv/bin/python experiments/jm_mapping.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchmark_trajectory as bt  # noqa: E402
import benchmark_visits as bv  # noqa: E402
import jm_diagnose as jd  # noqa: E402
import jm_simulator as jm  # noqa: E402

OUT = HERE / "results" / "jm_mapping.jsonl"
SPLIT = 180.0  # days from L: the two-window Cox's change point

MODELS = {
    "careful": "careful landmark Cox (peer)",
    "careful_step": "careful Cox + trajectory step features",
    "careful_exact": "careful Cox + EXACT posterior (level, slope, their SDs)",
    "careful_exact_2win": "the same, two-window Cox (coefficients free after 180 days)",
    "xgb_truth_step": "XGBoost fitted to the TRUE risk: careful + trajectory step",
    "xgb_truth_exact": "XGBoost fitted to the TRUE risk: careful + EXACT posterior",
    "bayes": "the data's ceiling (posterior expected true risk)",
}


def _fit(X, time, event):
    from relapse_ml.models import make_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_model("cox_cs").fit(X, time, event)


def cox_risk(Xtr, tr, Xte) -> np.ndarray:
    return _fit(Xtr, tr.time, tr.event).predict_cif(Xte, [bv.TAU], cause=1)[:, 0]


def two_window_risk(Xtr, tr, Xte, split: float = SPLIT) -> np.ndarray:
    """Relapse incidence at TAU from two Cox fits: (0, split] and, among those event-free
    at split, (split, TAU] — F(TAU) = F1(split) + S(split) · F1(TAU − split | split)."""
    t, e = np.asarray(tr.time, float), np.asarray(tr.event)
    first = _fit(Xtr, np.minimum(t, split), np.where(t <= split, e, 0))
    late = t > split
    second = _fit(Xtr[late].reset_index(drop=True), t[late] - split, e[late])
    ci = first.predict_cumulative_incidence(Xte, [split])
    return ci[:, 1, 0] + ci[:, 0, 0] * second.predict_cif(Xte, [bv.TAU - split], cause=1)[:, 0]


def xgb_on_truth(Xtr, y, Xte, seed: int) -> np.ndarray:
    import xgboost as xgb

    ok = ~np.isnan(y)
    m = xgb.XGBRegressor(n_estimators=300, max_depth=3, learning_rate=0.05, subsample=0.8,
                         random_state=seed, n_jobs=1)
    m.fit(Xtr[ok], y[ok])
    return m.predict(Xte)


def _visible(X: pd.DataFrame) -> pd.DataFrame:
    return X[[c for c in X.columns if not str(c).startswith("_obs:")]].reset_index(drop=True)


def run(seeds, n_train: int, n_test: int, K: int, out: Path, L: float = 60.0) -> list[dict]:
    from relapse_ml.features import DEFAULT_FEATURES
    from relapse_ml.landmark import landmark_dataset

    done = {json.loads(x)["seed"] for x in out.read_text().splitlines()} if out.exists() else set()
    for s in seeds:
        if s in done:
            continue
        sim_tr = jm.simulate_jm(n_train, s, truth_landmarks=[L])
        sim_te = jm.simulate_jm(n_test, 1000 + s, truth_landmarks=[L])
        feats = [*DEFAULT_FEATURES, "marker_history"]
        tr = landmark_dataset(sim_tr.to_cohort(), L, bv.HORIZON, features=feats)
        te = landmark_dataset(sim_te.to_cohort(), L, bv.HORIZON, features=feats)

        def truth(sim, ids):
            t = sim.truth_at_landmarks.set_index(["landmark_day", "patient_id"])["risk"]
            return t.loc[float(L)].reindex(ids).to_numpy(float)

        t_tr, t_te = truth(sim_tr, tr.patient_id), truth(sim_te, te.patient_id)
        keep = ~np.isnan(t_te)
        te, t_te = te.select(keep), t_te[keep]
        ctr, cte = _visible(bt.careful_features(tr.X)), _visible(bt.careful_features(te.X))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            step = bt.make_step().fit(tr.X, tr.time, tr.event)
            ftr, fte = step.transform(tr.X), step.transform(te.X)
        tcols = [c for c in ftr.columns if str(c).startswith("traj_")]
        s_tr = pd.concat([ctr, ftr[tcols].reset_index(drop=True)], axis=1)
        s_te = pd.concat([cte, fte[tcols].reset_index(drop=True)], axis=1)
        *_, p_tr = jd.bayes_data(sim_tr, L, tr.patient_id, K=K, seed=s, summaries=True)
        bayes, _, _, p_te = jd.bayes_data(sim_te, L, te.patient_id, K=K, seed=s, summaries=True)
        e_tr, e_te = pd.concat([ctr, p_tr], axis=1), pd.concat([cte, p_te], axis=1)
        risks = {
            "careful": cox_risk(ctr, tr, cte),
            "careful_step": cox_risk(s_tr, tr, s_te),
            "careful_exact": cox_risk(e_tr, tr, e_te),
            "careful_exact_2win": two_window_risk(e_tr, tr, e_te),
            "xgb_truth_step": xgb_on_truth(s_tr, t_tr, s_te, s),
            "xgb_truth_exact": xgb_on_truth(e_tr, t_tr, e_te, s),
            "bayes": bayes,
        }
        row = {"seed": s, "landmark": L, "n_train": n_train, "n_test": len(t_te), "draws": K}
        for name, r in risks.items():
            row[f"{name}_c"] = bv.metrics(tr, te, r, t_te)["c_index"]
        with out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()},
              flush=True)
    return [json.loads(x) for x in out.read_text().splitlines()]


def render(rows: list[dict]) -> str:
    df = pd.DataFrame(rows)
    base = df["careful_c"].to_numpy(float)
    lines = ["# Joint-model simulator, day 60: posterior or mapping? (`experiments/jm_mapping.py`)",
             "", f"Train {int(df['n_train'].iloc[0]):,} / independent test trial, seeds "
             f"{', '.join(str(int(s)) for s in df['seed'])}; Wolbers' C for relapse at "
             f"τ = {bv.TAU} days from L; ΔC paired with the careful Cox on the same seed; mean ± "
             "SD over seeds. Rows marked EXACT or TRUE use evaluation-only information.", "",
             "| model | C-index | ΔC vs careful Cox | seeds ΔC ≥ +0.01 |", "|---|---|---|---|"]
    for key, label in MODELS.items():
        c = df[f"{key}_c"].to_numpy(float)
        d = c - base
        delta = "—" if key == "careful" else f"{d.mean():+.4f} ± {d.std(ddof=1):.4f}"
        hits = "—" if key == "careful" else f"{int(np.sum(d >= 0.01))}/{len(d)}"
        lines.append(f"| {label} | {c.mean():.4f} ± {c.std(ddof=1):.4f} | {delta} | {hits} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--n-train", type=int, default=2500)
    ap.add_argument("--n-test", type=int, default=1500)
    ap.add_argument("--draws", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args(argv)
    rows = run(a.seeds, a.n_train, a.n_test, a.draws, a.out)
    a.out.with_suffix(".md").write_text(render(rows))
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
