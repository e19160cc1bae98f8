"""Benchmark side by side (issue 3, section 6): every model × data set × metric, one run.

Data: simulated ``mrd_driven`` trials at n = 346, 2,000 and 20,000 (with the truth, so
the oracle's metrics are known), and the public ``ebmt4`` and ``bmt`` cohorts. Models:
the toolkit's five (Aalen–Johansen null, cause-specific Cox, Fine–Gray, cause-specific
XGBoost, direct XGBoost) with fixed, sensible parameters, plus a peer baseline from
scikit-survival — a random survival forest fitted on relapse with non-relapse deaths
censored, whose "relapse risk" 1 − S(τ) is scored with the same competing-risk metrics
(that is the point: it shows what ignoring the competing risk costs).

Evaluation mirrors ``relapse-ml train`` (``relapse_ml/train.py``): landmark day 60, a
730-day horizon from the landmark, metrics read at τ = 729.5 days (the landmark data
are censored at exactly 730), out-of-fold predictions pooled over a 5-fold patient-level
cross-validation (3-fold with repeats on the 125-patient ``bmt``) and percentile
bootstrap intervals by patient. At n = 20,000 one stratified 70/30 train/test split with
a bootstrap of the test set replaces cross-validation, to keep the run bounded.
Paired bootstraps (same resampled patients for both predictions) give each model's
difference from the Cox model and its ratio to the oracle. On simulated data a "feature
ceiling" (an XGBoost regression of the true risk on the same features) shows how much
of the oracle the observed features can reach at all.

Each finished (data, model) cell is appended to ``benchmark_models.jsonl`` in the output
directory; a rerun skips cells whose data and settings are unchanged (resumable).

    .venv/bin/python experiments/benchmark_models.py                # full run, ~20 min
    .venv/bin/python experiments/benchmark_models.py --quick        # small smoke run
    .venv/bin/python experiments/benchmark_models.py --fresh        # ignore cached cells
    .venv/bin/python experiments/benchmark_models.py --render-only  # .md from the .json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
STEM = "benchmark_models"
VERSION = 1  # bump to invalidate cached cells when the evaluation code changes
LANDMARK_DAY, HORIZON_DAYS = 60, 730
REAL_FEATURES = ["baseline", "extra", "gvhd"]  # as configs/ebmt4.yaml and configs/bmt.yaml
REFERENCE = "cox_cs"  # the careful conventional model every other model is compared with
TOOLKIT = ("cox_cs", "fine_gray", "xgb_cs", "xgb_direct")  # candidates for "best model"
RSF_LABEL = "RSF (deaths censored — ignores competing risks)"
TARGET_RATIO = 0.95
# metrics of the paired bootstraps at τ
PAIRED_METRICS = ("c_index", "auc_tau", "ipa_tau")


@dataclass(frozen=True)
class DataSpec:
    """One data set and how it is evaluated.

    source: ``simulated`` (mrd_driven trial of ``n`` randomized patients, ``seed``),
        ``ebmt4`` or ``bmt``.
    design: ``cv`` (``n_splits``-fold × ``n_repeats``) or ``holdout`` (one stratified
        split, ``test_fraction`` tested).
    penalizer: ridge penalty of the Cox and Fine–Gray models on this data set.
    """

    key: str
    source: str
    n: int | None = None
    seed: int = 0
    design: str = "cv"
    n_splits: int = 5
    n_repeats: int = 1
    test_fraction: float = 0.3
    n_boot: int = 200
    penalizer: float = 0.1


@dataclass(frozen=True)
class ModelSpec:
    """A model to benchmark: ``name`` is a toolkit model name or ``rsf_deaths_censored``."""

    key: str
    label: str
    name: str
    params: dict = field(default_factory=dict)


FULL_DATA = (
    DataSpec("sim_346", "simulated", n=346, seed=1, n_repeats=5),
    DataSpec("sim_2000", "simulated", n=2000, seed=2),
    DataSpec("sim_20000", "simulated", n=20000, seed=3, design="holdout", n_boot=100),
    DataSpec("ebmt4", "ebmt4"),
    # 125 patients at risk at day 60: 3 folds (as configs/bmt.yaml), repeated, stronger penalty
    DataSpec("bmt", "bmt", n_splits=3, n_repeats=10, penalizer=0.5),
)
QUICK_DATA = (
    DataSpec("sim_200", "simulated", n=200, seed=1, n_splits=3, n_boot=10),
    DataSpec("sim_600", "simulated", n=600, seed=2, design="holdout", n_boot=10),
    DataSpec("bmt", "bmt", n_splits=3, n_boot=10, penalizer=0.5),
)


def model_specs(quick: bool = False) -> tuple[ModelSpec, ...]:
    """The benchmarked models with their fixed parameters (fewer trees with ``quick``)."""
    rounds, trees = (60, 20) if quick else (1000, 100)
    xgb = dict(
        n_estimators=rounds,
        learning_rate=0.05,
        max_depth=3,
        min_child_weight=5,
        early_stopping_rounds=30,
        validation_fraction=0.2,
    )
    return (
        ModelSpec("aalen_johansen", "Aalen–Johansen (null)", "aalen_johansen"),
        ModelSpec("cox_cs", "Cause-specific Cox", "cox_cs"),
        ModelSpec("fine_gray", "Fine–Gray", "fine_gray"),
        ModelSpec("xgb_cs", "XGBoost cause-specific", "xgb_cs", xgb),
        ModelSpec("xgb_direct", "XGBoost direct (IPCW)", "xgb_direct", xgb),
        ModelSpec(
            "rsf_deaths_censored",
            RSF_LABEL,
            "rsf_deaths_censored",
            dict(n_estimators=trees, min_samples_leaf=15),
        ),
    )


# ---------------------------------------------------------------------------- models


class DeathsCensoredRSF:
    """scikit-survival's random survival forest on relapse, non-relapse deaths censored.

    The naive analysis the toolkit exists to avoid: its "relapse risk" 1 − S(t) is one
    minus a Kaplan–Meier-type survival that treats a death as if the patient could still
    relapse later, so it overstates the relapse incidence. Missing values are imputed by
    the training medians (0 for all-missing columns); times are rounded up to whole days
    so the forest stores at most one survival step per day.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        min_samples_leaf: int = 15,
        max_features: str = "sqrt",
        random_state: int = 0,
        n_jobs: int = 1,
    ):
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, time, event) -> DeathsCensoredRSF:
        from sksurv.ensemble import RandomSurvivalForest
        from sksurv.util import Surv

        self.medians_ = X.median().fillna(0.0)
        y = Surv.from_arrays(np.asarray(event) == 1, np.ceil(np.asarray(time, float)))
        self.forest_ = RandomSurvivalForest(
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
        ).fit(self._impute(X), y)
        return self

    def _impute(self, X: pd.DataFrame) -> np.ndarray:
        return X.fillna(self.medians_).to_numpy(dtype=float)

    def predict_cif(self, X: pd.DataFrame, times, cause: int = 1) -> np.ndarray:
        """1 − S(t | x) at ``times`` (a step function of the forest's event times)."""
        if cause != 1:
            raise ValueError("the deaths-censored forest models relapse (cause 1) only")
        surv = self.forest_.predict_survival_function(self._impute(X), return_array=True)
        grid = self.forest_.unique_times_
        idx = np.searchsorted(grid, np.asarray(times, float), side="right") - 1
        padded = np.concatenate([np.ones((surv.shape[0], 1)), surv], axis=1)
        return 1.0 - padded[:, idx + 1]


