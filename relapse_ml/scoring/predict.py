"""Lean prediction from a model's exported numbers: numpy only, XGBoost boosters for trees.

`relapse_ml.models` imports scikit-learn (about 1 s), so the scoring path re-implements
``predict_cumulative_incidence`` of every model type from plain numbers, sharing the
incidence arithmetic itself (`relapse_ml.incidence`: step functions, Breslow baselines,
the combination of two cause-specific hazards) with the models;
``tests/test_scoring_bundle.py`` checks both agree to 1e-9 for every model type.

All ``predict_incidence(X, times)`` take ``X`` as a float array whose columns are the
model's feature columns in order, and return ``(n, 3, n_times)``: event-free survival,
relapse incidence, non-relapse-mortality incidence, at ``times`` days from the landmark.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from relapse_ml.errors import ModelError
from relapse_ml.incidence import (
    assemble_incidence,
    cap_total_incidence,
    cumulative_incidence_from_hazards,
    marginal_incidence,
    step_at,
)
from relapse_ml.scoring.arrays import Baseline, _array, _list, check_times  # noqa: F401
from relapse_ml.scoring.linear import CoxNumbers, FineGrayNumbers, Standardiser  # noqa: F401

# class names of `relapse_ml.models` -> model names (duck-typed: no sklearn import here)
MODEL_TYPES = {
    "AalenJohansen": "aalen_johansen",
    "CauseSpecificCox": "cox_cs",
    "FineGray": "fine_gray",
    "ShrunkFineGray": "fine_gray",  # benefit S-learner: Fine–Gray, interaction columns rescaled
    "XGBoostCauseSpecific": "xgb_cs",
    "XGBoostDirect": "xgb_direct",
    "TrajectoryModel": "trajectory",
    "StackedCompetingRisk": "stack",
}
TREE_TYPES = ("xgb_cs", "xgb_direct")
LEAN_IMPORTS = {"xgboost_without_sklearn": False}  # set by the `score` command only


# -- numerics: the same numpy code the models use (relapse_ml.incidence, no scikit-learn) ----
incidence_from_hazards = cumulative_incidence_from_hazards


# -- the models ---------------------------------------------------------------------------------
class AalenJohansenNumbers:
    """The marginal model: the training cohort's Aalen–Johansen curves for everyone (per
    landmark day on stacked landmarks: `models.aalen_johansen`)."""

    model_type = "aalen_johansen"

    def __init__(self, tables: dict, day_column: int | None = None):
        self.tables = {float(k): tuple(_array(v) for v in t) for k, t in tables.items()}
        self.day_column = day_column

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        t = check_times(times)
        days = None if self.day_column is None else X[:, self.day_column]
        return assemble_incidence(*marginal_incidence(self.tables, days, t, X.shape[0]))

    def to_files(self) -> tuple[dict, dict[str, bytes]]:
        day0 = min(self.tables)
        grid, f1, f2 = self.tables[day0]
        spec = {"event_times": _list(grid), "f1": _list(f1), "f2": _list(f2)}
        if len(self.tables) > 1:  # older readers take the first landmark's curves
            spec["strata"] = [
                {"landmark_day": k, "event_times": _list(g), "f1": _list(a), "f2": _list(b)}
                for k, (g, a, b) in sorted(self.tables.items())
            ]
        return spec, {}

    @classmethod
    def from_files(cls, spec, files, feature_columns):
        if "strata" not in spec:
            return cls({0.0: (spec["event_times"], spec["f1"], spec["f2"])})
        tables = {s["landmark_day"]: (s["event_times"], s["f1"], s["f2"]) for s in spec["strata"]}
        return cls(tables, list(feature_columns).index("landmark_day"))


class XGBCauseSpecificNumbers:
    """Cause-specific XGBoost: booster margins (log hazard ratios) and Breslow baselines."""

    model_type = "xgb_cs"

    def __init__(self, boosters: dict, n_rounds: dict[int, int], base: dict[int, Baseline]):
        self.boosters, self.n_rounds, self.base = boosters, n_rounds, base

    def margin(self, X: np.ndarray, cause: int) -> np.ndarray:
        xgb = load_xgboost()
        return self.boosters[cause].predict(
            xgb.DMatrix(X, missing=np.nan, nthread=1),
            output_margin=True,
            iteration_range=(0, self.n_rounds[cause]),
        )

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        t = check_times(times)
        f = incidence_from_hazards(
            self.base[1], self.margin(X, 1), self.base[2], self.margin(X, 2), t
        )
        return assemble_incidence(*f)

    def to_files(self):
        files = {
            f"booster_cause{k}.json": _booster_json(b, self.n_rounds[k])
            for k, b in self.boosters.items()
        }
        return {
            "boosters": {str(k): f"booster_cause{k}.json" for k in self.boosters},
            "n_rounds": {str(k): int(v) for k, v in self.n_rounds.items()},
            "baselines": {str(k): b.to_json() for k, b in self.base.items()},
        }, files

    @classmethod
    def from_files(cls, spec, files, feature_columns):
        boosters = {int(k): _booster(files[name]) for k, name in spec["boosters"].items()}
        n_rounds = {int(k): int(v) for k, v in spec["n_rounds"].items()}
        base = {int(k): Baseline.from_json(v) for k, v in spec["baselines"].items()}
        return cls(boosters, n_rounds, base)


class XGBDirectNumbers:
    """Direct IPCW multinomial XGBoost: one booster per grid time, monotone and capped."""

    model_type = "xgb_direct"

    def __init__(self, times, boosters: list, n_rounds: list[int], priors: list[np.ndarray]):
        self.times = _array(times)
        self.boosters, self.n_rounds, self.priors = boosters, n_rounds, priors

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        xgb = load_xgboost()
        t = check_times(times)
        probs = []
        for booster, n_rounds, prior in zip(self.boosters, self.n_rounds, self.priors, strict=True):
            data = xgb.DMatrix(
                X, base_margin=np.tile(prior, (X.shape[0], 1)), missing=np.nan, nthread=1
            )
            probs.append(booster.predict(data, iteration_range=(0, n_rounds)))
        probs = np.stack(probs, axis=2)
        f1 = np.maximum.accumulate(probs[:, 1, :], axis=1)
        f2 = np.maximum.accumulate(probs[:, 2, :], axis=1)
        f1, f2 = cap_total_incidence(f1, f2)
        return assemble_incidence(step_at(self.times, f1, t), step_at(self.times, f2, t))

    def to_files(self):
        names = [f"booster_t{j}.json" for j in range(len(self.boosters))]
        files = {
            n: _booster_json(b, r)
            for n, b, r in zip(names, self.boosters, self.n_rounds, strict=True)
        }
        return {
            "times": _list(self.times),
            "boosters": names,
            "n_rounds": [int(r) for r in self.n_rounds],
            "prior_margins": [_list(p) for p in self.priors],
        }, files

    @classmethod
    def from_files(cls, spec, files, feature_columns):
        return cls(
            spec["times"],
            [_booster(files[n]) for n in spec["boosters"]],
            [int(r) for r in spec["n_rounds"]],
            [_array(p) for p in spec["prior_margins"]],
        )


NUMBERS = {
    c.model_type: c
    for c in (
        AalenJohansenNumbers,
        CoxNumbers,
        FineGrayNumbers,
        XGBCauseSpecificNumbers,
        XGBDirectNumbers,
    )
}


def single_numbers_from_model(model):
    """The lean twin of a fitted single `relapse_ml.models` model (refuses other types)."""
    model_type = MODEL_TYPES.get(type(model).__name__)
    if model_type is None:
        raise ModelError(
            f"a {type(model).__name__} model cannot be exported to a bundle; "
            f"exportable model types: {', '.join(dict.fromkeys(MODEL_TYPES.values()))}"
        )
    if not getattr(model, "is_fitted_", False):
        raise ModelError(f"the {model_type} model is not fitted; nothing to export")
    if model_type in ("trajectory", "stack"):
        raise ModelError(f"a {model_type} is not a single model (see scoring/numbers.py)")
    if model_type == "aalen_johansen":
        tables = model.tables()
        columns = [str(c) for c in model.feature_names_in_]
        day = columns.index("landmark_day") if len(tables) > 1 else None
        return AalenJohansenNumbers(tables, day)
    if model_type in ("cox_cs", "fine_gray"):
        cls = CoxNumbers if model_type == "cox_cs" else FineGrayNumbers
        return cls.of(model, [str(c) for c in model.feature_names_in_])
    if model_type == "xgb_cs":
        return XGBCauseSpecificNumbers(
            dict(model.boosters_),
            {k: int(v) for k, v in model.n_rounds_.items()},
            {k: Baseline.of(model.baselines_[k]) for k in (1, 2)},
        )
    return XGBDirectNumbers(
        model.times_,
        list(model.boosters_),
        [int(r) for r in model.n_rounds_],
        [_array(p) for p in model.prior_margins_],
    )


def single_numbers_from_files(model_type: str, spec: dict, files: dict[str, bytes],
                              feature_columns):
    """Rebuild a lean single model from its JSON ``spec`` and extra ``files`` (booster JSON bytes)."""
    if model_type not in NUMBERS:
        raise ModelError(
            f"unknown model type '{model_type}' in the bundle; "
            f"this relapse-ml knows: {', '.join(NUMBERS)}"
        )
    return NUMBERS[model_type].from_files(spec, files, list(feature_columns))


# -- helpers ------------------------------------------------------------------------------------
def load_xgboost():
    """``import xgboost``; on the score command's path without its optional scikit-learn import.

    XGBoost imports scikit-learn (about 1.2 s) only for its scikit-learn wrappers, which
    scoring never uses. Blocking that import is done only when the ``score`` command asks
    for it (`LEAN_IMPORTS`), never in a library call, so other code in the same process
    keeps XGBoost's full API.
    """
    if "xgboost" in sys.modules:
        return sys.modules["xgboost"]
    if LEAN_IMPORTS["xgboost_without_sklearn"] and "sklearn" not in sys.modules:
        sys.modules["sklearn"] = None  # makes `import sklearn` raise ImportError
        try:
            import xgboost
        finally:
            if sys.modules.get("sklearn", 0) is None:
                del sys.modules["sklearn"]
        return xgboost
    import xgboost

    return xgboost


def xgboost_version() -> str:
    return str(load_xgboost().__version__)


def _booster_json(booster, n_rounds: int) -> bytes:
    """XGBoost's JSON of the rounds prediction uses (trees after early stopping are dropped)."""
    return bytes(booster[: int(n_rounds)].save_raw(raw_format="json"))


def _booster(data: bytes):
    """A booster from its XGBoost JSON, predicting on one thread.

    A loaded booster predicts with all threads by default; for one patient the thread
    start-up costs 10-30 ms per call, more than the prediction (sums are the same).
    """
    xgb = load_xgboost()
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(data))
    except xgb.core.XGBoostError as err:
        raise ModelError(
            f"a booster in the bundle cannot be read by XGBoost "
            f"{xgb.__version__}: {str(err).splitlines()[0]}"
        ) from None
    booster.set_param({"nthread": 1})
    return booster


def dumps(obj) -> bytes:
    """Canonical JSON bytes (sorted keys, no NaN) for bundle files."""
    return (json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()
