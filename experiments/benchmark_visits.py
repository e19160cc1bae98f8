"""Benchmark: every visit (issue 10, item 5) — one model for days 60–365, judged against truth.

For each seed a training trial (``--n-train`` randomized, seed s) and an independent test
trial (``--n-test``, seed 1000 + s) are simulated; the test trial carries the simulator's
truth at every landmark (`simulate_trial(truth_landmarks=...)`: each patient's risk of
relapse in (L, L + 730] given the latent state at L and the arm received). Compared at
landmarks 60, 90, 120, 180, 270, 365 on the test patients at risk at L:

- ``day60_default``: the previous default training pipeline (``default_config.yaml`` before
  this study: the null model, cause-specific Cox, Fine–Gray and XGBoost at landmark day 60,
  its cross-validated choice of final model) scored at L — the extrapolation
  `score --landmark-day L` did;
- ``super_default``: the same four models with ``landmark.super_landmark: true`` (stacked
  landmarks 60–365, the landmark as a feature), scored at L;
- ``super_traj_default`` (with ``--variants``): the same plus the trajectory step around the
  XGBoost — the new default;
- ``careful_cox``: the peer, a landmark cause-specific Cox a statistician fits by hand AT
  THAT LANDMARK (log-MRD latest/peak, MRD ever, log-WT1, log recipient chimerism, aGVHD,
  baseline, arm and arm × log-MRD / log-WT1; `benchmark_trajectory.careful_features`);
- ``oracle``: the truth itself (a ceiling: C-index with the truth as the score).

Metrics: Wolbers' C-index for relapse at τ = 729.5 days from L (non-relapse death
competing); IPA (1 − Brier / Brier of the training Aalen–Johansen at L); against the truth:
calibration slope (OLS of true on predicted risk; 1 = right spread), mean difference
(predicted − true) and RMSE. Training cost of the two pipelines (``run_training`` without
tracking: cross-validation with bootstrap intervals + final fit): wall and CPU seconds,
with the cross-validation (evaluation) part and the final fit timed apart, and the load
average. Each (seed, part) is appended to ``benchmark_visits.jsonl``; a rerun skips
finished parts (resumable). Run it niced:

    nice -n 10 .venv/bin/python experiments/benchmark_visits.py --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchmark_pipelines import PIPELINES, pipeline_config  # noqa: E402
from benchmark_trajectory import careful_features  # noqa: E402  (the one careful design)
from benchmark_trajectory import metrics as observed_metrics  # noqa: E402
from benchmark_visits_render import landmark_rows, render_cost  # noqa: E402, F401
from benchmark_visits_render import render as _render  # noqa: E402

RESULTS = HERE / "results"
STEM = "benchmark_visits"
HORIZON = 730
TAU = HORIZON - 0.5
LANDMARKS = (60, 90, 120, 180, 270, 365)
MODELS = ("day60_default", "super_default", "careful_cox", "oracle")
# candidate defaults: one model fitted directly (no CV) on the stacked landmarks 60-365 with
# the default config's parameters; ``traj_*`` inside the trajectory step
VARIANTS = ("super_xgb", "super_cox", "super_traj_xgb", "super_traj_cox", "super_traj_default",
            "shipped_default",
            "super_cox_shared", "lm_traj_cox", "lm_traj_xgb", "lm_traj_blend",
            "super_traj_lm_cox", "super_traj_lm_xgb")
# ``lm_*``: fitted at each evaluated landmark on that landmark's rows only (separate landmark
# models, the classical alternative to one super-landmark model); ``lm_traj_blend``: the mean
# of the two
# ``*_shared``: the linear model with one baseline for every landmark and the landmark only as
# L and L² (before `relapse_ml.landmark_strata`: no strata, no landmark interactions)
SHARED = {"landmark_strata": False, "landmark_interactions": False}
def simulate(n: int, seed: int, truth_draws: int, landmarks=()):
    from relapse_ml.simulate import simulate_trial

    return simulate_trial(n=n, seed=seed, horizon_days=HORIZON, truth=bool(landmarks),
                          truth_draws=truth_draws, truth_landmarks=landmarks)


def train_pipeline(cohort, super_landmark: bool, n_boot: int | None = None, traj: bool = False):
    """``run_training`` (no tracking) and its cost: total, cross-validation, final fit."""
    from relapse_ml.train import run_training

    stamps = []

    def progress(msg):
        stamps.append((time.perf_counter(), time.process_time(), str(msg)))

    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_training(pipeline_config(super_landmark, n_boot, traj), cohort, track=False,
                              progress=progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    cv_end = [s for s in stamps if "C-index" in s[2]]
    cv_wall = cv_end[-1][0] - stamps[0][0] if cv_end else float("nan")
    cv_cpu = cv_end[-1][1] - stamps[0][1] if cv_end else float("nan")
    cost = {"train_wall_s": round(wall, 1), "train_cpu_s": round(cpu, 1),
            "cv_wall_s": round(cv_wall, 1), "cv_cpu_s": round(cv_cpu, 1),
            "final_model": result.final_model, "rows": int(result.n_rows),
            "n_boot": int(pipeline_config(super_landmark, n_boot, traj).evaluation.n_boot),
            "load_avg_1min": round(os.getloadavg()[0], 2)}
    return result.predictor, cost


def predict_pipeline(predictor, cohort, L: float, patient_id) -> np.ndarray:
    """The pipeline's relapse incidence at τ under each patient's own arm, at landmark L."""
    from relapse_ml.features import build_features
    from relapse_ml.landmark import add_landmark_columns

    X = build_features(cohort, float(L), predictor.features).reindex(patient_id)
    if predictor.super_landmark:
        X = add_landmark_columns(X, float(L))
    X = X.reindex(columns=predictor.feature_columns).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return predictor.model.predict_cif(X.reset_index(drop=True), [TAU], cause=1)[:, 0]


TRAJ_COVARIATES = "none"  # the trajectory variants' ``covariates`` (--traj-covariates)


def fit_variant(name: str, stacked):
    """A candidate default fitted on the stacked landmark rows (patients as groups)."""
    from relapse_ml.config import default
    from relapse_ml.models import make_model

    inner = "xgb_cs" if name.endswith("xgb") else "cox_cs"
    params = next((m.get("params") or {}) for m in default()["models"] if m["name"] == inner)
    if name.endswith("_shared"):
        params = {**params, **SHARED}
    if "_traj_" in name:  # one inner model on every landmark's rows (``_traj_lm_``: one per L)
        est = make_model("trajectory", model=inner, model_params=params,
                         by_landmark="_traj_lm_" in name, covariates=TRAJ_COVARIATES)
    else:
        est = make_model(inner, **params)
    t0 = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(stacked.X, stacked.time, stacked.event, groups=stacked.patient_id)
    return est, time.process_time() - t0


def predict_variant(est, columns, cohort, L: float, patient_id) -> np.ndarray:
    from relapse_ml.features import DEFAULT_FEATURES, build_features
    from relapse_ml.landmark import add_landmark_columns

    X = build_features(cohort, float(L), [*DEFAULT_FEATURES, "marker_history"])
    X = add_landmark_columns(X.reindex(patient_id), float(L)).reindex(columns=columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.predict_cif(X.astype(float).reset_index(drop=True), [TAU], cause=1)[:, 0]


def per_landmark(name: str, tr_c, te_c, L: float, patient_id, cache: dict) -> np.ndarray:
    """A ``lm_*`` variant: the trajectory model fitted on landmark L's rows only (cached per L,
    so the blend reuses its two members)."""
    from relapse_ml.features import DEFAULT_FEATURES, build_features
    from relapse_ml.landmark import landmark_dataset

    if name == "lm_traj_blend":
        return 0.5 * (per_landmark("lm_traj_cox", tr_c, te_c, L, patient_id, cache)
                      + per_landmark("lm_traj_xgb", tr_c, te_c, L, patient_id, cache))
    key = (name, float(L))
    if key not in cache:
        feats = [*DEFAULT_FEATURES, "marker_history"]
        data = landmark_dataset(tr_c, L, HORIZON, features=feats)
        est, _ = fit_variant(name.replace("lm_", "super_"), data)
        cache[key] = (est, list(data.X.columns))
    est, columns = cache[key]
    X = build_features(te_c, float(L), [*DEFAULT_FEATURES, "marker_history"])
    X = X.reindex(patient_id).reindex(columns=columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.predict_cif(X.astype(float).reset_index(drop=True), [TAU], cause=1)[:, 0]


def careful_cox(tr, te) -> np.ndarray:
    from relapse_ml.models import make_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Xtr = careful_features(tr.X)
        est = make_model("cox_cs").fit(Xtr, tr.time, tr.event)
        # a level absent from one trial's training columns is a 0 there (reference coding)
        Xte = careful_features(te.X).reindex(columns=Xtr.columns, fill_value=0.0)
        return est.predict_cif(Xte, [TAU], cause=1)[:, 0]


def metrics(tr, te, risk: np.ndarray, truth: np.ndarray) -> dict:
    """`benchmark_trajectory.metrics` (C-index, IPA, mean risk at TAU) and agreement with the truth."""
    slope = float(np.polyfit(risk, truth, 1)[0]) if np.ptp(risk) > 0 else float("nan")
    return {**observed_metrics(tr, te, risk),
            "mean_truth": float(np.mean(truth)), "cal_slope_truth": slope,
            "mean_diff_truth": float(np.mean(risk - truth)),
            "rmse_truth": float(np.sqrt(np.mean((risk - truth) ** 2)))}


def _load(out: Path) -> list[dict]:
    return [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []


def _append(out: Path, row: dict) -> None:
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


def run(seeds, landmarks, n_train, n_test, draws, out: Path, n_boot: int,
        variants=(), reference=MODELS) -> list[dict]:
    from relapse_ml.features import DEFAULT_FEATURES
    from relapse_ml.landmark import LANDMARK_COLUMNS, landmark_dataset, super_landmark_dataset

    rows = _load(out)
    done = {(r["kind"], r["seed"], r.get("landmark"), r.get("model"), r.get("n_boot"))
            for r in rows if r["n_train"] == n_train}
    for s in seeds:
        todo = [(L, m) for L in landmarks for m in (*reference, *variants)
                if ("eval", s, L, m, None) not in done]
        if not todo:
            continue
        t0 = time.time()
        sim_tr = simulate(n_train, s, draws)
        sim_te = simulate(n_test, 1000 + s, draws, landmarks=list(landmarks))
        tr_c, te_c = sim_tr.to_cohort(), sim_te.to_cohort()
        print(f"seed {s}: simulated in {time.time() - t0:.0f}s", flush=True)
        predictors = {}
        for name, (sup, traj) in PIPELINES.items():
            if not any(m == name for _, m in todo):
                continue
            predictors[name], cost = train_pipeline(tr_c, sup, n_boot, traj)
            if ("train", s, None, name, n_boot) not in done:
                row = {"kind": "train", "seed": s, "model": name, "n_train": n_train, **cost}
                _append(out, row)
                rows.append(row)
            print(f"  {name}: trained {cost}", flush=True)
        fitted = {}
        todo_variants = sorted({m for _, m in todo if m in variants and m not in PIPELINES
                                and not m.startswith("lm_")})
        if todo_variants:
            stacked = super_landmark_dataset(tr_c, LANDMARKS, HORIZON,
                                             features=[*DEFAULT_FEATURES, "marker_history"])
            for name in todo_variants:
                est, cpu = fit_variant(name, stacked)
                fitted[name] = (est, list(stacked.X.columns))
                row = {"kind": "fit", "seed": s, "model": name, "n_train": n_train,
                       "fit_cpu_s": round(cpu, 1), "rows": len(stacked),
                       "load_avg_1min": round(os.getloadavg()[0], 2)}
                _append(out, row)
                rows.append(row)
                print(f"  {name}: fitted in {cpu:.0f} CPU s", flush=True)
            assert all(c in stacked.X.columns for c in LANDMARK_COLUMNS)
        truth = sim_te.truth_at_landmarks.set_index(["landmark_day", "patient_id"])["risk"]
        for L in landmarks:
            models = [m for (LL, m) in todo if LL == L]
            if not models:
                continue
            tr = landmark_dataset(tr_c, L, HORIZON, features=DEFAULT_FEATURES)
            te = landmark_dataset(te_c, L, HORIZON, features=DEFAULT_FEATURES)
            t_l = truth.loc[float(L)].reindex(te.patient_id).to_numpy(float)
            keep = ~np.isnan(t_l)
            te, t_l = te.select(keep), t_l[keep]
            for m in models:
                if m == "oracle":
                    risk = t_l
                elif m == "careful_cox":
                    risk = careful_cox(tr, te)
                elif m in fitted:
                    risk = predict_variant(*fitted[m], te_c, L, te.patient_id)
                elif m.startswith("lm_"):
                    risk = per_landmark(m, tr_c, te_c, L, te.patient_id, fitted)
                else:
                    risk = predict_pipeline(predictors[m], te_c, L, te.patient_id)
                row = {"kind": "eval", "seed": s, "landmark": L, "model": m, "n_train": n_train,
                       "n_test": n_test, "n_at_risk_test": len(te), "n_dropped_no_truth": int((~keep).sum()),
                       **metrics(tr, te, risk, t_l)}
                _append(out, row)
                rows.append(row)
                print(f"  L={L} {m:<14} C {row['c_index']:.3f}  IPA {row['ipa']:+.3f}  "
                      f"slope {row['cal_slope_truth']:.2f}  RMSE {row['rmse_truth']:.3f}",
                      flush=True)
    return [r for r in rows if r["n_train"] == n_train]


def cost(sizes, pipeline: str, n_boot: int | None, out: Path) -> None:
    """Training cost of one pipeline (seed 1) at each size, with ``n_boot`` bootstrap
    intervals (None: the default config's); one ``kind: cost`` row per size."""
    import resource

    sup, traj = PIPELINES[pipeline]
    for n in sizes:
        cohort = simulate(n, 1, 4).to_cohort()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        _, row = train_pipeline(cohort, sup, n_boot, traj)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        row.update(kind="cost", seed=1, model=pipeline, n_train=n,
                   rusage_cpu_s=round((r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), 1),
                   max_rss_mb=round(r1.ru_maxrss / 1024))
        _append(out, row)
        print(row, flush=True)


def render(rows: list[dict]) -> str:
    """The results table (`benchmark_visits_render.render`), models in this script's order."""
    return _render(rows, (*MODELS, *VARIANTS,
                          *(p for p in PIPELINES if p not in MODELS + VARIANTS)), VARIANTS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--landmarks", type=int, nargs="+", default=list(LANDMARKS))
    ap.add_argument("--n-train", type=int, default=2500)
    ap.add_argument("--n-test", type=int, default=1500)
    ap.add_argument("--truth-draws", type=int, default=32)
    ap.add_argument("--n-boot", type=int, default=0,
                    help="bootstrap replicates of the pipelines' CV intervals (-1: the default "
                         "config's, 200)")
    ap.add_argument("--variants", nargs="*", default=[], choices=VARIANTS,
                    help="candidate defaults fitted directly on the stacked landmarks")
    ap.add_argument("--cost", type=int, nargs="*", default=None, metavar="N",
                    help="only measure the training cost of --pipeline at these sizes")
    ap.add_argument("--pipeline", default="super_traj_default", choices=sorted(PIPELINES))
    ap.add_argument("--models", nargs="*", default=list(MODELS),
                    choices=[*MODELS, *(p for p in PIPELINES if p not in MODELS)],
                    help="the reference models and pipelines to run (default: all)")
    ap.add_argument("--traj-covariates", default="none", choices=["none", "default"],
                    help="the trajectory variants' baseline covariates (use with --stem)")
    ap.add_argument("--stem", default=STEM, help=f"results file names (default {STEM})")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    global TRAJ_COVARIATES
    TRAJ_COVARIATES = a.traj_covariates
    a.out.mkdir(parents=True, exist_ok=True)
    if a.cost is not None:
        cost(a.cost, a.pipeline, None if a.n_boot < 0 else a.n_boot, a.out / f"{STEM}_cost.jsonl")
        return 0
    rows = run(a.seeds, a.landmarks, a.n_train, a.n_test, a.truth_draws,
               a.out / f"{a.stem}.jsonl", a.n_boot, a.variants, a.models)
    (a.out / f"{a.stem}.md").write_text(render(rows) + render_cost(_load(a.out / f"{STEM}_cost.jsonl")))
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
