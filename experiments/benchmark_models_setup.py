"""Set-up of `benchmark_models.py`: the data sets, the models (the RSF peer with deaths censored),
their factories, the landmark data with the truth, and small helpers."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
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


def _eval_frame(data: BenchData):
    """(train time, train event, eval time, eval event, eval row positions) of a design."""
    ld = data.ld
    if data.spec.design == "holdout":
        tr, te = data.train_rows, data.test_rows
        return ld.time[tr], ld.event[tr], ld.time[te], ld.event[te], te
    rows = np.arange(len(ld))
    return ld.time, ld.event, ld.time, ld.event, rows