class _Timed:
    """Wraps a model to record the wall-clock time of each fit and each prediction."""

    def __init__(self, model, log: dict):
        self.model, self.log = model, log

    def fit(self, X, time, event) -> _Timed:
        start = time_now()
        self.model.fit(X, time, event)
        self.log["fit_s"].append(time_now() - start)
        self.log["n_fit"].append(len(X))
        return self

    def predict_cif(self, X, times, cause: int = 1) -> np.ndarray:
        start = time_now()
        out = self.model.predict_cif(X, times, cause=cause)
        self.log["predict_s"].append(time_now() - start)
        self.log["n_predict"].append(len(X))
        return out


def time_now() -> float:
    return time.perf_counter()


def make_factory(spec: ModelSpec, data: DataSpec, tau: float):
    """A zero-argument factory of a fresh, unfitted model for ``spec`` on ``data``."""
    from relapse_ml.models import make_model

    params = dict(spec.params)
    if spec.name == "rsf_deaths_censored":
        return lambda: DeathsCensoredRSF(**params)
    if spec.name in ("cox_cs", "fine_gray"):
        params.setdefault("penalizer", data.penalizer)
    if spec.name == "xgb_direct":
        params.setdefault("horizon", tau)  # as train._model_params
    make_model(spec.name, **params)  # fail fast on a bad parameter
    return lambda: make_model(spec.name, **params)


