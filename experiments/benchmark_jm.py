"""Benchmark on the joint-model simulator (issue 10): do the toolkit's models beat the
careful landmark Cox when the marker trajectories carry the disease course?

Data: `jm_simulator.simulate_jm` with its pre-registered parameters
(`results/jm_calibration.md`; not changed after it was committed). For each seed a training
trial (``--n-train`` randomized, seed s) and an independent test trial (``--n-test``, seed
1000 + s). At landmarks 60 and 180, on the test patients at risk at L:

- ``careful_cox``: the peer, a landmark cause-specific Cox fitted by hand AT THAT LANDMARK
  (`benchmark_visits.careful_cox`);
- ``shipped_default``: the default pipeline (configs/default.yaml as shipped — stacked
  landmarks 60–365 — via `run_training`, n_boot 0: `benchmark_visits.train_pipeline` /
  `predict_pipeline`), trained once, scored at L;
- ``cox_traj``: the Cox trajectory model (`trajectory` step around `cox_cs`) fitted at that
  landmark (`benchmark_trajectory.fit_predict("cox_default_traj")`);
- ``careful_cox_traj``: the careful Cox design plus the trajectory features (same place);
- ``ceiling_traj`` (diagnostic): XGBoost regression of the TRUE risk of the training
  patients on the default + trajectory features — what these features can reach at most;
- ``oracle``: the truth as the score.

Metrics (`benchmark_visits.metrics`): Wolbers' C-index for relapse at τ = 729.5 days from L,
IPA against the training Aalen–Johansen, calibration slope / mean difference / RMSE against
the truth; paired C differences to the careful Cox (mean ± SD over seeds). Each
(seed, landmark, model) row is appended to ``benchmark_jm.jsonl``; a rerun skips finished rows.

    nice -n 10 .venv/bin/python experiments/benchmark_jm.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import benchmark_trajectory as bt  # noqa: E402
import benchmark_visits as bv  # noqa: E402
from benchmark_pipelines import pipeline_config  # noqa: E402
from benchmark_visits_render import mean_sd as _ms  # noqa: E402
from jm_simulator import simulate_jm  # noqa: E402

RESULTS = HERE / "results"
STEM = "benchmark_jm"
LANDMARKS = (60, 180)
MODELS = ("careful_cox", "shipped_default", "cox_traj", "careful_cox_traj", "ceiling_traj",
          "oracle")
# step 4 (diagnosis): the Cox trajectory model with the EM run to 400 iterations (default 50);
# baseline covariates in the trajectory step's random-effect mean (``covariates: default``):
# the Cox trajectory model and the default pipeline (its four trajectory models) with them,
# and ``shipped_default`` again under another name when the default has changed since
VARIANTS = ("cox_traj_em400", "cox_traj_cov", "default_cov", "default_now", "default_coxcov",
            "default_blend3")
PEER = "careful_cox"
TARGET_C60 = 0.690
LABELS = {"careful_cox": "careful landmark Cox (peer, fitted at L)",
          "shipped_default": "default pipeline (as shipped, run_training)",
          "cox_traj": "Cox trajectory model (fitted at L)",
          "careful_cox_traj": "careful Cox + trajectory features (fitted at L)",
          "ceiling_traj": "feature ceiling (XGB on true risk, + trajectory features)",
          "oracle": "oracle (truth)",
          "cox_traj_em400": "Cox trajectory model, EM 400 iterations (fitted at L)",
          "cox_traj_cov": "Cox trajectory model, covariates: default (fitted at L)",
          "default_cov": "default pipeline, trajectory covariates: default",
          "default_now": "default pipeline (as shipped now)",
          "default_coxcov": "default pipeline, covariates: default on cox_cs_trajectory only",
          "default_blend3": "default pipeline + its Cox trajectory model by landmark in the blend"}


def _load(out: Path) -> list[dict]:
    return [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []


def run(seeds, landmarks, n_train, n_test, out: Path, models=MODELS,
        visit_days=None) -> list[dict]:
    from relapse_ml.features import DEFAULT_FEATURES
    from relapse_ml.landmark import landmark_dataset

    rows = _load(out)
    done = {(r["kind"], r["seed"], r.get("landmark"), r["model"]) for r in rows
            if r["n_train"] == n_train}
    for s in seeds:
        todo = [(L, m) for L in landmarks for m in models if ("eval", s, L, m) not in done]
        if not todo:
            continue
        sim_tr = simulate_jm(n_train, s, truth_landmarks=landmarks, visit_days=visit_days)
        sim_te = simulate_jm(n_test, 1000 + s, truth_landmarks=landmarks, visit_days=visit_days)
        tr_c, te_c = sim_tr.to_cohort(), sim_te.to_cohort()
        predictors = {}
        for name, traj in DEFAULT_PIPELINES.items():
            if any(m == name for _, m in todo):
                predictors[name], cost = train_default(tr_c, traj)
                row = {"kind": "train", "seed": s, "model": name, "n_train": n_train, **cost}
                _append(out, row, rows)
                print(f"seed {s}: {name} trained {cost}", flush=True)
        b_true = sim_te.latent.set_index("patient_id")["b"]
        truth = {k: t.truth_at_landmarks.set_index(["landmark_day", "patient_id"])["risk"]
                 for k, t in (("tr", sim_tr), ("te", sim_te))}
        for L in landmarks:
            models_l = [m for LL, m in todo if LL == L]
            if not models_l:
                continue
            feats = [*DEFAULT_FEATURES, "marker_history"]
            tr = landmark_dataset(tr_c, L, bv.HORIZON, features=feats)
            te = landmark_dataset(te_c, L, bv.HORIZON, features=feats)
            t_l = truth["te"].loc[float(L)].reindex(te.patient_id).to_numpy(float)
            keep = ~np.isnan(t_l)
            te, t_l = te.select(keep), t_l[keep]
            for m in models_l:
                t0, c0 = time.perf_counter(), time.process_time()
                risk = _predict(m, tr, te, t_l, predictors.get(m), te_c, L, truth["tr"])
                extra = {}
                if m in ("cox_traj", "cox_traj_cov"):  # diagnostic: posterior vs true MRD slope
                    extra = slope_corr(tr, te, b_true.reindex(te.patient_id).to_numpy(float),
                                       "default" if m == "cox_traj_cov" else "none")
                row = {"kind": "eval", "seed": s, "landmark": L, "model": m, "n_train": n_train,
                       "n_test": n_test, "n_at_risk_train": len(tr), "n_at_risk_test": len(te),
                       "n_dropped_no_truth": int((~keep).sum()),
                       "wall_s": round(time.perf_counter() - t0, 1),
                       "cpu_s": round(time.process_time() - c0, 1),
                       **bv.metrics(tr, te, risk, t_l), **extra}
                _append(out, row, rows)
                print(f"  seed {s} L={L} {m:<17} C {row['c_index']:.3f}  IPA {row['ipa']:+.3f}  "
                      f"slope {row['cal_slope_truth']:.2f}", flush=True)
    return [r for r in rows if r["n_train"] == n_train]


def _predict(m, tr, te, t_l, predictor, te_c, L, truth_tr) -> np.ndarray:
    from relapse_ml.landmark import LandmarkData  # noqa: F401  (type of tr / te)

    if m == "oracle":
        return t_l
    if m == "careful_cox":
        plain = [c for c in tr.X.columns if not c.startswith("_obs:")]
        return bv.careful_cox(_with_X(tr, tr.X[plain]), _with_X(te, te.X[plain]))
    if m in DEFAULT_PIPELINES:
        return bv.predict_pipeline(predictor, te_c, L, te.patient_id)
    if m == "cox_traj":
        return bt.fit_predict("cox_default_traj", tr, te)
    if m == "cox_traj_cov":
        from relapse_ml.models import make_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = make_model("trajectory", model="cox_cs", covariates="default")
            est.fit(tr.X, tr.time, tr.event)
            return est.predict_cif(te.X, [bv.TAU], cause=1)[:, 0]
    if m == "cox_traj_em400":
        from relapse_ml.models import make_model

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = make_model("trajectory", model="cox_cs", em_max_iter=400).fit(tr.X, tr.time, tr.event)
            return est.predict_cif(te.X, [bv.TAU], cause=1)[:, 0]
    if m == "careful_cox_traj":
        return bt.fit_predict("careful_cox_traj", tr, te)
    if m == "ceiling_traj":
        y = truth_tr.loc[float(L)].reindex(tr.patient_id).to_numpy(float)
        ok = ~np.isnan(y)
        return bt.ceiling("ceiling_default_traj", tr.select(ok), te, y[ok])
    raise ValueError(f"unknown model {m!r}")


def slope_corr(tr, te, b_true: np.ndarray, covariates: str) -> dict:
    """Correlation of the trajectory step's posterior MRD slope with the true slope b (the
    step refits from the cache: same rows, same population fit)."""
    from relapse_ml.models import make_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step = make_model("trajectory", model="cox_cs", covariates=covariates)
        f = step.fit(tr.X, tr.time, tr.event).transform(te.X)
    return {"corr_slope_b": float(np.corrcoef(f["traj_mrd_mfc_slope"], b_true)[0, 1])}


DEFAULT_PIPELINES = {"shipped_default": None, "default_now": None, "default_cov": "cov",
                     "default_coxcov": "coxcov", "default_blend3": "blend3"}  # -> pipeline_config traj


def train_default(cohort, traj=None):
    """The shipped default (stacked landmarks, n_boot 0), changed as
    `benchmark_pipelines.pipeline_config`'s ``traj`` says (``cov``: covariates on every trajectory
    step; ``coxcov``: on the Cox one only); the predictor and its cost."""
    import os

    from relapse_ml.train import run_training

    cfg = pipeline_config(True, 0, traj)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_training(cfg, cohort, track=False, progress=lambda *a: None)
    return result.predictor, {"train_wall_s": round(time.perf_counter() - t0, 1),
                              "train_cpu_s": round(time.process_time() - c0, 1),
                              "final_model": result.final_model, "rows": int(result.n_rows),
                              "load_avg_1min": round(os.getloadavg()[0], 2)}


def _with_X(d, X):
    from dataclasses import replace

    return replace(d, X=X.reset_index(drop=True))


def _append(out: Path, row: dict, rows: list) -> None:
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    rows.append(row)


def render(rows: list[dict]) -> str:
    df = pd.DataFrame(rows)
    ev, trn = df[df["kind"] == "eval"], df[df["kind"] == "train"]
    lines = ["# Joint-model simulator: every model beside the careful landmark Cox", "",
             f"`experiments/benchmark_jm.py` on `experiments/jm_simulator.py` (parameters "
             "pre-registered in `jm_calibration.md`). Train "
             f"{int(df['n_train'].iloc[0]):,} randomized / an independent test trial of "
             f"{int(ev['n_test'].iloc[0]):,}; C = Wolbers' C-index for relapse at τ = 729.5 days "
             "from L (NRM competing), IPA vs the training Aalen–Johansen, slope = OLS of the "
             "true on the predicted risk; ΔC = paired difference to the careful Cox on the same "
             "seeds. Mean ± SD over seeds.", ""]
    for L, g in ev.groupby("landmark"):
        piv = g.pivot(index="seed", columns="model", values="c_index")
        lines += [f"## Landmark day {L:g}", "",
                  "| model | C-index | ΔC vs careful Cox | seeds ΔC ≥ +0.01 | IPA | slope vs truth | "
                  "RMSE vs truth | seeds |", "|---|---|---|---|---|---|---|---|"]
        for m in (*MODELS, *VARIANTS):
            s = g[g["model"] == m]
            if s.empty:
                continue
            if m != PEER and PEER in piv and m in piv:
                d = (piv[m] - piv[PEER]).dropna()
                dc, n_ok = _ms(d, "+.4f"), f"{int((d >= 0.01 - 1e-12).sum())}/{len(d)}"
            else:
                dc, n_ok = "—", "—"
            lines.append(f"| {LABELS[m]} | {_ms(s.c_index, '.3f')} | {dc} | {n_ok} | "
                         f"{_ms(s.ipa, '+.3f')} | {_ms(s.cal_slope_truth, '.2f')} | "
                         f"{_ms(s.rmse_truth, '.3f')} | {len(s)} |")
        if float(L) == 60:
            for m in ("shipped_default", "cox_traj"):
                if m in piv:
                    c = piv[m].dropna()
                    lines.append(f"\n{LABELS[m]}: C ≥ {TARGET_C60} at day 60 in "
                                 f"{int((c >= TARGET_C60).sum())}/{len(c)} seeds "
                                 f"(mean {c.mean():.3f}).")
        lines.append("")
    if not trn.empty:
        lines += ["Training cost of the default pipeline (`run_training`, n_boot 0, no tracking; "
                  "CPU s of the process, load average beside):", "",
                  "| final model chosen | rows | wall s | CPU s | load avg | seeds |",
                  "|---|---|---|---|---|---|"]
        lines.append(f"| {', '.join(sorted(set(trn.final_model)))} | {int(trn.rows.mean())} | "
                     f"{_ms(trn.train_wall_s, '.0f')} | {_ms(trn.train_cpu_s, '.0f')} | "
                     f"{trn.load_avg_1min.mean():.1f} | {len(trn)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    ap.add_argument("--landmarks", type=int, nargs="+", default=list(LANDMARKS))
    ap.add_argument("--n-train", type=int, default=2500)
    ap.add_argument("--n-test", type=int, default=1500)
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=[*MODELS, *VARIANTS])
    ap.add_argument("--visit-days", type=float, nargs="+", default=None,
                    help="sensitivity analysis: marker visits on these days instead of the "
                         "trial's early schedule (use with --stem)")
    ap.add_argument("--stem", default=STEM)
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    rows = run(a.seeds, a.landmarks, a.n_train, a.n_test, a.out / f"{a.stem}.jsonl", a.models,
               a.visit_days)
    md = render(rows)
    if a.visit_days:
        md = md.replace("\n\n", f"\n\nSensitivity analysis: marker visits on days "
                        f"{', '.join(f'{d:g}' for d in a.visit_days)} instead of the trial's "
                        "early schedule (same patients, events and truth).\n\n", 1)
    (a.out / f"{a.stem}.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
