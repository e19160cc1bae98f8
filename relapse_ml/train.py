"""The researcher's main loop: config → landmark features → cross-validated competing-risk
models → oracle comparison (simulated data) → final model → MLflow run and registry.

The evaluation horizon is the config's ``horizon_days`` counted from the landmark; because
the landmark data are administratively censored at exactly that day, metrics are read at
``horizon − 0.5`` days so that patients followed to the horizon count as event-free there.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.config import TrainConfig
from relapse_ml.data.cohort import Cohort

HALF_DAY = 0.5
KEY_METRICS = ("c_index", "c_index_ipcw", "auc_tau", "brier_tau", "ipa_tau", "ibs", "mean_auc",
               "calibration_slope", "calibration_intercept", "ici", "mean_gap")


@dataclass
class TrainResult:
    """What a training run produced (aggregates only)."""

    metrics: pd.DataFrame  # one row per (model, metric): pooled, ci_low, ci_high, mean, sd
    final_model: str
    predictor: object
    n_rows: int
    n_patients: int
    events: dict
    tau: float
    oracle: pd.DataFrame | None = None  # metric × (model, oracle, ratio) for the final model
    oracle_by_landmark: pd.DataFrame | None = None  # the same per landmark (and "pooled")
    oracle_note: str | None = None  # landmarks (or rows) without truth, in words
    run_id: str | None = None
    tracking_uri: str | None = None
    model_version: str | None = None
    figures: dict = field(default_factory=dict)
    cv: dict = field(default_factory=dict)
    guard: object = None  # registration.GuardResult of the final model
    registration_refused: str | None = None  # why the final model was not registered


def feature_list(cfg: TrainConfig) -> list[str] | None:
    """The config's features, plus the hidden marker histories when a model is ``trajectory``
    (or a stack with a ``trajectory`` member)."""
    if not any(_uses_trajectory(m) for m in cfg.models):
        return cfg.features
    from relapse_ml.features import resolve_features

    names = resolve_features(cfg.features)
    return names if "marker_history" in names else [*names, "marker_history"]


def _uses_trajectory(spec) -> bool:
    members = spec.params.get("members") or () if spec.name == "stack" else ()
    return spec.name == "trajectory" or any(
        isinstance(m, dict) and m.get("name") == "trajectory" for m in members)


def landmark_data(cohort: Cohort, cfg: TrainConfig):
    """The landmark (or stacked super-landmark) data set the config asks for."""
    from relapse_ml.landmark import landmark_dataset, super_landmark_dataset

    lm = cfg.landmark
    if lm.super_landmark:
        return super_landmark_dataset(cohort, landmarks=tuple(lm.landmarks),
                                      horizon_days=lm.horizon_days, features=feature_list(cfg))
    return landmark_dataset(cohort, landmark_day=lm.landmark_day, horizon_days=lm.horizon_days,
                            features=feature_list(cfg))


def n_features(X: pd.DataFrame) -> int:
    """Columns a model reads: the hidden marker histories (``_obs:*``) are raw input, no feature."""
    from relapse_ml.features.trajectory import HIDDEN_PREFIX

    return sum(not str(c).startswith(HIDDEN_PREFIX) for c in X.columns)


def eval_grid(cfg: TrainConfig) -> tuple[np.ndarray, float]:
    """Evaluation times (days from the landmark) and the horizon at which τ-metrics are read."""
    H = float(cfg.landmark.horizon_days)
    tau = H - HALF_DAY
    if cfg.evaluation.times:
        grid = np.asarray(sorted(t for t in cfg.evaluation.times if 0 < t < H), float)
    else:
        grid = np.linspace(H / 20, tau, 20)
    return np.union1d(grid, [tau]), tau


def oracle_risk(cohort: Cohort, cfg: TrainConfig, patient_id, landmark_day) -> np.ndarray | None:
    """Each row's true relapse risk in (L, L + horizon] under the arm received (evaluation only).

    Read from a simulated cohort's truth files, for rows given by ``patient_id`` and
    ``landmark_day``: in a single-landmark run whose ``truth`` (meta.json) was computed at this
    landmark and horizon, that truth (given the latent state at randomization); otherwise
    ``truth_at_landmarks`` (given the latent state at the row's landmark; `relapse-ml simulate
    --truth-landmarks`), NaN for a row it does not cover (every row when a simulated cohort has
    no such file). None when the cohort has no truth for this horizon.
    """
    if cohort.path is None or not (cohort.path / "meta.json").exists():
        return None
    meta = json.loads((cohort.path / "meta.json").read_text())
    if float(meta.get("horizon_days", -1)) != float(cfg.landmark.horizon_days):
        return None
    pid = pd.Index(np.asarray(patient_id).astype(str))
    day = np.asarray(landmark_day, dtype=float)
    truth = _truth_file(cohort.path, "truth")
    if (truth is not None and not cfg.landmark.super_landmark
            and float(meta.get("landmark_day", -1)) == float(cfg.landmark.landmark_day)):
        truth = truth.set_index("patient_id")
        arm = cohort.patients.set_index("patient_id")["arm"].reindex(pid).to_numpy()
        return np.where(arm == "sorafenib",
                        truth["risk_sorafenib"].reindex(pid).to_numpy(float),
                        truth["risk_control"].reindex(pid).to_numpy(float))
    at = _truth_file(cohort.path, "truth_at_landmarks")
    if at is None:  # a simulated cohort without it: no row has truth (the note says so)
        return np.full(len(pid), np.nan) if truth is not None else None
    at = at.set_index([at["landmark_day"].astype(float), "patient_id"])["risk"]
    return at.reindex(pd.MultiIndex.from_arrays([day, pid])).to_numpy(float)


def _truth_file(directory: Path, name: str) -> pd.DataFrame | None:
    for ext, read in (("csv", partial(pd.read_csv, dtype={"patient_id": str})),
                      ("parquet", pd.read_parquet)):
        if (directory / f"{name}.{ext}").exists():
            df = read(directory / f"{name}.{ext}")
            return df.assign(patient_id=df["patient_id"].astype(str))
    return None


def oracle_comparison(cohort: Cohort, cfg: TrainConfig, ld, cv, tau: float):
    """The final model's out-of-fold metrics beside the oracle's (`oracle_risk`), per landmark
    and pooled over the stacked landmarks; ``(pooled, by_landmark, note)`` or Nones.

    pooled: metric × (model, oracle, ratio) on every row with truth; by_landmark: the same per
    landmark (`evaluation.oracle.compare_by_landmark`); note: a plain sentence on the
    landmarks (or rows) without truth, None when every row has it.
    """
    from relapse_ml.evaluation import EvaluationWarning
    from relapse_ml.evaluation.oracle import compare_by_landmark

    risk = oracle_risk(cohort, cfg, ld.patient_id, ld.landmark_day)
    if risk is None:
        return None, None, None
    j = int(np.argmin(np.abs(np.asarray(cv.times, float) - tau)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EvaluationWarning)
        table, coverage = compare_by_landmark(ld.time, ld.event, ld.landmark_day,
                                              cv.oof_cif[..., j], risk, tau)
    notes = []
    none = [f"{d:g}" for d, r in coverage.iterrows() if r["rows_with_truth"] == 0]
    if none:
        notes.append(f"no truth at landmark day {', '.join(none)} (simulate with --truth-landmarks "
                     "to have it)")
    part = [f"day {d:g} {r['rows'] - r['rows_with_truth']} of {r['rows']}"
            for d, r in coverage.iterrows() if 0 < r["rows_with_truth"] < r["rows"]]
    if part:
        notes.append("rows without truth left out: " + ", ".join(part))
    note = "; ".join(notes) or None
    if table.empty:
        return None, None, note
    label = "pooled" if (table["landmark"] == "pooled").any() else table["landmark"].iloc[0]
    pooled = table[table["landmark"] == label].drop(columns="landmark").set_index("metric")
    return pooled, table, note


def run_training(cfg: TrainConfig, cohort: Cohort, *, track: bool = True, progress=print,
                 force: bool = False, folds: Path | None = None,
                 save_oof: Path | None = None) -> TrainResult:
    """Cross-validate every configured model, refit the best on all data, track the run.

    The final model is registered only when it passes the registration guard
    (`relapse_ml.registration`) or ``force`` is set; the run is logged either way.
    folds: a fold file (`relapse_ml.folds`) replacing the stratified splits;
    save_oof: write every model's out-of-fold incidences at the horizon there.
    """
    from relapse_ml import folds as F

    if save_oof is not None:
        F.check_writable(save_oof)
    from relapse_ml.evaluation import EvaluationWarning, cross_validate
    from relapse_ml.models import make_model
    from relapse_ml.predictor import RelapseRiskPredictor, training_ranges

    # every model made first: a bad model parameter fails before the landmark data are built
    made = {spec.display: make_model(spec.name, **model_params(spec, cfg)) for spec in cfg.models}
    ld = landmark_data(cohort, cfg)
    if len(ld) < 2 * cfg.evaluation.n_splits or int((ld.event == 1).sum()) < cfg.evaluation.n_splits:
        from relapse_ml.errors import RelapseMLError

        raise RelapseMLError(
            f"{cohort.name}: only {len(ld)} patients at risk at the landmark with "
            f"{int((ld.event == 1).sum())} relapses — too few for {cfg.evaluation.n_splits}-fold "
            "cross-validation; lower evaluation.n_splits or use more data")
    given, repeats = F.read_folds(folds, ld.patient_id) if folds is not None else (None, None)
    grid, tau = eval_grid(cfg)
    H = float(cfg.landmark.horizon_days)
    progress(f"{cohort.name}: {len(ld)} rows at risk ({len(np.unique(ld.patient_id))} patients), "
             f"{int((ld.event == 1).sum())} relapses, {int((ld.event == 2).sum())} non-relapse deaths "
             f"within {cfg.landmark.horizon_days:g} days of the landmark; {n_features(ld.X)} features")

    if given is None:  # one stratified split for every model (and splitting only once)
        from relapse_ml.evaluation.crossval import fold_labels

        given = fold_labels(ld.event, ld.patient_id, cfg.evaluation.n_splits,
                            cfg.evaluation.n_repeats, cfg.evaluation.seed)
    from relapse_ml.registration import mean_incidence

    rows, cvs = [], {}
    width = max(16, *(len(spec.display) for spec in cfg.models))
    # the candidates' bootstrap intervals only with `evaluation.intervals: all`; else the final
    # model's are added once it is chosen (`_final_intervals`)
    final_only = cfg.evaluation.intervals == "final" and cfg.evaluation.n_boot > 0
    n_boot = 0 if final_only else cfg.evaluation.n_boot
    for spec in cfg.models:
        factory = partial(make_model, spec.name, **model_params(spec, cfg))
        blend = _blend_of_candidates(made[spec.display], cfg, cvs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EvaluationWarning)
            cv = cross_validate(factory, ld.X, ld.time, ld.event, groups=ld.patient_id, times=grid,
                                tau=tau, n_splits=cfg.evaluation.n_splits,
                                n_repeats=cfg.evaluation.n_repeats, seed=cfg.evaluation.seed,
                                n_boot=n_boot, folds=given,
                                n_jobs=cfg.evaluation.n_jobs,
                                extra_times=[H] if save_oof is not None else None,
                                predicted=blend)
        cvs[spec.display] = cv
        for metric, r in cv.summary.iterrows():
            rows.append({"model": spec.display, "metric": metric, **r.to_dict()})
        # calibration in the large (probability units): mean out-of-fold incidence at tau − AJ
        mean_oof, aj = mean_incidence(cv.oof_cif, cv.times, ld.time, ld.event, tau)
        rows.append({"model": spec.display, "metric": "mean_gap", "pooled": mean_oof - aj})
        s = cv.summary
        progress(f"  {spec.display:<{width}} C-index {s.loc['c_index', 'pooled']:.3f}  "
                 f"AUC(τ) {s.loc['auc_tau', 'pooled']:.3f}  IPA(τ) {s.loc['ipa_tau', 'pooled']:+.3f}")
    metrics = pd.DataFrame(rows)

    final = cfg.tracking.final_model or _best_model(metrics, cfg)
    if final_only:
        metrics = _final_intervals(final, cfg, cvs, ld, metrics)
        progress(f"  {final}: 95% intervals from {cfg.evaluation.n_boot} bootstrap replicates "
                 "of patients")
    spec = next(m for m in cfg.models if m.display == final)
    model = make_model(spec.name, **model_params(spec, cfg)).fit(ld.X, ld.time, ld.event,
                                                                 groups=ld.patient_id)
    predictor = RelapseRiskPredictor(
        model=model, feature_columns=list(ld.X.columns), features=feature_list(cfg),
        landmark_day=float(cfg.landmark.landmark_day), horizon_days=float(cfg.landmark.horizon_days),
        horizons=[float(h) for h in cfg.evaluation.horizons],
        super_landmark=cfg.landmark.super_landmark, landmarks=list(cfg.landmark.landmarks),
        training_ranges=training_ranges(ld.X),
        info={"model": final, "model_name": spec.name, "params": model_params(spec, cfg),
              "metrics": {k: _f(metrics.loc[(metrics["model"] == final) & (metrics["metric"] == k), "pooled"])
                          for k in KEY_METRICS}},
    )

    from relapse_ml.features.baseline import category_levels

    levels = category_levels(cohort)  # an unseen level at scoring is an OOD warning
    if levels:
        predictor.info["categories"] = levels
    weights = getattr(model, "weights_", None)
    if weights:
        predictor.info["stack_weights"] = dict(weights)
        # each member's (and the stack's) integrated Brier on the inner out-of-fold predictions
        predictor.info["stack_inner_ibs"] = dict(getattr(model, "inner_ibs_", {}))
        how = "chosen on an inner split" if predictor.info["stack_inner_ibs"] else "fixed"
        progress(f"  {final} weights ({how}; members refitted on all rows): "
                 + ", ".join(f"{k} {v:.2f}" for k, v in weights.items()))
    from relapse_ml.models.penalty import chosen_penalizers

    chosen = chosen_penalizers(model)  # penalizer "auto": the penalty chosen in the final fit
    if chosen:
        predictor.info["penalizer_chosen"] = {"relapse": chosen[1], "nrm": chosen[2]}
        progress(f"  {final} penalizer chosen in the final fit (all rows): relapse "
                 f"{chosen[1]:.3g}, non-relapse death {chosen[2]:.3g}")
    if save_oof is not None:
        table = F.oof_table(cvs, final, ld.patient_id, H, repeats,
                            ld.landmark_day if cfg.landmark.super_landmark else None)
        F.write_oof(save_oof, table)
        progress(f"out-of-fold predictions of {len(cvs)} models written to {save_oof}")

    from relapse_ml.registration import check_registration

    guard = check_registration(
        final, predictor.info["metrics"]["ipa_tau"],
        cvs[final].oof_cif, cvs[final].times, model.predict_cif(ld.X, [tau], cause=1)[:, 0],
        ld.time, ld.event, tau, cfg.tracking)
    if not guard.passed:
        progress(f"warning: {guard.reason}")

    oracle, oracle_by_landmark, oracle_note = oracle_comparison(cohort, cfg, ld, cvs[final], tau)
    result = TrainResult(metrics=metrics, final_model=final, predictor=predictor, n_rows=len(ld),
                         n_patients=int(len(np.unique(ld.patient_id))),
                         events={"relapse": int((ld.event == 1).sum()), "nrm": int((ld.event == 2).sum()),
                                 "censored": int((ld.event == 0).sum())},
                         tau=tau, oracle=oracle, cv=cvs, guard=guard,
                         oracle_by_landmark=oracle_by_landmark, oracle_note=oracle_note)
    if track:
        from relapse_ml.tracking.train_run import log_training_run

        log_training_run(result, cfg, cohort, ld, force=force)
    return result


def _final_intervals(final: str, cfg: TrainConfig, cvs: dict, ld, metrics: pd.DataFrame):
    """The final model's bootstrap intervals from its out-of-fold predictions (the same
    replicates `cross_validate` would have drawn): ``cvs[final]`` and its rows of ``metrics``
    updated."""
    from relapse_ml.evaluation.crossval import with_intervals

    cv = with_intervals(cvs[final], ld.time, ld.event, ld.patient_id,
                        n_boot=cfg.evaluation.n_boot, seed=cfg.evaluation.seed,
                        n_jobs=cfg.evaluation.n_jobs)
    cvs[final] = cv
    metrics = metrics.copy()
    mine = metrics["model"] == final
    for col in ("ci_low", "ci_high"):
        metrics.loc[mine, col] = metrics.loc[mine, "metric"].map(cv.summary[col]).to_numpy()
    return metrics


def _blend_of_candidates(model, cfg: TrainConfig, cvs: dict):
    """A fixed-weight stack's out-of-fold predictions from its members' cross-validation as
    candidates of this run (`evaluation.blend`: nothing refitted), or None."""
    fixed = getattr(model, "fixed_weights", None)
    weights = fixed() if fixed is not None else None
    if not weights:
        return None
    from relapse_ml.evaluation.blend import blend_predictions
    from relapse_ml.models.stack import NULL

    members = {label: (name, params) for label, name, params in model.member_specs()}
    members[NULL] = (NULL, {})
    candidates = {m.display: (m.name, model_params(m, cfg)) for m in cfg.models}
    return blend_predictions(weights, members, candidates, cvs)


def model_params(spec, cfg: TrainConfig) -> dict:
    """A model spec's parameters, with the horizon filled in for the direct model (also
    inside a trajectory step and a stack's members)."""
    return _with_horizon(spec.name, dict(spec.params), float(cfg.landmark.horizon_days) - HALF_DAY)


def _with_horizon(name: str, params: dict, horizon: float) -> dict:
    if name == "xgb_direct":
        params.setdefault("horizon", horizon)
    if name == "trajectory" and params.get("model") == "xgb_direct":
        params["model_params"] = _with_horizon("xgb_direct", dict(params.get("model_params") or {}),
                                               horizon)
    if name == "stack" and isinstance(params.get("members"), list | tuple):
        params["members"] = [
            {**m, "params": _with_horizon(m["name"], dict(m.get("params") or {}), horizon)}
            if isinstance(m, dict) and "name" in m else m for m in params["members"]]
    return params


def _best_model(metrics: pd.DataFrame, cfg: TrainConfig) -> str:
    ipa = metrics[metrics["metric"] == "ipa_tau"].set_index("model")["pooled"]
    ipa = ipa.drop(index=[m.display for m in cfg.models if m.name == "aalen_johansen"], errors="ignore")
    if ipa.dropna().empty:
        return cfg.models[0].display
    return str(ipa.idxmax())


def _f(series) -> float:
    return float(series.iloc[0]) if len(series) else float("nan")
