"""Benchmark: fixed-weight blends of the default's candidates (issue 10, day 180 target).

Measures before building: is the plain mean of the default's members' cumulative incidences
(nothing fitted, so no nested CV is needed) better than the careful landmark Cox and the
shipped default at every visit? Same simulated trials as ``benchmark_visits`` (training trial
seed s, independent test trial 1000 + s, truth at every landmark), same careful Cox, same
metrics (`benchmark_visits.metrics`).

Per seed the four candidates of the default (``super_cox``, ``super_xgb``, ``super_traj_cox``,
``super_traj_xgb``: `benchmark_visits.fit_variant`, fitted once on the stacked landmarks
60–365 of the training trial) predict the test patients' relapse incidence at τ at each
landmark; the predictions are cached in ``benchmark_blend_preds/seed_S.npz`` (simulated
patients only), so blends are recomputed without refitting. Blends (weights fixed in advance,
never chosen on the test set):

- ``blend_traj``: equal weights on the two trajectory models — the pre-specified candidate;
- ``blend_all``: equal weights on all four;
- ``blend_traj_cox75`` / ``blend_traj_xgb75``: 3:1 weightings, a sensitivity check only.

The shipped default (its CV picks one of the two trajectory models per seed) is read from
``benchmark_visits_5seeds.jsonl`` (same seeds and sizes). Run it niced:

    nice -n 10 .venv/bin/python experiments/benchmark_blend.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchmark_visits as bv  # noqa: E402  (one data generation, careful Cox and metrics)

RESULTS = HERE / "results"
STEM = "benchmark_blend"
MEMBERS = ("super_cox", "super_xgb", "super_traj_cox", "super_traj_xgb")
BLENDS = {
    "blend_traj": {"super_traj_cox": 0.5, "super_traj_xgb": 0.5},
    "blend_all": {m: 0.25 for m in MEMBERS},
    "blend_traj_cox75": {"super_traj_cox": 0.75, "super_traj_xgb": 0.25},
    "blend_traj_xgb75": {"super_traj_cox": 0.25, "super_traj_xgb": 0.75},
}
SHIPPED = RESULTS / "benchmark_visits_5seeds.jsonl"
# ``--xgb``: other settings of the trajectory step's booster (pre-specified, all reported; a
# setting is a candidate for the run's CV, never chosen on these test sets): name ->
# (model_params, random states — several: the mean of one booster per state, a seed bag)
BASE_XGB = {"n_estimators": 300, "learning_rate": 0.03, "max_depth": 2, "min_child_weight": 5}
XGB_SETTINGS = {
    "xgb_d3": ({**BASE_XGB, "max_depth": 3}, (0,)),
    "xgb_600": ({**BASE_XGB, "n_estimators": 600}, (0,)),
    "xgb_bag5": (BASE_XGB, (0, 1, 2, 3, 4)),
}


def predictions(seed: int, n_train: int, n_test: int, draws: int, cache: Path) -> dict:
    """Per landmark: test patient ids, truth, careful Cox and each member's risk at τ."""
    from relapse_ml.features import DEFAULT_FEATURES
    from relapse_ml.landmark import landmark_dataset, super_landmark_dataset

    path = cache / f"seed_{seed}_{n_train}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return {k: z[k] for k in z.files}
    t0 = time.time()
    sim_tr = bv.simulate(n_train, seed, draws)
    sim_te = bv.simulate(n_test, 1000 + seed, draws, landmarks=list(bv.LANDMARKS))
    tr_c, te_c = sim_tr.to_cohort(), sim_te.to_cohort()
    print(f"seed {seed}: simulated in {time.time() - t0:.0f}s", flush=True)
    stacked = super_landmark_dataset(tr_c, bv.LANDMARKS, bv.HORIZON,
                                     features=[*DEFAULT_FEATURES, "marker_history"])
    out: dict[str, np.ndarray] = {}
    fitted = {}
    for name in MEMBERS:
        est, cpu = bv.fit_variant(name, stacked)
        fitted[name] = (est, list(stacked.X.columns))
        out[f"fit_cpu_s:{name}"] = np.array(cpu)
        print(f"  {name}: fitted in {cpu:.0f} CPU s", flush=True)
    truth = sim_te.truth_at_landmarks.set_index(["landmark_day", "patient_id"])["risk"]
    for L in bv.LANDMARKS:
        tr = landmark_dataset(tr_c, L, bv.HORIZON, features=DEFAULT_FEATURES)
        te = landmark_dataset(te_c, L, bv.HORIZON, features=DEFAULT_FEATURES)
        t_l = truth.loc[float(L)].reindex(te.patient_id).to_numpy(float)
        keep = ~np.isnan(t_l)
        te, t_l = te.select(keep), t_l[keep]
        out[f"{L}:truth"] = t_l
        out[f"{L}:careful_cox"] = bv.careful_cox(tr, te)
        for name, (est, cols) in fitted.items():
            out[f"{L}:{name}"] = bv.predict_variant(est, cols, te_c, L, te.patient_id)
        # what the metrics need of the outcomes (training: the null model's Aalen–Johansen)
        out[f"{L}:tr_time"], out[f"{L}:tr_event"] = tr.time, tr.event
        out[f"{L}:te_time"], out[f"{L}:te_event"] = te.time, te.event
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    return out