# ------------------------------------------------------------------------------ data


@dataclass
class BenchData:
    """A landmark data set ready for the benchmark, with its oracle risk when simulated."""

    spec: DataSpec
    ld: object  # relapse_ml.landmark.LandmarkData
    grid: np.ndarray
    tau: float
    oracle_risk: np.ndarray | None
    fingerprint: str
    seconds: float
    train_rows: np.ndarray | None = None  # holdout design only
    test_rows: np.ndarray | None = None

    def info(self) -> dict:
        ld = self.ld
        out = {
            "source": self.spec.source,
            "n_rows": len(ld),
            "n_features": int(ld.X.shape[1]),
            "events": {
                "relapse": int((ld.event == 1).sum()),
                "nrm": int((ld.event == 2).sum()),
                "censored": int((ld.event == 0).sum()),
            },
            "observed_relapse_incidence_tau": _aalen_johansen_at(ld.time, ld.event, self.tau),
            "tau": self.tau,
            "design": design_text(self.spec, len(ld)),
            "seconds_to_build": round(self.seconds, 2),
            "eval_grid": [float(self.grid[0]), float(self.grid[-1]), int(self.grid.size)],
            "oracle_mean_risk_tau": None
            if self.oracle_risk is None
            else float(np.mean(self.oracle_risk[_eval_frame(self)[4]])),
            "fingerprint": self.fingerprint,
        }
        if self.test_rows is not None:
            out["n_train"], out["n_test"] = int(self.train_rows.size), int(self.test_rows.size)
        return out


def design_text(spec: DataSpec, n_rows: int) -> str:
    if spec.design == "holdout":
        share = round(100 * (1 - spec.test_fraction))
        return (
            f"one stratified {share}/{100 - share} train/test split, "
            f"{spec.n_boot} bootstrap replicates of the test set"
        )
    rep = f" × {spec.n_repeats} repeats" if spec.n_repeats > 1 else ""
    return f"{spec.n_splits}-fold CV{rep}, pooled out-of-fold, {spec.n_boot} bootstrap replicates"


def load_data(spec: DataSpec, work_dir: Path) -> BenchData:
    """Simulate or import ``spec``'s cohort and build its landmark data set (as `train`)."""
    from relapse_ml.config import LandmarkConfig, TrainConfig
    from relapse_ml.train import eval_grid, landmark_data

    start = time_now()
    truth = None
    if spec.source == "simulated":
        from relapse_ml.simulate import simulate_trial

        trial = simulate_trial(
            n=spec.n,
            seed=spec.seed,
            scenario="mrd_driven",
            landmark_day=LANDMARK_DAY,
            horizon_days=HORIZON_DAYS,
        )
        cohort, truth, features = trial.to_cohort(), trial.truth, None
    else:
        from relapse_ml.data import read_cohort
        from relapse_ml.datasets import import_dataset

        cohort = read_cohort(import_dataset(spec.source, work_dir / spec.key, overwrite=True))
        features = REAL_FEATURES
    cfg = TrainConfig(
        name=spec.key,
        features=features,
        landmark=LandmarkConfig(landmark_day=LANDMARK_DAY, horizon_days=HORIZON_DAYS),
    )
    ld = landmark_data(cohort, cfg)
    grid, tau = eval_grid(cfg)
    risk = None if truth is None else own_arm_risk(cohort.patients, truth, ld.patient_id)
    data = BenchData(spec, ld, grid, tau, risk, fingerprint(ld, risk), time_now() - start)
    if spec.design == "holdout":
        data.train_rows, data.test_rows = holdout_split(ld.event, spec.test_fraction, spec.seed)
    return data


def own_arm_risk(patients: pd.DataFrame, truth: pd.DataFrame, patient_id) -> np.ndarray | None:
    """The truth's relapse risk at τ under each patient's own arm (as `train.oracle_risk`)."""
    truth = truth.set_index(truth["patient_id"].astype(str))
    arm = patients.set_index(patients["patient_id"].astype(str))["arm"].reindex(patient_id)
    risk = np.where(
        arm.to_numpy() == "sorafenib",
        truth["risk_sorafenib"].reindex(patient_id).to_numpy(float),
        truth["risk_control"].reindex(patient_id).to_numpy(float),
    )
    return None if np.isnan(risk).any() else risk


def holdout_split(event: np.ndarray, test_fraction: float, seed: int):
    """Train and test row positions, stratified by event code (one row per patient)."""
    from sklearn.model_selection import StratifiedShuffleSplit

    splitter = StratifiedShuffleSplit(n_splits=1, test_size=test_fraction, random_state=seed)
    train, test = next(splitter.split(np.zeros(event.size), event))
    return np.sort(train), np.sort(test)


