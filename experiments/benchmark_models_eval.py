"""Evaluation of `benchmark_models.py`: one (data, model) cell by cross-validation or hold-out,
the feature ceiling, the oracle, the paired bootstraps against the reference model and the targets."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchmark_models_setup import (  # noqa: E402
    PAIRED_METRICS,
    REFERENCE,
    TARGET_RATIO,
    TOOLKIT,
    BenchData,
    ModelSpec,
    _eval_frame,
    _Timed,
    design_text,
    make_factory,
    time_now,
)


def run_cell(data: BenchData, model: ModelSpec) -> dict:
    """Fit, predict and score one model on one data set; a JSON-ready record.

    ``summary`` holds every scalar metric of `relapse_ml.evaluation.evaluate` with its
    point estimate (``pooled``) and 95% bootstrap interval; ``risk_tau``/``null_tau``
    keep the predictions at τ (one row per CV repeat) for the paired comparisons.
    """
    from relapse_ml.evaluation import EvaluationWarning

    log = {"fit_s": [], "predict_s": [], "n_fit": [], "n_predict": []}
    factory = make_factory(model, data.spec, data.tau)
    start = time_now()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        if data.spec.design == "holdout":
            summary, risk, null, tau = _holdout(data, lambda: _Timed(factory(), log))
        else:
            summary, risk, null, tau = _cross_validated(data, lambda: _Timed(factory(), log))
    return {
        "data": data.spec.key,
        "model": model.key,
        "label": model.label,
        "params": model.params,
        "design": design_text(data.spec, len(data.ld)),
        "tau": tau,
        "summary": summary,
        "fit_s": float(np.mean(log["fit_s"])),
        "predict_s": float(np.mean(log["predict_s"])),
        "n_fit": float(np.mean(log["n_fit"])),
        "n_predict": float(np.mean(log["n_predict"])),
        "n_fits": len(log["fit_s"]),
        "cell_s": round(time_now() - start, 2),
        "load_avg_1min": os.getloadavg()[0],
        "mean_risk_tau": float(np.mean(risk)),
        "risk_tau": np.round(risk, 6).tolist(),
        "null_tau": np.round(null, 6).tolist(),
    }


def _cross_validated(data: BenchData, factory):
    from relapse_ml.evaluation import cross_validate

    ld, s = data.ld, data.spec
    cv = cross_validate(
        factory,
        ld.X,
        ld.time,
        ld.event,
        groups=ld.patient_id,
        times=data.grid,
        tau=data.tau,
        n_splits=s.n_splits,
        n_repeats=s.n_repeats,
        seed=s.seed,
        n_boot=s.n_boot,
    )
    k = int(np.flatnonzero(np.isclose(cv.times, cv.tau))[0])
    summary = {m: {c: _num(v) for c, v in row.items()} for m, row in cv.summary.iterrows()}
    return summary, cv.oof_cif[:, :, k], cv.oof_null_cif[:, :, k], float(cv.tau)


def _holdout(data: BenchData, factory):
    from relapse_ml.evaluation import bootstrap_ci, evaluate, null_prediction, scalar_metrics

    ld, s, tr, te = data.ld, data.spec, data.train_rows, data.test_rows
    t_tr, e_tr, t_te, e_te = ld.time[tr], ld.event[tr], ld.time[te], ld.event[te]
    model = factory().fit(ld.X.iloc[tr], t_tr, e_tr)
    cif = model.predict_cif(ld.X.iloc[te], data.grid, cause=1)
    null = null_prediction(t_tr, e_tr, te.size, data.grid)

    def metrics(rows):
        return scalar_metrics(
            evaluate(
                t_tr,
                e_tr,
                t_te[rows],
                e_te[rows],
                cif[rows],
                data.grid,
                data.tau,
                null_cif=null[rows],
                tables=False,
            )
        )

    ci = bootstrap_ci(
        metrics, np.arange(te.size), groups=ld.patient_id[te], n_boot=s.n_boot, seed=s.seed
    )
    skip = {"tau", "n_test", "n_cases_tau"}
    summary = {
        m: {
            "pooled": _num(r["estimate"]),
            "ci_low": _num(r["ci_low"]),
            "ci_high": _num(r["ci_high"]),
        }
        for m, r in ci.iterrows()
        if m not in skip
    }
    k = int(np.flatnonzero(np.isclose(data.grid, data.tau))[0])
    return summary, cif[None, :, k], null[None, :, k], float(ci.loc["tau", "estimate"])


def feature_ceiling(data: BenchData, n_rounds: int = 300) -> np.ndarray | None:
    """How far the observed features can rank patients by their true risk (simulated data).

    An XGBoost regression of logit(true risk) on the landmark features, out-of-fold (the
    design's folds, or its training split), predicted on the evaluation rows. It is fitted
    to the truth, not to outcomes, so no real model can use it: it measures what the
    features carry (at this sample size), not a method. Returns its risk on the
    evaluation rows, to be scored like a model (`comparisons`).
    """
    if data.oracle_risk is None:
        return None
    import xgboost as xgb
    from sklearn.model_selection import KFold

    X = data.ld.X.to_numpy(dtype=float)
    p = np.clip(data.oracle_risk, 1e-4, 1 - 1e-4)
    y = np.log(p / (1 - p))
    params = {"objective": "reg:squarederror", "eta": 0.05, "max_depth": 4,
              "min_child_weight": 5, "subsample": 0.8, "colsample_bytree": 0.8,
              "nthread": 1, "seed": data.spec.seed, "verbosity": 0}  # fmt: skip

    def fit_predict(train, test):
        booster = xgb.train(params, xgb.DMatrix(X[train], label=y[train], missing=np.nan), n_rounds)
        return booster.predict(xgb.DMatrix(X[test], missing=np.nan))

    if data.spec.design == "holdout":
        pred = fit_predict(data.train_rows, data.test_rows)
    else:
        pred = np.empty(len(y))
        folds = KFold(data.spec.n_splits, shuffle=True, random_state=data.spec.seed)
        for train, test in folds.split(X):
            pred[test] = fit_predict(train, test)
    return 1 / (1 + np.exp(-pred))


def oracle_summary(data: BenchData) -> dict | None:
    """The truth's metrics at τ with bootstrap intervals (same resampling as the models)."""
    from relapse_ml.evaluation import evaluate_oracle

    if data.oracle_risk is None:
        return None
    t_tr, e_tr, t, e, rows = _eval_frame(data)
    risk = data.oracle_risk[rows]

    def metrics(idx):
        tt, ee = (t_tr, e_tr) if data.spec.design == "holdout" else (t[idx], e[idx])
        out = evaluate_oracle(tt, ee, t[idx], e[idx], risk[idx], data.tau, tables=False)
        return {k: v for k, v in out.items() if k not in ("tau", "n_test", "n_cases_tau")}

    ci = _patient_bootstrap(metrics, data, rows, data.spec.seed)
    return {
        m: {
            "pooled": _num(r["estimate"]),
            "ci_low": _num(r["ci_low"]),
            "ci_high": _num(r["ci_high"]),
        }
        for m, r in ci.iterrows()
    }


def _patient_bootstrap(fn, data: BenchData, rows: np.ndarray, seed: int) -> dict:
    """``bootstrap_ci`` of ``fn`` over the test ``rows``, resampling patients, with the
    spec's replicate count; evaluation warnings of single replicates silenced."""
    from relapse_ml.evaluation import EvaluationWarning, bootstrap_ci

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        return bootstrap_ci(fn, np.arange(rows.size), groups=data.ld.patient_id[rows],
                            n_boot=data.spec.n_boot, seed=seed)


def tau_metrics(t_train, e_train, t, e, risk, null, tau: float) -> dict[str, float]:
    """Wolbers C-index, AUC and IPA at τ of one risk vector (the null gives the IPA)."""
    from relapse_ml.evaluation import brier_score, concordance_index_wolbers, cumulative_dynamic_auc

    grid = np.array([tau])
    bs = brier_score(t_train, e_train, t, e, risk[:, None], grid)[0]
    bs0 = brier_score(t_train, e_train, t, e, null[:, None], grid)[0]
    return {
        "c_index": concordance_index_wolbers(t, e, risk, tau),
        "auc_tau": float(
            cumulative_dynamic_auc(t_train, e_train, t, e, risk[:, None], grid).auc[0]
        ),
        "ipa_tau": float(1 - bs / bs0) if bs0 > 0 else np.nan,
    }


def paired_bootstrap(data: BenchData, preds: dict[str, dict], contrasts) -> dict:
    """Paired bootstrap at τ of several contrasts, the same patients resampled for all.

    preds: name -> ``{"risk": (R, m), "null": (R, m)}`` predictions at τ on the evaluation
        rows (R CV repeats, averaged inside each replicate as `cross_validate` does).
    contrasts: ``(a, b, kind, metrics)`` with kind ``diff`` (a − b), ``ratio`` (a / b) or
        ``own`` (a's metrics; b is None). Each prediction is scored once per replicate.
    Returns ``{(a, b, kind): {metric: {estimate, ci_low, ci_high}}}``.
    """
    t_tr, e_tr, t, e, rows = _eval_frame(data)
    holdout = data.spec.design == "holdout"
    needed = sorted({n for a, b, _, _ in contrasts for n in (a, b) if n is not None})

    def mean_metrics(pred, idx):
        tt, ee = (t_tr, e_tr) if holdout else (t[idx], e[idx])
        values = [
            tau_metrics(tt, ee, t[idx], e[idx], r[idx], n[idx], data.tau)
            for r, n in zip(pred["risk"], pred["null"], strict=True)
        ]
        return pd.DataFrame(values).mean()

    def all_contrasts(idx):
        m = {name: mean_metrics(preds[name], idx) for name in needed}
        out = {}
        for i, (a, b, kind, metrics) in enumerate(contrasts):
            value = m[a] if kind == "own" else m[a] - m[b] if kind == "diff" else m[a] / m[b]
            out.update({f"{i}|{metric}": float(value[metric]) for metric in metrics})
        return out

    ci = _patient_bootstrap(all_contrasts, data, rows, data.spec.seed + 1)
    result = {}
    for i, (a, b, kind, metrics) in enumerate(contrasts):
        result[(a, b, kind)] = {
            metric: {
                "estimate": _num(ci.loc[f"{i}|{metric}", "estimate"]),
                "ci_low": _num(ci.loc[f"{i}|{metric}", "ci_low"]),
                "ci_high": _num(ci.loc[f"{i}|{metric}", "ci_high"]),
            }
            for metric in metrics
        }
    return result


def paired_contrast(
    data: BenchData, a: dict, b: dict | None, kind: str = "diff", metrics=PAIRED_METRICS
) -> dict:
    """One contrast of `paired_bootstrap`: ``a − b``, ``a / b`` or (``b=None``) a's metrics."""
    preds = {"a": a} if b is None else {"a": a, "b": b}
    kind = "own" if b is None else kind
    out = paired_bootstrap(data, preds, [("a", None if b is None else "b", kind, metrics)])
    return next(iter(out.values()))


def comparisons(data: BenchData, cells: dict[str, dict], ceiling=None) -> dict:
    """Each model minus the Cox model; each model and the feature ceiling over the oracle.

    ceiling: the `feature_ceiling` risk on the evaluation rows (simulated data), or None.
    """
    from scipy.stats import spearmanr

    preds = {
        k: {"risk": np.asarray(c["risk_tau"]), "null": np.asarray(c["null_tau"])}
        for k, c in cells.items()
    }
    contrasts = []
    if REFERENCE in cells:
        contrasts += [
            (k, REFERENCE, "diff", PAIRED_METRICS)
            for k in cells
            if k not in ("aalen_johansen", REFERENCE)
        ]
    oracle_risk = None
    if data.oracle_risk is not None:
        rows = _eval_frame(data)[4]
        oracle_risk = data.oracle_risk[rows]
        null = next(iter(preds.values()))["null"][:1]
        preds["oracle"] = {"risk": oracle_risk[None, :], "null": null}
        contrasts += [
            (k, "oracle", "ratio", ("c_index", "auc_tau")) for k in cells if k != "aalen_johansen"
        ]
        if ceiling is not None:
            preds["ceiling"] = {"risk": np.asarray(ceiling)[None, :], "null": null}
            contrasts += [
                ("ceiling", None, "own", ("c_index", "auc_tau")),
                ("ceiling", "oracle", "ratio", ("c_index", "auc_tau")),
            ]
    boot = paired_bootstrap(data, preds, contrasts) if contrasts else {}
    out = {"vs_cox": {}, "vs_oracle": {}, "feature_ceiling": None}
    for (a, b, _), value in boot.items():
        if a == "ceiling":
            continue
        out["vs_cox" if b == REFERENCE else "vs_oracle"][a] = value
    if ("ceiling", None, "own") in boot:
        out["feature_ceiling"] = {
            **boot[("ceiling", None, "own")],
            "ratio": boot[("ceiling", "oracle", "ratio")],
            "spearman_true_risk": float(spearmanr(ceiling, oracle_risk).statistic),
        }
    return out


def assess_targets(results: dict) -> dict:
    """Are the issue's targets met? (ratio to the oracle at n = 2,000; XGBoost vs Cox)."""
    out = {}
    sims = [k for k, d in results["data"].items() if d["oracle"] is not None]
    if "sim_2000" in results["data"]:
        d = results["data"]["sim_2000"]
        toolkit = {
            k: d["cells"][k]["summary"]["c_index"]["pooled"] for k in TOOLKIT if k in d["cells"]
        }
        if toolkit and d["oracle"] is not None:
            best = max(toolkit, key=toolkit.get)
            ratio = d["comparisons"]["vs_oracle"][best]["c_index"]
            out["ratio_to_oracle_at_2000"] = {
                "best_model": best,
                "c_index": toolkit[best],
                "oracle_c_index": d["oracle"]["c_index"]["pooled"],
                "ratio": ratio,
                "target": TARGET_RATIO,
                "met": bool(ratio["estimate"] >= TARGET_RATIO),
            }
    beats = {}
    for key in sims:
        vs = results["data"][key]["comparisons"]["vs_cox"]
        xgb = {k: vs[k]["c_index"] for k in ("xgb_cs", "xgb_direct") if k in vs}
        if not xgb:
            continue
        best = max(xgb, key=lambda k: xgb[k]["estimate"])
        diff = xgb[best]
        beats[key] = {
            "best_xgb": best,
            "delta_c_index": diff,
            "point_estimate_better": bool(diff["estimate"] > 0),
            "interval_excludes_zero": bool(diff["ci_low"] > 0),
        }
    out["xgb_beats_cox_on_simulated"] = beats
    return out


def _num(v) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else v


# ---------------------------------------------------------------------- orchestration