def xgb_predictions(seed: int, n_train: int, n_test: int, draws: int, cache: Path,
                    base: dict) -> dict:
    """``--xgb``: each `XGB_SETTINGS` trajectory booster's risk at τ per landmark (same rows
    as ``base``, the cached first stage)."""
    from relapse_ml.features import DEFAULT_FEATURES
    from relapse_ml.landmark import super_landmark_dataset
    from relapse_ml.models import make_model

    path = cache / f"seed_{seed}_{n_train}_xgb.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        return {k: z[k] for k in z.files}
    tr_c = bv.simulate(n_train, seed, draws).to_cohort()
    sim_te = bv.simulate(n_test, 1000 + seed, draws, landmarks=list(bv.LANDMARKS))
    te_c = sim_te.to_cohort()
    truth = sim_te.truth_at_landmarks.set_index(["landmark_day", "patient_id"])["risk"]
    stacked = super_landmark_dataset(tr_c, bv.LANDMARKS, bv.HORIZON,
                                     features=[*DEFAULT_FEATURES, "marker_history"])
    cols = list(stacked.X.columns)
    ids = {L: _test_ids(te_c, truth, L, base[f"{L}:te_time"].size) for L in bv.LANDMARKS}
    out: dict[str, np.ndarray] = {}
    for name, (params, states) in XGB_SETTINGS.items():
        t0 = time.process_time()
        models = []
        for rs in states:
            est = make_model("trajectory", model="xgb_cs",
                             model_params={**params, "random_state": rs})
            models.append(est.fit(stacked.X, stacked.time, stacked.event,
                                  groups=stacked.patient_id))
        out[f"fit_cpu_s:{name}"] = np.array(time.process_time() - t0)
        for L in bv.LANDMARKS:
            out[f"{L}:{name}"] = np.mean([bv.predict_variant(m, cols, te_c, L, ids[L])
                                          for m in models], axis=0)
        print(f"  {name}: fitted in {float(out[f'fit_cpu_s:{name}']):.0f} CPU s", flush=True)
    np.savez_compressed(path, **out)
    return out


def _test_ids(te_c, truth, L, n_expected):
    """The test patients at risk at L with truth, in the first stage's order."""
    from relapse_ml.features import DEFAULT_FEATURES
    from relapse_ml.landmark import landmark_dataset

    te = landmark_dataset(te_c, L, bv.HORIZON, features=DEFAULT_FEATURES)
    t_l = truth.loc[float(L)].reindex(te.patient_id).to_numpy(float)
    ids = np.asarray(te.patient_id)[~np.isnan(t_l)]
    assert ids.size == n_expected, (L, ids.size, n_expected)
    return ids


class _Outcomes:
    def __init__(self, time, event):
        self.time, self.event = np.asarray(time, float), np.asarray(event, int)

    def __len__(self) -> int:
        return self.time.size


def evaluate(seed: int, preds: dict, n_train: int) -> list[dict]:
    """Metrics of every member, blend and (with ``--xgb``) booster setting, alone and in an
    equal blend with the trajectory Cox (``blend_<setting>``)."""
    rows = []
    extra = [k.split(":", 1)[1] for k in preds if k.startswith(f"{bv.LANDMARKS[0]}:xgb_")]
    for L in bv.LANDMARKS:
        tr = _Outcomes(preds[f"{L}:tr_time"], preds[f"{L}:tr_event"])
        te = _Outcomes(preds[f"{L}:te_time"], preds[f"{L}:te_event"])
        t_l = preds[f"{L}:truth"]
        risks = {m: preds[f"{L}:{m}"] for m in ("careful_cox", *MEMBERS)}
        risks["oracle"] = t_l
        for name, w in BLENDS.items():
            risks[name] = sum(wm * preds[f"{L}:{m}"] for m, wm in w.items())
        for name in extra:
            risks[name] = preds[f"{L}:{name}"]
            risks[f"blend_{name}"] = (preds[f"{L}:{name}"] + preds[f"{L}:super_traj_cox"]) / 2
        for m, risk in risks.items():
            rows.append({"kind": "eval", "seed": seed, "landmark": L, "model": m,
                         "n_train": n_train, "n_test_at_risk": int(t_l.size),
                         **bv.metrics(tr, te, risk, t_l)})
    return rows