def fingerprint(ld, risk) -> str:
    """A hash of the landmark data (and the truth), so cached cells follow data changes."""
    h = hashlib.sha1()
    h.update(json.dumps(list(map(str, ld.X.columns))).encode())
    for arr in (ld.X.to_numpy(dtype=float), ld.time, ld.event, risk):
        if arr is not None:
            h.update(np.ascontiguousarray(np.asarray(arr, dtype=float)).tobytes())
    return h.hexdigest()[:16]


def _aalen_johansen_at(time, event, tau: float) -> float:
    from relapse_ml.models import aalen_johansen

    return float(aalen_johansen(time, event, np.array([tau]), cause=1)[0])


# ------------------------------------------------------------------------ evaluation


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
    from relapse_ml.evaluation import EvaluationWarning, bootstrap_ci, evaluate_oracle

    if data.oracle_risk is None:
        return None
    t_tr, e_tr, t, e, rows = _eval_frame(data)
    risk = data.oracle_risk[rows]

    def metrics(idx):
        tt, ee = (t_tr, e_tr) if data.spec.design == "holdout" else (t[idx], e[idx])
        out = evaluate_oracle(tt, ee, t[idx], e[idx], risk[idx], data.tau, tables=False)
        return {k: v for k, v in out.items() if k not in ("tau", "n_test", "n_cases_tau")}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        ci = bootstrap_ci(
            metrics,
            np.arange(rows.size),
            groups=data.ld.patient_id[rows],
            n_boot=data.spec.n_boot,
            seed=data.spec.seed,
        )
    return {
        m: {
            "pooled": _num(r["estimate"]),
            "ci_low": _num(r["ci_low"]),
            "ci_high": _num(r["ci_high"]),
        }
        for m, r in ci.iterrows()
    }


def _eval_frame(data: BenchData):
    """(train time, train event, eval time, eval event, eval row positions) of a design."""
    ld = data.ld
    if data.spec.design == "holdout":
        tr, te = data.train_rows, data.test_rows
        return ld.time[tr], ld.event[tr], ld.time[te], ld.event[te], te
    rows = np.arange(len(ld))
    return ld.time, ld.event, ld.time, ld.event, rows


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
    from relapse_ml.evaluation import EvaluationWarning, bootstrap_ci

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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        ci = bootstrap_ci(
            all_contrasts,
            np.arange(rows.size),
            groups=data.ld.patient_id[rows],
            n_boot=data.spec.n_boot,
            seed=data.spec.seed + 1,
        )
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


