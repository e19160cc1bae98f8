"""Per-patient intervals by a bootstrap by patient (resampled within each arm).

`bootstrap_reported` is the interval of the reported estimate: every replicate re-runs the
whole `reported.selection_procedure` — cross-fitting of every candidate, the yardstick, the
selection or stacking weights, the S-learner's shrinkage — and refits the choice, which
predicts every original patient. So the interval carries the uncertainty of the choice and,
when the choice is the average effect, of the average effect itself. `bootstrap_intervals`
is the older fixed-learner bootstrap, kept for comparison (``intervals.learners``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig, LearnerSpec, TreatmentConfig
from relapse_ml.benefit.learners import make_folds
from relapse_ml.benefit.refit import fit_predict
from relapse_ml.errors import ModelError


def resample_rows(arm, rng) -> np.ndarray:
    """Row indices drawn with replacement within each arm (both arms keep their size)."""
    arm = np.asarray(arm)
    return np.concatenate(
        [rng.choice(np.flatnonzero(arm == a), size=int((arm == a).sum())) for a in (0, 1)]
    )


def fast_candidates(cfg: BenefitConfig, chosen=()) -> list[str]:
    """The learners a bootstrap replicate chooses among (`config.IntervalConfig`); by default
    the cheap ones (constant, risk-based, Fine–Gray S-learners without a tuned shrinkage,
    R/DR-learners with a ridge final stage) plus the ones the analysis chose."""
    from relapse_ml.benefit.reported import candidate_specs

    specs = candidate_specs(cfg)
    if cfg.intervals.candidates is not None:
        names = list(cfg.intervals.candidates)
    else:
        names = [
            s.display
            for s in specs
            if s.kind in ("constant", "risk")
            or (
                s.model.name == "fine_gray"
                and s.shrink is None
                and (s.kind == "s" or (s.kind in ("r", "dr") and s.final.name == "ridge"))
            )
        ]
    names += [c for c in chosen if c not in names]
    return [s.display for s in specs if s.display in names]


def _replicate(inner: BenefitConfig, data, rows, seed: int, keep: bool = False):
    """One bootstrap replicate of the whole selection procedure on ``data``'s ``rows``:
    ``(prediction at every original patient, choice kinds, the refitted `Reported` when
    ``keep`` else None)`` or None when it fails."""
    import warnings

    from threadpoolctl import threadpool_limits

    from relapse_ml.benefit.data import BenefitData
    from relapse_ml.benefit.reported import selection_procedure

    d = BenefitData(
        X=data.X.iloc[rows].reset_index(drop=True),
        time=data.time[rows],
        event=data.event[rows],
        arm=data.arm[rows],
        patient_id=np.asarray(data.patient_id)[rows],
        tau=data.tau,
    )
    folds = make_folds(d.arm, d.event, inner.crossfit.n_folds, seed, groups=rows)
    try:
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore")
            rep = selection_procedure(inner, d, folds)
            pred = rep.predict(data.X)
    except ModelError:
        return None
    return pred, {o: rep.choices[o].kind for o in OUTCOMES}, (rep if keep else None)


def bootstrap_reported(
    cfg: BenefitConfig, data, estimate: dict, progress=None, chosen=(), keep: list | None = None
):
    """Percentile intervals of the reported estimate over replicates of the whole procedure.

    estimate: the reported estimate on all patients ``{outcome: (n,)}``; the interval is
    widened to contain it when the replicates' percentiles do not (a choice that flips).
    chosen: the learners the analysis chose (always candidates in the replicates).
    keep: a list that receives each usable replicate's refitted `reported.Reported` (for
    ``--export-benefit``: a new patient's interval from the same replicates).
    The replicates' rows and seeds are drawn before any is run, so the intervals are the
    same whether they run in this process or on ``intervals.n_jobs`` worker processes.
    Returns ``(lower, upper, info)``; info: replicates run / usable, how often each kind of
    choice (constant, risk, individual) was made per outcome.
    """
    ic = cfg.intervals
    n_boot = ic.n_boot
    rng = np.random.default_rng(np.random.SeedSequence([cfg.crossfit.seed, 7919]))
    inner = cfg.model_copy(
        update={
            "crossfit": cfg.crossfit.model_copy(update={"n_folds": ic.n_folds}),
            "report": cfg.report.model_copy(update={"candidates": fast_candidates(cfg, chosen)}),
        }
    )
    jobs = [(resample_rows(data.arm, rng), cfg.crossfit.seed + b + 1) for b in range(n_boot)]
    draws = {o: [] for o in OUTCOMES}
    kinds = {o: {} for o in OUTCOMES}
    for b, out in enumerate(_run_replicates(inner, data, jobs, ic.n_jobs, keep is not None)):
        if out is not None:
            pred, kind, rep = out
            if keep is not None:
                keep.append(rep)
            for o in OUTCOMES:
                draws[o].append(pred[o])
                kinds[o][kind[o]] = kinds[o].get(kind[o], 0) + 1
        if progress and (b + 1) % max(1, n_boot // 5) == 0:
            progress(f"    bootstrap of the reported estimate: {b + 1}/{n_boot} replicates")
    n_ok = len(draws[OUTCOMES[0]])
    info = {
        "n_boot": n_boot,
        "n_ok": n_ok,
        "level": ic.level,
        "choices": kinds,
        "candidates": inner.report.candidates,
    }
    n = data.n
    if n_ok < 2:
        nan = {o: np.full(n, np.nan) for o in OUTCOMES}
        return nan, dict(nan), info
    alpha = (1 - ic.level) / 2
    lower, upper = {}, {}
    for o in OUTCOMES:
        arr = np.asarray(draws[o])
        lower[o] = np.minimum(np.quantile(arr, alpha, axis=0), estimate[o])
        upper[o] = np.maximum(np.quantile(arr, 1 - alpha, axis=0), estimate[o])
    info["median_width"] = {o: float(np.median(upper[o] - lower[o])) for o in OUTCOMES}
    return lower, upper, info


def _run_replicates(inner, data, jobs, n_jobs: int, keep: bool = False):
    """The replicates' results in order: in this process (``n_jobs`` 1, or a single
    replicate) or on a joblib process pool (each worker on one BLAS thread)."""
    if n_jobs == 1 or len(jobs) < 2:
        return (_replicate(inner, data, rows, seed, keep) for rows, seed in jobs)
    from joblib import Parallel, delayed

    pool = Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
    return pool(delayed(_replicate)(inner, data, rows, seed, keep) for rows, seed in jobs)


def bootstrap_intervals(
    spec: LearnerSpec,
    X: pd.DataFrame,
    time,
    event,
    arm,
    tau: float,
    treatment: TreatmentConfig,
    n_folds: int,
    n_boot: int,
    level: float,
    seed: int,
    nuisance=None,
) -> tuple[dict, dict, int]:
    """Percentile intervals of each patient's estimated benefit over bootstrap refits.

    Patients are resampled with replacement within each arm (so both arms keep their
    size); the whole learner is refitted on each resample and predicts every patient.
    Replicates whose fit fails (e.g. no relapse in one arm) are skipped and counted.
    nuisance: the config's ``heterogeneity.nuisance`` (a shrunk S-learner's scale choice,
    `refit.fit_predict`). Returns ``(lower, upper, n_ok)``.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    arm = np.asarray(arm)
    draws = {o: [] for o in OUTCOMES}
    for b in range(n_boot):
        rows = resample_rows(arm, rng)
        try:
            pred = fit_predict(
                spec,
                X.iloc[rows].reset_index(drop=True),
                time[rows],
                event[rows],
                arm[rows],
                X,
                tau,
                treatment,
                n_folds,
                seed + b + 1,
                groups=rows,
                nuisance=nuisance,
            )
        except ModelError:
            continue
        for o in OUTCOMES:
            draws[o].append(pred[o])
    alpha = (1 - level) / 2
    n_ok = len(draws[OUTCOMES[0]])
    if n_ok < 2:
        nan = {o: np.full(len(X), np.nan) for o in OUTCOMES}
        return nan, dict(nan), n_ok
    lower = {o: np.quantile(np.asarray(draws[o]), alpha, axis=0) for o in OUTCOMES}
    upper = {o: np.quantile(np.asarray(draws[o]), 1 - alpha, axis=0) for o in OUTCOMES}
    return lower, upper, n_ok