def shipped_rows(n_train: int, seeds) -> list[dict]:
    if not SHIPPED.exists():
        return []
    rows = [json.loads(x) for x in SHIPPED.read_text().splitlines()]
    return [r for r in rows if r["kind"] == "eval" and r["model"] == "shipped_default"
            and r["n_train"] == n_train and r["seed"] in seeds]


ORDER = ("careful_cox", "shipped_default", *MEMBERS, *BLENDS, *XGB_SETTINGS,
         *(f"blend_{x}" for x in XGB_SETTINGS), "oracle")


def render(rows: list[dict], fit_cpu: dict) -> str:
    ev = pd.DataFrame(rows)
    seeds = sorted(ev.seed.unique())
    lines = ["# Fixed-weight blends of the default's candidates, every visit", "",
             f"Same trials as `benchmark_visits` (train {int(ev.n_train.iloc[0]):,}, independent "
             f"test 1,500, seeds {', '.join(map(str, seeds))}); C = Wolbers' C-index for relapse "
             "at τ = 729.5 days from L; slope = OLS of the true on the predicted risk. The members "
             "are fitted once on the stacked landmarks (no CV); `shipped_default` is read from "
             "`benchmark_visits_5seeds.jsonl` (its CV picks one of the trajectory models). "
             "Weights are fixed in advance: `blend_traj` = ½ cox_cs_trajectory + ½ "
             "xgb_cs_trajectory (the pre-specified candidate), `blend_all` = ¼ each of the four, "
             "the 3:1 blends are a sensitivity check. Mean ± SD over seeds.", "",
             "| L | model | C-index | IPA | slope vs truth | mean pred − true | RMSE vs truth | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    lines += bv.landmark_rows(ev, ORDER)
    for metric, label in (("c_index", "C-index"), ("ipa", "IPA")):
        lines += ["", f"Paired {label} differences (mean ± SD over seeds; "
                  "positive = the first is better):", ""]
        piv = ev.pivot_table(index=["landmark", "seed"], columns="model", values=metric)
        pairs = [(b, "careful_cox") for b in (*BLENDS, "super_traj_cox", "super_traj_xgb",
                                             "shipped_default")]
        pairs += [(b, "shipped_default") for b in BLENDS]
        pairs += [("blend_traj", "super_traj_cox"), ("blend_traj", "super_traj_xgb")]
        pairs += [(x, "super_traj_xgb") for x in XGB_SETTINGS]
        pairs += [(f"blend_{x}", "blend_traj") for x in XGB_SETTINGS]
        pairs += [(f"blend_{x}", "careful_cox") for x in XGB_SETTINGS]
        for a, b in pairs:
            if a in piv and b in piv:
                d = (piv[a] - piv[b]).dropna().groupby(level=0)
                parts = [f"day {L:g}: {v.mean():+.3f} ± {v.std(ddof=1):.3f}" for L, v in d]
                lines.append(f"- {a} − {b}: " + "; ".join(parts))
    if fit_cpu:
        lines += ["", "Fit CPU s of each member on the stacked landmarks (one fit, no CV; the two "
                  "trajectory models share one trajectory fit through the in-process cache, "
                  "which the first of them pays): " + "; ".join(
                      f"{m} {np.mean(v):.0f} ± {np.std(v, ddof=1) if len(v) > 1 else 0:.0f}"
                      for m, v in fit_cpu.items()) + f" (load average {os.getloadavg()[0]:.1f} "
                  "at the end)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--n-train", type=int, default=2500)
    ap.add_argument("--n-test", type=int, default=1500)
    ap.add_argument("--truth-draws", type=int, default=32)
    ap.add_argument("--xgb", action="store_true",
                    help="also the trajectory booster's other settings (XGB_SETTINGS)")
    ap.add_argument("--stem", default=STEM)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    cache = a.out / f"{a.stem}_preds"
    rows, fit_cpu = [], {m: [] for m in (*MEMBERS, *(XGB_SETTINGS if a.xgb else ()))}
    for s in a.seeds:
        preds = predictions(s, a.n_train, a.n_test, a.truth_draws, cache)
        if a.xgb:
            preds = {**preds, **xgb_predictions(s, a.n_train, a.n_test, a.truth_draws, cache,
                                                preds)}
        for m in fit_cpu:
            fit_cpu[m].append(float(preds[f"fit_cpu_s:{m}"]))
        rows += evaluate(s, preds, a.n_train)
        (a.out / f"{a.stem}.md").write_text(render(rows + shipped_rows(a.n_train, a.seeds[:a.seeds.index(s) + 1]),
                                                   fit_cpu))
    text = render(rows + shipped_rows(a.n_train, a.seeds), fit_cpu)
    (a.out / f"{a.stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