def cell_key(data: BenchData, model: ModelSpec) -> str:
    blob = json.dumps(
        [VERSION, asdict(data.spec), asdict(model), data.fingerprint], sort_keys=True, default=str
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def read_cache(path: Path) -> dict[str, dict]:
    """Finished cells by key (later lines win; a truncated last line is ignored)."""
    cells = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            cells[rec["key"]] = rec
    return cells


def run_benchmark(
    data_specs=FULL_DATA,
    models=None,
    out_dir: Path = RESULTS,
    *,
    quick: bool = False,
    fresh: bool = False,
    progress=print,
) -> dict:
    """Run every (data, model) cell, reuse cached ones, and write the JSON and markdown results.

    Returns the results dict written to ``<out_dir>/benchmark_models.json``.
    """
    models = model_specs(quick) if models is None else models
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = out_dir / f"{STEM}.jsonl"
    if fresh and cache_path.exists():
        cache_path.unlink()
    cache = read_cache(cache_path)
    load_start, started = os.getloadavg(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    wall = time_now()
    results = {
        "what": "competing-risk models side by side (issue 3, section 6)",
        "started": started,
        "load_avg_start": load_start,
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "landmark_day": LANDMARK_DAY,
        "horizon_days": HORIZON_DAYS,
        "models": {m.key: {"label": m.label, "name": m.name, "params": m.params} for m in models},
        "data": {},
        "n_cells_cached": 0,
    }
    with tempfile.TemporaryDirectory(prefix="relapse-ml-bench-") as work:
        for spec in data_specs:
            data = load_data(spec, Path(work))
            progress(
                f"{spec.key}: {len(data.ld)} rows, {data.info()['events']}, "
                f"{data.info()['design']} (built in {data.seconds:.1f} s)"
            )
            cells = {}
            for model in models:
                key = cell_key(data, model)
                if key in cache:
                    cells[model.key] = cache[key]
                    results["n_cells_cached"] += 1
                    progress(f"  {model.key:<20} cached")
                    continue
                rec = {"key": key, **run_cell(data, model)}
                with cache_path.open("a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                cells[model.key] = rec
                s = rec["summary"]
                progress(
                    f"  {model.key:<20} C {s['c_index']['pooled']:.3f}  "
                    f"IPA {_fmt(s['ipa_tau']['pooled'], '+.3f')}  fit {rec['fit_s']:.2f} s  "
                    f"(cell {rec['cell_s']:.0f} s, load {rec['load_avg_1min']:.1f})"
                )
            entry = {**data.info(), "spec": asdict(spec), "oracle": oracle_summary(data)}
            entry["comparisons"] = comparisons(data, cells, feature_ceiling(data))
            entry["feature_ceiling"] = entry["comparisons"].pop("feature_ceiling")
            entry["cells"] = {
                k: {kk: vv for kk, vv in c.items() if kk not in ("risk_tau", "null_tau")}
                for k, c in cells.items()
            }
            results["data"][spec.key] = entry
    results["targets"] = assess_targets(results)
    results["load_avg_end"] = os.getloadavg()
    results["wall_s"] = round(time_now() - wall, 1)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    (out_dir / f"{STEM}.json").write_text(
        json.dumps(results, indent=1, default=_json_default) + "\n"
    )
    (out_dir / f"{STEM}.md").write_text(render_markdown(results))
    return results


def _json_default(obj):
    if isinstance(obj, np.integer | np.floating):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


# --------------------------------------------------------------------------- markdown


def _fmt(v, spec: str = ".3f") -> str:
    return "—" if v is None or not np.isfinite(v) else format(v, spec)


def _ci(m: dict, spec: str = ".3f", key: str = "pooled") -> str:
    return f"{_fmt(m[key], spec)} [{_fmt(m['ci_low'], spec)}, {_fmt(m['ci_high'], spec)}]"


def render_markdown(results: dict) -> str:
    """The compact tables the README quotes: metrics, paired differences, targets."""
    grids = [d["eval_grid"] for d in results["data"].values()]
    cells = [c for d in results["data"].values() for c in d["cells"].values()]
    cell_s = sum(c["cell_s"] for c in cells)
    loads = [c["load_avg_1min"] for c in cells] or [float("nan")]
    n_cached = results.get("n_cells_cached", 0)
    lo, hi = grids[0][:2] if grids else (0.0, 0.0)
    lines = [
        f"Landmark day {results['landmark_day']}, horizon {results['horizon_days']} days from the "
        "landmark; metrics read at τ = horizon − 0.5 day. Point estimate [95% bootstrap interval, "
        "patients resampled]. C = Wolbers' competing-risk C-index; IBS = integrated Brier score "
        f"over days {lo:g}–{hi:g} from the landmark; "
        "cal. slope from pseudo-observations (ideal 1); IPA = 1 − Brier/Brier(null) at τ. "
        "fit/predict s: wall-clock seconds per fit and per prediction call (1 thread; shared "
        "machine, load average "
        f"{results['load_avg_start'][0]:.1f} at start, {results['load_avg_end'][0]:.1f} at end). "
        "Oracle = the simulation's true risk under each patient's own arm. Mean risk = mean "
        "predicted relapse incidence at τ; observed = Aalen–Johansen at τ. "
        f"Compute: {cell_s / 60:.1f} min in the (data, model) cells (per-cell 1-min load "
        f"{min(loads):.1f}–{max(loads):.1f}); this invocation {results['wall_s'] / 60:.1f} min"
        f"{f', reusing {n_cached} cached cells' if n_cached else ''}.",
        "",
        *[f"- {k}: {d['design']}." for k, d in results["data"].items()],
        "",
        "| data | model | C-index [95% CI] | C / oracle | AUC(τ) | IBS | cal. slope | IPA(τ) "
        "| mean risk | fit s | predict s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dkey, d in results["data"].items():
        head = (
            f"{dkey} (n = {d['n_rows']}, {d['events']['relapse']} relapses, "
            f"{d['events']['nrm']} NRM; observed {_fmt(d['observed_relapse_incidence_tau'])})"
        )
        first = True
        for mkey, c in d["cells"].items():
            s = c["summary"]
            ratio = d["comparisons"]["vs_oracle"].get(mkey, {}).get("c_index")
            slope = (
                "—" if mkey == "aalen_johansen" else _fmt(s["calibration_slope"]["pooled"], ".2f")
            )
            lines.append(
                f"| {head if first else ''} | {c['label']} | {_ci(s['c_index'])} | "
                f"{_ci(ratio, '.3f', 'estimate') if ratio else ''} | {_fmt(s['auc_tau']['pooled'])} | "
                f"{_fmt(s['ibs']['pooled'])} | {slope} | {_fmt(s['ipa_tau']['pooled'], '+.3f')} | "
                f"{_fmt(c['mean_risk_tau'])} | {_fmt(c['fit_s'], '.2f')} | {_fmt(c['predict_s'], '.2f')} |"
            )
            first = False
        if d["oracle"] is not None:
            o = d["oracle"]
            lines.append(
                f"| | **oracle (truth)** | {_ci(o['c_index'])} | 1 | {_fmt(o['auc_tau']['pooled'])} "
                f"| — | {_fmt(o['calibration_slope']['pooled'], '.2f')} | "
                f"{_fmt(o['ipa_tau']['pooled'], '+.3f')} | {_fmt(d['oracle_mean_risk_tau'])} "
                "| — | — |"
            )
        f = d.get("feature_ceiling")
        if f is not None:
            lines.append(
                f"| | *feature ceiling (fitted to the true risk)* | "
                f"{_ci(f['c_index'], '.3f', 'estimate')} | "
                f"{_ci(f['ratio']['c_index'], '.3f', 'estimate')} | "
                f"{_fmt(f['auc_tau']['estimate'])} | — | — | — | — "
                "| — | — |"
            )
    lines += [
        "",
        "Paired differences from the cause-specific Cox model (same out-of-fold predictions, "
        "same resampled patients), at τ:",
        "",
        "| data | model | ΔC-index [95% CI] | ΔAUC(τ) [95% CI] | ΔIPA(τ) [95% CI] |",
        "|---|---|---|---|---|",
    ]
    for dkey, d in results["data"].items():
        for mkey, diff in d["comparisons"]["vs_cox"].items():
            label = d["cells"][mkey]["label"]
            lines.append(
                f"| {dkey} | {label} | {_ci(diff['c_index'], '+.3f', 'estimate')} | "
                f"{_ci(diff['auc_tau'], '+.3f', 'estimate')} | "
                f"{_ci(diff['ipa_tau'], '+.3f', 'estimate')} |"
            )
    lines += ["", "Targets:", ""] + target_lines(results.get("targets", {})) + [""]
    return "\n".join(lines)


def target_lines(targets: dict) -> list[str]:
    out = []
    r = targets.get("ratio_to_oracle_at_2000")
    if r:
        verdict = "met" if r["met"] else "NOT met"
        out.append(
            f"- Best toolkit model at n = 2,000 reaches ≥ {r['target']:.0%} of the oracle's "
            f"C-index: **{verdict}** — {r['best_model']} C = {r['c_index']:.3f} vs oracle "
            f"{r['oracle_c_index']:.3f}, ratio {_ci(r['ratio'], '.3f', 'estimate')}."
        )
    for dkey, b in targets.get("xgb_beats_cox_on_simulated", {}).items():
        if b["interval_excludes_zero"]:
            verdict = "met (interval above 0)"
        elif b["point_estimate_better"]:
            verdict = "NOT shown (better point estimate, interval includes 0)"
        else:
            verdict = "NOT met"
        out.append(
            f"- {dkey}: {b['best_xgb']} beats the cause-specific Cox model: **{verdict}** — "
            f"ΔC = {_ci(b['delta_c_index'], '+.3f', 'estimate')}."
        )
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and models (smoke run)")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default experiments/results; --quick: a temp dir)",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore and replace cached cells")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite the markdown from the JSON results"
    )
    args = parser.parse_args(argv)
    out = args.out
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="relapse-ml-bench-quick-")) if args.quick else RESULTS
    if args.render_only:
        results = json.loads((out / f"{STEM}.json").read_text())
        (out / f"{STEM}.md").write_text(render_markdown(results))
        print(f"wrote {out / (STEM + '.md')}")
        return 0
    results = run_benchmark(
        QUICK_DATA if args.quick else FULL_DATA, out_dir=out, quick=args.quick, fresh=args.fresh
    )
    print(f"wrote {out / (STEM + '.json')} and {out / (STEM + '.md')} in {results['wall_s']:.0f} s")
    print("\n".join(target_lines(results["targets"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
