"""Lean twins of the linear models (cause-specific Cox, Fine–Gray) for bundles: numpy only.

The same arithmetic as the models: `relapse_ml.scaling` (the preprocessing),
`relapse_ml.landmark_strata` (per-landmark baselines mixed linearly in L between training
landmarks; feature × landmark interaction columns) and `relapse_ml.incidence` (the
combination into incidences). ``tests/test_scoring_bundle.py`` and
``tests/test_models_landmark_strata.py`` check them against the models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relapse_ml.errors import ModelError
from relapse_ml.incidence import (
    assemble_incidence,
    cumulative_incidence_from_hazards,
    fine_gray_incidence,
)
from relapse_ml.landmark_strata import (
    DAY_COLUMN,
    INTERACTION_ORIGIN,
    INTERACTION_SPAN,
    stratified_incidence,
    with_interactions,
)
from relapse_ml.scaling import scale_columns
from relapse_ml.scoring.arrays import Baseline, _array, _list, check_times


@dataclass
class Standardiser:
    """Median imputation and standardisation of the kept columns (``LinearPreprocessor``)."""

    columns: list[str]
    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    index: np.ndarray | None = None  # positions of ``columns`` among the feature columns
    # training range and log offsets (NaN: not logged); None in bundles made before them
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    log_offset: np.ndarray | None = None

    def bind(self, feature_columns: list[str]) -> Standardiser:
        pos = {c: i for i, c in enumerate(feature_columns)}
        missing = [c for c in self.columns if c not in pos]
        if missing:
            raise ModelError(f"model uses columns absent from its feature list: {missing[:5]}")
        self.index = np.asarray([pos[c] for c in self.columns], dtype=int)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return scale_columns(X[:, self.index], lower=self.lower, upper=self.upper,
                             median=self.median, log_offset=self.log_offset, mean=self.mean,
                             scale=self.scale)

    def to_json(self) -> dict:
        return {
            "columns": list(self.columns),
            "median": _list(self.median),
            "mean": _list(self.mean),
            "scale": _list(self.scale),
        } | {k: _list(v) for k, v in (("lower", self.lower), ("upper", self.upper),
                                       ("log_offset", self.log_offset)) if v is not None}

    @classmethod
    def from_json(cls, d: dict) -> Standardiser:
        extra = {k: _array(d[k]) for k in ("lower", "upper", "log_offset") if k in d}
        return cls(list(d["columns"]), _array(d["median"]), _array(d["mean"]), _array(d["scale"]),
                   **extra)


class CoxNumbers:
    """Cause-specific Cox: standardised linear margins, Breslow baselines, combined hazards.

    base: {cause: Baseline}, or on stacked landmarks {cause: {landmark day: Baseline}}
    (``day_column``: position of ``landmark_day`` among the feature columns);
    interactions: positions among the standardised columns that have a × s(L) column, and
    ``rms`` their scale (`landmark_strata.with_interactions`); penalizer: {cause: the ridge
    penalty of the fit} (a record of what ``penalizer: auto`` chose; not used to predict).
    """

    model_type = "cox_cs"
    combine = staticmethod(cumulative_incidence_from_hazards)

    def __init__(self, pre: Standardiser, beta: dict[int, np.ndarray], base: dict,
                 interactions: np.ndarray | None = None, day_column: int | None = None,
                 rms: float = 1.0, penalizer: dict[int, float] | None = None):
        self.pre, self.beta, self.base = pre, beta, base
        self.penalizer = penalizer
        self.interactions, self.day_column, self.rms = interactions, day_column, rms
        self.strata = (np.array(sorted(base[1]), float) if isinstance(base[1], dict) else None)

    def margins(self, X: np.ndarray) -> dict[int, np.ndarray]:
        Z = self.pre.transform(X)
        if self.interactions is not None:
            Z = with_interactions(Z, X[:, self.day_column], self.interactions, self.rms)
        return {k: Z @ self.beta[k] for k in (1, 2)}

    def predict_incidence(self, X: np.ndarray, times) -> np.ndarray:
        t = check_times(times)
        m = self.margins(X)
        b1, b2 = self.base[1], self.base[2]
        if self.strata is None:
            return assemble_incidence(*self.combine(b1, m[1], b2, m[2], t))
        return assemble_incidence(*stratified_incidence(
            X[:, self.day_column], self.strata, t.size,
            lambda k, rows: self.combine(b1[k], m[1][rows], b2[k], m[2][rows], t)))

    def to_files(self):
        spec = {"preprocessor": self.pre.to_json(),
                "beta_std": {str(k): _list(b) for k, b in self.beta.items()}}
        if self.penalizer is not None:
            spec["penalizer"] = {str(k): float(v) for k, v in self.penalizer.items()}
        if self.strata is None:
            spec["baselines"] = {str(k): b.to_json() for k, b in self.base.items()}
        else:  # no "baselines": a reader without strata must refuse, not use one landmark's
            spec["strata"] = [{"landmark_day": float(d),
                               "baselines": {str(k): self.base[k][d].to_json() for k in (1, 2)}}
                              for d in self.strata]
        if self.interactions is not None:
            spec["interactions"] = {
                "columns": [self.pre.columns[j] for j in self.interactions],
                "origin": INTERACTION_ORIGIN, "span": INTERACTION_SPAN, "rms": float(self.rms)}
        return spec, {}

    @classmethod
    def from_files(cls, spec, files, feature_columns):
        pre = Standardiser.from_json(spec["preprocessor"]).bind(feature_columns)
        beta = {int(k): _array(v) for k, v in spec["beta_std"].items()}
        interactions = day = None
        rms = 1.0
        if "strata" in spec:
            base = {k: {float(s["landmark_day"]): Baseline.from_json(s["baselines"][str(k)])
                        for s in spec["strata"]} for k in (1, 2)}
        else:
            base = {int(k): Baseline.from_json(v) for k, v in spec["baselines"].items()}
        if "interactions" in spec:
            inter = spec["interactions"]
            if (inter["origin"], inter["span"]) != (INTERACTION_ORIGIN, INTERACTION_SPAN):
                raise ModelError("the bundle's landmark interactions use another scale than "
                                 "this relapse-ml; score it with the version that made it")
            interactions = np.array([pre.columns.index(c) for c in inter["columns"]], int)
            rms = float(inter["rms"])
        if "strata" in spec or "interactions" in spec:
            day = list(feature_columns).index(DAY_COLUMN)
        penalizer = ({int(k): float(v) for k, v in spec["penalizer"].items()}
                     if "penalizer" in spec else None)
        return cls(pre, beta, base, interactions, day, rms, penalizer)

    @classmethod
    def of(cls, model, feature_columns: list[str]):
        """The twin of a fitted `CauseSpecificCox` / `FineGray` (or a subclass)."""
        p = model.preprocessor_
        base = getattr(p, "pre", p)  # a rescaled preprocessor (ShrunkFineGray): its scale_
        pre = Standardiser(list(p.columns_), _array(base.median_), _array(base.mean_),
                           _array(p.scale_), lower=_array(base.lower_), upper=_array(base.upper_),
                           log_offset=_array(base.log_offset_))
        pre.bind(feature_columns)

        def baseline(b):
            return {float(d): Baseline.of(v) for d, v in b.items()} if isinstance(b, dict) \
                else Baseline.of(b)

        inter = getattr(model, "interaction_columns_", None)
        stratified = getattr(model, "landmark_strata_", None) is not None
        day = (feature_columns.index(DAY_COLUMN) if stratified or inter is not None else None)
        return cls(pre, {k: _array(model.beta_std_[k]) for k in (1, 2)},
                   {k: baseline(model.baselines_[k]) for k in (1, 2)},
                   None if inter is None else np.asarray(inter, int), day,
                   float(getattr(model, "interaction_rms_", 1.0)),
                   getattr(model, "penalizer_", None))


class FineGrayNumbers(CoxNumbers):
    """Fine–Gray: F_k = 1 - exp(-Lambda_k0 exp(beta'x)) per cause, capped where F1 + F2 > 1."""

    model_type = "fine_gray"
    combine = staticmethod(fine_gray_incidence)
