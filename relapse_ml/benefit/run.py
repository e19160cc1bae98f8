"""The benefit and subgroup pipelines behind ``relapse-ml benefit`` and ``relapse-ml subgroups``.

Each step is an importable function (the simulation study in ``experiments/`` calls them
one by one); `run_benefit` and `run_subgroups` chain them, draw the figures and log one
MLflow run. MLflow receives aggregates, tables and figures only; patient-level estimates
leave the process only through ``save_patient_estimates``, to the file the user names.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig, LearnerSpec
from relapse_ml.benefit.learners import (
    BenefitEstimates,
    bootstrap_intervals,
    cross_fit,
    fold_fits,
    make_folds,
    propensity_scores,
)
from relapse_ml.benefit.pseudo import OUTCOME_CAUSES, dr_scores, ipcw_outcome
from relapse_ml.errors import RelapseMLError

MIN_PER_ARM = 20
MIN_RELAPSES_PER_ARM = 5
OUTCOME_TEXT = {"relapse": "relapse", "rfs": "relapse or death"}
TRUTH_COLUMNS = {"relapse": "benefit", "rfs": "rfs_benefit"}


# -- data -----------------------------------------------------------------------------------
@dataclass
class BenefitData:
    """Randomized patients at risk at the landmark: features (no arm), outcome, arm."""

    X: pd.DataFrame
    time: np.ndarray
    event: np.ndarray
    arm: np.ndarray  # 1 sorafenib, 0 control
    patient_id: np.ndarray
    tau: float
    n_not_randomized: int = 0

    @property
    def n(self) -> int:
        return len(self.time)

    def counts(self) -> dict[str, int]:
        by = {}
        for a, name in ((0, "control"), (1, "sorafenib")):
            m = self.arm == a
            by[name] = {
                "patients": int(m.sum()),
                "relapses": int((m & (self.event == 1)).sum()),
                "nrm": int((m & (self.event == 2)).sum()),
            }
        return by


def benefit_data(cohort, cfg: BenefitConfig) -> BenefitData:
    """The landmark data of the randomized patients; a clear error without two usable arms."""
    from relapse_ml.landmark import landmark_dataset

    if not cohort.has_arm:
        raise RelapseMLError(
            f"{cohort.name}: no treatment arm (column 'arm' absent or empty) — a benefit "
            "analysis compares sorafenib with control, so it needs a cohort with a randomized "
            "'arm' (e.g. one made by `relapse-ml simulate`)"
        )
    L, H = cfg.landmark.landmark_day, cfg.landmark.horizon_days
    ld = landmark_dataset(cohort, landmark_day=L, horizon_days=H, features=cfg.features)
    arms = (
        cohort.patients.assign(patient_id=cohort.patients["patient_id"].astype(str))
        .set_index("patient_id")["arm"]
        .reindex(ld.patient_id)
    )
    arm = np.where(arms.isin(["sorafenib"]), 1.0, np.where(arms.isin(["control"]), 0.0, np.nan))
    keep = ~np.isnan(arm)
    ld = ld.select(keep)
    data = BenefitData(
        X=ld.X.drop(columns=["arm"], errors="ignore"),
        time=ld.time,
        event=ld.event,
        arm=arm[keep].astype(int),
        patient_id=ld.patient_id,
        tau=cfg.tau,
        n_not_randomized=int((~keep).sum()),
    )
    need = max(MIN_PER_ARM, 2 * cfg.crossfit.n_folds)
    for name, c in data.counts().items():
        if c["patients"] < need or c["relapses"] < max(MIN_RELAPSES_PER_ARM, cfg.crossfit.n_folds):
            raise RelapseMLError(
                f"{cohort.name}: the {name} arm has {c['patients']} patients at risk at day "
                f"{L:g} with {c['relapses']} relapses within {H:g} days — too few to estimate "
                f"a benefit (need at least {need} patients and "
                f"{max(MIN_RELAPSES_PER_ARM, cfg.crossfit.n_folds)} relapses per arm)"
            )
    return data


def load_truth(cohort, cfg: BenefitConfig, patient_id) -> pd.DataFrame | None:
    """A simulated cohort's true benefit per patient (evaluation only), when its truth was
    computed at this landmark and horizon; else None."""
    path = getattr(cohort, "path", None)
    if path is None:
        return None
    truth_path, meta_path = Path(path) / "truth.csv", Path(path) / "meta.json"
    if not (truth_path.exists() and meta_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    if float(meta.get("landmark_day", -1)) != float(cfg.landmark.landmark_day) or float(
        meta.get("horizon_days", -1)
    ) != float(cfg.landmark.horizon_days):
        return None
    truth = pd.read_csv(truth_path, dtype={"patient_id": str})
    return align_truth(truth, patient_id)


def align_truth(truth: pd.DataFrame, patient_id) -> pd.DataFrame | None:
    """Truth rows in the order of ``patient_id`` (None when a column or patient is missing)."""
    if not set(TRUTH_COLUMNS.values()) <= set(truth.columns):
        return None
    t = truth.assign(patient_id=truth["patient_id"].astype(str)).set_index("patient_id")
    t = t.reindex(np.asarray(patient_id).astype(str))[list(TRUTH_COLUMNS.values())]
    return None if t.isna().all().any() else t.reset_index(drop=True)


# -- estimation -----------------------------------------------------------------------------
def cross_fit_learners(
    cfg: BenefitConfig, data: BenefitData, progress=print, cache: dict | None = None, folds=None
) -> tuple[dict, np.ndarray, dict]:
    """Cross-fitted estimates of every configured learner: ``(estimates, folds, cache)``."""
    if folds is None:
        folds = make_folds(data.arm, data.event, cfg.crossfit.n_folds, cfg.crossfit.seed)
    cache = {} if cache is None else cache
    estimates = {}
    for spec in cfg.learners:
        estimates[spec.display] = cross_fit(
            spec,
            data.X,
            data.time,
            data.event,
            data.arm,
            folds,
            data.tau,
            cfg.treatment,
            cfg.crossfit.seed,
            cache,
        )
        b = estimates[spec.display].benefit
        progress(
            f"  {spec.display:<16} mean estimated benefit: relapse "
            f"{100 * np.mean(b['relapse']):+.1f} pts, relapse or death "
            f"{100 * np.mean(b['rfs']):+.1f} pts"
        )
    return estimates, folds, cache


def nuisance_spec(cfg: BenefitConfig, kind: str = "t") -> LearnerSpec:
    return LearnerSpec(
        kind=kind, model=cfg.heterogeneity.nuisance, interactions=[], label=f"nuisance_{kind}"
    )


def evaluation_scores(cfg: BenefitConfig, data: BenefitData, folds, cache) -> tuple[dict, dict]:
    """DR scores φ per outcome from the cross-fitted nuisance T-learner, and its risks.

    The censoring Kaplan–Meier uses all patients (a marginal nuisance); μ̂ for each
    patient comes from models fitted without that patient's fold.
    """
    from relapse_ml.evaluation import censoring_km

    fits = fold_fits(
        nuisance_spec(cfg), data.X, data.time, data.event, data.arm, folds, data.tau, cache
    )
    mu = fits.out_of_fold()
    G = censoring_km(data.time, data.event)
    e = propensity_scores(data.X, data.arm, folds, np.ones(data.n, bool), cfg.treatment)
    scores = {}
    for o in OUTCOMES:
        y = ipcw_outcome(data.time, data.event, data.tau, G, OUTCOME_CAUSES[o])
        scores[o] = dr_scores(mu[o][:, 0], mu[o][:, 1], y, data.arm, e)
    return scores, mu


def baseline_risk(cfg: BenefitConfig, data: BenefitData, folds, cache) -> dict[str, np.ndarray]:
    """PATH baseline risk: a cross-fitted model on both arms with the arm as a covariate and no
    interactions, predicted under control."""
    fits = fold_fits(
        nuisance_spec(cfg, "s"), data.X, data.time, data.event, data.arm, folds, data.tau, cache
    )
    risk = fits.out_of_fold()
    return {o: risk[o][:, 0] for o in OUTCOMES}


def average_benefit(scores: dict, data: BenefitData) -> dict[str, dict]:
    """The average benefit per outcome: the mean DR score (AIPW) with its 95% CI, and the
    unadjusted Aalen–Johansen difference between arms."""
    from relapse_ml.benefit.subgroups import Z95, incidence_by_arm, outcome_for

    out = {}
    for o in OUTCOMES:
        phi = scores[o]
        est, se = float(phi.mean()), float(phi.std(ddof=1) / np.sqrt(phi.size))
        aj = incidence_by_arm(data.time, outcome_for(data.event, o), data.arm, data.tau)
        out[o] = {
            "dr_estimate": est,
            "dr_low": est - Z95 * se,
            "dr_high": est + Z95 * se,
            **{f"aj_{k}": v for k, v in aj.items()},
        }
    return out


def sequential_validation(
    cfg: BenefitConfig,
    data: BenefitData,
    specs=None,
    n_boot: int | None = None,
    seed: int | None = None,
) -> dict:
    """The heterogeneity test of each learner by sequential validation (`heterogeneity`).

    Folds are drawn afresh (seed ``crossfit.seed + 1``); for each test fold k the learner
    and the nuisance of the DR scores are fitted on folds 0..k−1 only (the censoring
    Kaplan–Meier too). Returns ``{(label, outcome): {"autoc": combined, "qini": …,
    "blp": …}}`` with `heterogeneity.combine_sequential` results.
    """
    from relapse_ml.benefit import heterogeneity as H
    from relapse_ml.benefit.learners import arm_risk_factory, fit_predict, fit_propensity
    from relapse_ml.errors import ModelError
    from relapse_ml.evaluation import censoring_km

    hc = cfg.heterogeneity
    specs = cfg.learners if specs is None else specs
    n_boot = hc.n_boot if n_boot is None else n_boot
    seed = cfg.crossfit.seed + 1 if seed is None else seed
    folds = make_folds(data.arm, data.event, hc.sequential_folds, seed)
    parts: dict = {}
    cols = list(data.X.columns)
    for k in range(hc.first_test_fold, hc.sequential_folds):
        train, test = folds < k, folds == k
        Xtr = data.X.loc[train].reset_index(drop=True)
        Xte = data.X.loc[test].reset_index(drop=True)
        t_tr, e_tr, a_tr = data.time[train], data.event[train], data.arm[train]
        try:
            nuisance = arm_risk_factory(nuisance_spec(cfg), data.tau, cols)().fit(
                Xtr, t_tr, e_tr, a_tr
            )
        except ModelError:
            continue
        mu = nuisance.predict(Xte)
        G = censoring_km(t_tr, e_tr)
        e = fit_propensity(Xtr, a_tr, Xte, cfg.treatment)
        phi = {
            o: dr_scores(
                mu[o][:, 0],
                mu[o][:, 1],
                ipcw_outcome(data.time[test], data.event[test], data.tau, G, OUTCOME_CAUSES[o]),
                data.arm[test],
                e,
            )
            for o in OUTCOMES
        }
        for spec in specs:
            try:
                pred = fit_predict(
                    spec,
                    Xtr,
                    t_tr,
                    e_tr,
                    a_tr,
                    Xte,
                    data.tau,
                    cfg.treatment,
                    cfg.crossfit.n_folds,
                    seed + k,
                )
            except ModelError:
                continue  # too few events in the early folds: that fold is left out
            for o in OUTCOMES:
                r = H.rate_test(pred[o], phi[o], n_boot=n_boot, seed=seed + k, method=hc.rate_se)
                b = H.blp_test(pred[o], phi[o])
                for stat, est, se in (
                    ("autoc", r["autoc"], r["autoc_se"]),
                    ("qini", r["qini"], r["qini_se"]),
                    ("blp", b["beta"], b["beta_se"]),
                ):
                    parts.setdefault((spec.display, o), {}).setdefault(stat, []).append(
                        {"estimate": est, "se": se}
                    )
    out = {}
    for key, stats_ in parts.items():
        out[key] = {
            stat: H.combine_sequential(lst, one_sided=stat == "blp") for stat, lst in stats_.items()
        }
    return out


def learner_metrics(
    cfg: BenefitConfig,
    data: BenefitData,
    estimates: dict,
    scores: dict,
    truth: pd.DataFrame | None = None,
    n_boot: int | None = None,
    calibration: bool = True,
    sequential: dict | None = None,
) -> tuple[pd.DataFrame, dict, dict]:
    """Per learner and outcome: AUTOC and Qini of the cross-fitted estimates (descriptive,
    with a bootstrap that holds the estimates fixed: ``*_naive`` p-values are too small),
    the sequential-validation test (``test_*``), the BLP calibration slope, c-for-benefit,
    the mean estimate, and agreement with the truth when there is one.

    Returns ``(metrics (learner, outcome, metric, value), calibration tables, TOC curves)``.
    """
    from relapse_ml.benefit import heterogeneity as H

    n_boot = cfg.heterogeneity.n_boot if n_boot is None else n_boot
    rows, tables, curves = [], {}, {}
    for label, est in estimates.items():
        for o in OUTCOMES:
            b, phi = est.benefit[o], scores[o]
            m = {"mean_benefit": float(np.mean(b)), "sd_benefit": float(np.std(b))}
            r = H.rate_test(
                b, phi, n_boot=n_boot, seed=cfg.crossfit.seed, method=cfg.heterogeneity.rate_se
            )
            m.update(
                {
                    "autoc": r["autoc"],
                    "autoc_low": r["autoc_low"],
                    "autoc_high": r["autoc_high"],
                    "autoc_p_naive": r["autoc_p"],
                    "qini": r["qini"],
                    "qini_p_naive": r["qini_p"],
                }
            )
            blp = H.blp_test(b, phi)
            m.update(
                {
                    "blp_alpha": blp["alpha"],
                    "blp_beta": blp["beta"],
                    "blp_beta_low": blp["beta"] - 1.96 * blp["beta_se"],
                    "blp_beta_high": blp["beta"] + 1.96 * blp["beta_se"],
                    "blp_beta_p_naive": blp["beta_p"],
                }
            )
            seq = (sequential or {}).get((label, o))
            if seq is not None:
                a, q, bl = seq["autoc"], seq["qini"], seq["blp"]
                m.update(
                    {
                        "test_autoc": a["estimate"],
                        "test_autoc_low": a["low"],
                        "test_autoc_high": a["high"],
                        "test_autoc_p": a["p"],
                        "test_qini_p": q["p"],
                        "test_blp_beta": bl["estimate"],
                        "test_blp_p": bl["p"],
                        "test_folds": a["folds"],
                    }
                )
            if calibration:
                cfb = H.c_for_benefit(
                    b,
                    data.time,
                    data.event,
                    data.arm,
                    data.tau,
                    o,
                    n_boot=n_boot,
                    seed=cfg.crossfit.seed,
                )
                m.update(
                    {
                        "c_for_benefit": cfb["c_for_benefit"],
                        "c_for_benefit_low": cfb["c_low"],
                        "c_for_benefit_high": cfb["c_high"],
                        "c_for_benefit_pairs": cfb["n_pairs"],
                    }
                )
                tables[(label, o)] = H.benefit_calibration(
                    b, data.time, data.event, data.arm, data.tau, cfg.heterogeneity.n_groups, o
                )
                curves[(label, o)] = H.toc_curve(b, phi)
            if truth is not None:
                agree = H.truth_agreement(b, truth[TRUTH_COLUMNS[o]])
                m.update({f"truth_{k}": v for k, v in agree.items() if k != "n"})
            rows.extend(
                {"learner": label, "outcome": o, "metric": k, "value": v} for k, v in m.items()
            )
    return pd.DataFrame(rows), tables, curves


def metric(metrics: pd.DataFrame, learner: str, outcome: str, name: str) -> float:
    sel = metrics[
        (metrics.learner == learner) & (metrics.outcome == outcome) & (metrics.metric == name)
    ]["value"]
    return float(sel.iloc[0]) if len(sel) else float("nan")


# -- the benefit pipeline -------------------------------------------------------------------
@dataclass
class BenefitResult:
    """What ``relapse-ml benefit`` produced. ``patient_estimates`` stays in memory unless the
    user asks for it to be saved."""

    cohort: str
    n: int
    counts: dict
    tau: float
    primary: str
    estimates: dict
    metrics: pd.DataFrame
    average: dict
    heterogeneity: dict
    calibration: dict
    risk_based: dict
    toc: dict
    explain: dict = field(default_factory=dict)
    intervals: dict = field(default_factory=dict)
    patient_estimates: pd.DataFrame | None = None
    truth_used: bool = False
    n_not_randomized: int = 0
    run_id: str | None = None
    tracking_uri: str | None = None
    figures: dict = field(default_factory=dict)
    saved: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """A JSON-ready summary of aggregates (no patient rows)."""

        def records(df):
            return df.to_dict(orient="records")

        return {
            "cohort": self.cohort,
            "patients": self.n,
            "arms": self.counts,
            "not_randomized_left_out": self.n_not_randomized,
            "tau_days": self.tau,
            "primary_learner": self.primary,
            "average_benefit": self.average,
            "heterogeneity_test": self.heterogeneity,
            "metrics": records(self.metrics),
            "calibration_for_benefit": {
                f"{k[0]}/{k[1]}": records(v) for k, v in self.calibration.items()
            },
            "risk_based": {o: records(v) for o, v in self.risk_based.items()},
            "explain": self.explain,
            "intervals": self.intervals,
            "truth_used": self.truth_used,
            "run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "figures": {k: str(v) for k, v in self.figures.items()},
            "saved": self.saved,
        }


def heterogeneity_decision(metrics: pd.DataFrame, primary: str, alpha: float = 0.05) -> dict:
    """The pre-specified test: sequential-validation AUTOC of the primary learner for
    relapse, two-sided."""
    out = {
        "learner": primary,
        "outcome": "relapse",
        "test": "AUTOC by sequential validation (two-sided)",
        "alpha": alpha,
    }
    for k in (
        "test_autoc",
        "test_autoc_low",
        "test_autoc_high",
        "test_autoc_p",
        "test_blp_beta",
        "test_blp_p",
        "autoc",
        "autoc_low",
        "autoc_high",
    ):
        out[k] = metric(metrics, primary, "relapse", k)
    p = out["test_autoc_p"]
    out["heterogeneity_detected"] = bool(np.isfinite(p) and p < alpha)
    return out


def run_benefit(
    cfg: BenefitConfig,
    cohort,
    *,
    track: bool = True,
    progress=print,
    save_patient_estimates: str | Path | None = None,
    out_dir: str | Path | None = None,
    truth: pd.DataFrame | None = None,
) -> BenefitResult:
    """Cross-fit every learner, judge them, explain the primary one, log one MLflow run.

    truth: a simulation's truth table (patient_id, benefit, rfs_benefit); default: read
    from the cohort directory when it holds one for this landmark and horizon.
    out_dir: also write the figures and aggregate tables there.
    """
    from relapse_ml.benefit import heterogeneity as H

    data = benefit_data(cohort, cfg)
    c = data.counts()
    progress(
        f"{cohort.name}: {data.n} randomized patients at risk at day "
        f"{cfg.landmark.landmark_day:g} (control {c['control']['patients']}, sorafenib "
        f"{c['sorafenib']['patients']}); benefit at {data.tau:g} days after the landmark"
    )
    if data.n_not_randomized:
        progress(f"  ({data.n_not_randomized} patients without an arm left out)")
    truth_frame = (
        align_truth(truth, data.patient_id)
        if truth is not None
        else load_truth(cohort, cfg, data.patient_id)
    )

    estimates, folds, cache = cross_fit_learners(cfg, data, progress)
    scores, mu = evaluation_scores(cfg, data, folds, cache)
    progress("  heterogeneity tests by sequential validation...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sequential = sequential_validation(cfg, data)
        metrics, calibration, toc = learner_metrics(
            cfg, data, estimates, scores, truth_frame, sequential=sequential
        )
    base = baseline_risk(cfg, data, folds, cache)
    risk_based = {
        o: H.risk_based(
            base[o], data.time, data.event, data.arm, data.tau, cfg.heterogeneity.risk_groups, o
        )
        for o in OUTCOMES
    }
    primary = cfg.primary_label
    decision = heterogeneity_decision(metrics, primary, cfg.subgroups.alpha)
    result = BenefitResult(
        cohort=cohort.name,
        n=data.n,
        counts=c,
        tau=data.tau,
        primary=primary,
        estimates=estimates,
        metrics=metrics,
        average=average_benefit(scores, data),
        heterogeneity=decision,
        calibration=calibration,
        risk_based=risk_based,
        toc=toc,
        truth_used=truth_frame is not None,
        n_not_randomized=data.n_not_randomized,
    )

    labels = cfg.intervals.learners or [primary]
    if cfg.intervals.n_boot > 1:
        for label in labels:
            progress(f"  bootstrap intervals for {label} ({cfg.intervals.n_boot} refits)...")
            lo, hi, n_ok = bootstrap_intervals(
                cfg.learner(label),
                data.X,
                data.time,
                data.event,
                data.arm,
                data.tau,
                cfg.treatment,
                cfg.crossfit.n_folds,
                cfg.intervals.n_boot,
                cfg.intervals.level,
                cfg.crossfit.seed,
            )
            estimates[label].lower, estimates[label].upper = lo, hi
            width = {o: float(np.nanmedian(hi[o] - lo[o])) for o in OUTCOMES}
            result.intervals[label] = {
                "n_boot": cfg.intervals.n_boot,
                "n_ok": n_ok,
                "level": cfg.intervals.level,
                "median_width": width,
            }
    result.patient_estimates = patient_table(data, estimates, mu)

    with tempfile.TemporaryDirectory() as tmp:
        fig_dir = Path(out_dir) if out_dir is not None else Path(tmp)
        fig_dir.mkdir(parents=True, exist_ok=True)
        result.figures = benefit_figures(result, fig_dir)
        explain = (
            explain_benefit(cfg, data, estimates[primary], mu, fig_dir)
            if cfg.explain.enabled
            else {}
        )
        result.figures.update(explain.pop("figures", {}))
        patient_level = explain.pop("patient_level", None)
        result.explain = explain
        tables = write_tables(result, fig_dir)
        if save_patient_estimates is not None:
            result.saved = save_patients(
                result, Path(save_patient_estimates), patient_level, cfg, data
            )
        if track:
            log_benefit_run(result, cfg, cohort, tables)
        if out_dir is None:
            result.figures = {}
    return result


def patient_table(data: BenefitData, estimates: dict[str, BenefitEstimates], mu) -> pd.DataFrame:
    """One row per patient: arm, and per learner and outcome the benefit (risks and interval
    where available). Patient-level: kept in memory, saved only on request."""
    cols = {"patient_id": data.patient_id, "arm": np.where(data.arm == 1, "sorafenib", "control")}
    for o in OUTCOMES:
        cols[f"nuisance_{o}_risk_control"] = mu[o][:, 0]
        cols[f"nuisance_{o}_risk_sorafenib"] = mu[o][:, 1]
    for label, est in estimates.items():
        for o in OUTCOMES:
            cols[f"{label}_{o}_benefit"] = est.benefit[o]
            if np.isfinite(est.risk[o]).any():
                cols[f"{label}_{o}_risk_control"] = est.risk[o][:, 0]
                cols[f"{label}_{o}_risk_sorafenib"] = est.risk[o][:, 1]
            if o in est.lower:
                cols[f"{label}_{o}_benefit_low"] = est.lower[o]
                cols[f"{label}_{o}_benefit_high"] = est.upper[o]
    return pd.DataFrame(cols)


def benefit_figures(result: BenefitResult, out: Path) -> dict[str, Path]:
    """Calibration for benefit, TOC and Qini curves, PATH quartiles (aggregates only)."""
    from relapse_ml.benefit import figures as F

    paths = {}
    for o in OUTCOMES:
        t = result.calibration.get((result.primary, o))
        if t is not None and len(t):
            ax = F.plot_benefit_calibration(
                t,
                outcome=o,
                title=f"Calibration for benefit: {OUTCOME_TEXT[o]} at "
                f"{result.tau:g} days ({result.primary}, cross-fitted)",
            )
            paths[f"benefit_calibration_{o}"] = _save(ax, out / f"benefit_calibration_{o}.png")
        curves = {
            label: result.toc[(label, o)] for label in result.estimates if (label, o) in result.toc
        }
        if curves:
            ax = F.plot_toc(
                curves,
                title=f"TOC, {OUTCOME_TEXT[o]} at {result.tau:g} days "
                "(DR scores; > 0: ranking finds who benefits more)",
            )
            paths[f"toc_{o}"] = _save(ax, out / f"toc_{o}.png")
            ax = F.plot_toc(curves, qini=True, title=f"Qini curve, {OUTCOME_TEXT[o]}")
            paths[f"qini_{o}"] = _save(ax, out / f"qini_{o}.png")
        ax = F.plot_risk_based(
            result.risk_based[o],
            outcome=o,
            title=f"Benefit by quartile of baseline risk (PATH), "
            f"{OUTCOME_TEXT[o]} at {result.tau:g} days",
        )
        paths[f"risk_based_{o}"] = _save(ax, out / f"risk_based_{o}.png")
    return paths


def _save(ax, path: Path) -> Path:
    """Save a figure with room for the text outside its axes (forest plot labels)."""
    import matplotlib.pyplot as plt

    ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    return path


def _json_default(x):
    if isinstance(x, np.integer | np.floating | np.bool_):
        return x.item()
    if isinstance(x, Path):
        return str(x)
    return str(x)


def _nan_to_none(x):
    if isinstance(x, dict):
        return {str(k): _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_nan_to_none(v) for v in x]
    if isinstance(x, float | np.floating) and not np.isfinite(x):
        return None
    return x


def explain_benefit(
    cfg: BenefitConfig, data: BenefitData, est: BenefitEstimates, mu, out: Path
) -> dict:
    """SHAP of the primary learner's benefit (tree surrogate) and of the relapse-risk model."""
    from relapse_ml.benefit import explain as E

    info: dict = {"figures": {}, "note": E.NOT_CAUSAL, "surrogate": {}}
    patient_level = {}
    for o in OUTCOMES:
        sur = E.benefit_surrogate(data.X, est.benefit[o], cfg.explain.surrogate, cfg.crossfit.seed)
        top = E.top_features(sur.values, sur.columns, cfg.explain.top_features)
        imp = E.importance_table(sur.values, sur.columns)
        info["surrogate"][o] = {
            "r2_in_sample": sur.r2,
            "r2_out_of_fold": sur.r2_cv,
            "top_features": top,
            "scale": f"absolute reduction in {OUTCOME_TEXT[o]} risk at {data.tau:g} days",
            "importance": imp.head(15).to_dict(orient="records"),
        }
        path = out / f"shap_benefit_{o}.png"
        E.beeswarm(
            100 * sur.values,
            data.X,
            sur.columns,
            f"SHAP on the estimated benefit ({est.label}, {OUTCOME_TEXT[o]} at "
            f"{data.tau:g} days); surrogate R² {sur.r2:.2f}",
            f"percentage points of absolute reduction in {OUTCOME_TEXT[o]} risk",
            path,
        )
        info["figures"][f"shap_benefit_{o}"] = path
        risk = est.risk[o] if np.isfinite(est.risk[o]).all() else mu[o]
        for feat in top:
            p = out / f"shap_dependence_{o}_{feat}.png"
            E.dependence(feat, data.X, sur, risk, data.tau, OUTCOME_TEXT[o], p)
            info["figures"][f"shap_dependence_{o}_{feat}"] = p
        patient_level[o] = sur
    values, cols, D, scale = E.risk_shap(
        cfg.explain.risk_model, data.X, data.arm, data.time, data.event, data.tau
    )
    if values is not None:
        path = out / "shap_relapse_risk.png"
        E.beeswarm(
            values,
            D,
            cols,
            f"Relapse-risk model ({cfg.explain.risk_model.name})",
            "log cause-specific hazard of relapse",
            path,
        )
        info["figures"]["shap_relapse_risk"] = path
        info["risk_model"] = {
            "scale": scale,
            "importance": E.importance_table(values, cols).head(15).to_dict(orient="records"),
        }
    info["patient_level"] = patient_level
    return info


def write_tables(result: BenefitResult, out: Path) -> dict[str, Path]:
    """Aggregate tables as CSV (metrics, calibration for benefit, PATH, SHAP importance)."""
    paths = {"metrics": out / "benefit_metrics.csv"}
    result.metrics.to_csv(paths["metrics"], index=False)
    cal = [t.assign(learner=k[0], outcome=k[1]) for k, t in result.calibration.items()]
    if cal:
        paths["calibration"] = out / "benefit_calibration.csv"
        pd.concat(cal, ignore_index=True).to_csv(paths["calibration"], index=False)
    paths["risk_based"] = out / "risk_based.csv"
    pd.concat(
        [t.assign(outcome=o) for o, t in result.risk_based.items()], ignore_index=True
    ).to_csv(paths["risk_based"], index=False)
    paths["summary"] = out / "benefit_summary.json"
    summary = result.summary()
    summary.pop("metrics")
    paths["summary"].write_text(json.dumps(_nan_to_none(summary), indent=1, default=_json_default))
    return paths


def save_patients(
    result: BenefitResult, path: Path, surrogates, cfg: BenefitConfig, data: BenefitData
) -> dict[str, str]:
    """Write the patient-level estimates (and per-patient SHAP explanations) where asked."""
    from relapse_ml.benefit import explain as E
    from relapse_ml.utils import atomic_write_text

    path.parent.mkdir(parents=True, exist_ok=True)
    table = result.patient_estimates
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        atomic_write_text(path, table.to_csv(index=False))
    saved = {"patient_estimates": str(path)}
    if surrogates:
        rows = np.arange(data.n)
        parts = [
            E.patient_explanations(s.values, s.base, data.X, data.patient_id, rows).assign(
                outcome=o
            )
            for o, s in surrogates.items()
        ]
        expl = path.with_name(path.stem + "_explanations.csv")
        atomic_write_text(expl, pd.concat(parts, ignore_index=True).to_csv(index=False))
        saved["explanations"] = str(expl)
        sur = surrogates["relapse"]
        order = np.argsort(-sur.fitted)
        picks = list(
            dict.fromkeys(
                [
                    *order[: cfg.explain.n_patients // 2 + 1],
                    *order[::-1][: cfg.explain.n_patients // 2],
                ]
            )
        )
        fig_dir = path.with_name(path.stem + "_waterfalls")
        fig_dir.mkdir(exist_ok=True)
        for r in picks[: cfg.explain.n_patients]:
            E.waterfall(
                100 * sur.values[r],
                100 * sur.base,
                data.X.iloc[r].to_numpy(float),
                sur.columns,
                f"Patient {data.patient_id[r]}: estimated relapse "
                f"benefit at {data.tau:g} days (surrogate)",
                fig_dir / f"{data.patient_id[r]}.png",
            )
        saved["waterfalls"] = str(fig_dir)
    return saved


def _tracking_start(cfg: BenefitConfig, cohort, kind: str, tau: float):
    import logging

    import mlflow

    from relapse_ml.config import flatten
    from relapse_ml.tracking.store import data_fingerprint, git_commit, resolve_tracking_uri

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    uri = resolve_tracking_uri(cfg.tracking.tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(cfg.tracking.experiment)
    run = mlflow.start_run(run_name=f"{cfg.name}-{kind}")
    params = flatten(cfg)
    mlflow.log_params({k: v[:500] for k, v in params.items()})
    mlflow.set_tags(
        {
            "relapse_ml.kind": kind,
            "relapse_ml.data_name": cohort.name,
            "relapse_ml.data_fingerprint": data_fingerprint(
                cohort.patients, cohort.measurements, cohort.events
            ),
            "relapse_ml.git_commit": git_commit() or "unknown",
            "relapse_ml.tau_days": str(tau),
        }
    )
    return mlflow, run, uri


def _finite(metrics: dict) -> dict:
    return {
        k: float(v)
        for k, v in metrics.items()
        if v is not None
        and isinstance(v, int | float | np.floating | np.integer)
        and np.isfinite(v)
    }


def log_benefit_run(result: BenefitResult, cfg: BenefitConfig, cohort, tables: dict) -> None:
    """One MLflow run (kind ``benefit``): params, per-learner metrics, figures, tables."""
    mlflow, run, uri = _tracking_start(cfg, cohort, "benefit", result.tau)
    with run:
        mlflow.set_tag("relapse_ml.primary_learner", result.primary)
        m = {
            f"{r.learner}.{r.outcome}.{r.metric}": r.value
            for r in result.metrics.itertuples(index=False)
        }
        m.update({f"average.{o}.{k}": v for o, d in result.average.items() for k, v in d.items()})
        m["heterogeneity.test_autoc_p"] = result.heterogeneity["test_autoc_p"]
        m["heterogeneity.detected"] = float(result.heterogeneity["heterogeneity_detected"])
        for o, s in result.explain.get("surrogate", {}).items():
            m[f"surrogate.{o}.r2"] = s["r2_in_sample"]
            m[f"surrogate.{o}.r2_out_of_fold"] = s["r2_out_of_fold"]
        m["n_patients"] = result.n
        mlflow.log_metrics(_finite(m))
        for path in result.figures.values():
            mlflow.log_artifact(str(path), artifact_path="figures")
        for path in tables.values():
            mlflow.log_artifact(str(path), artifact_path="tables")
        result.run_id, result.tracking_uri = run.info.run_id, uri


# -- the subgroups pipeline -----------------------------------------------------------------
@dataclass
class SubgroupResult:
    """What ``relapse-ml subgroups`` produced (aggregates per subgroup level)."""

    cohort: str
    n: int
    tau: float
    tables: dict  # outcome -> subgroup table
    overall: dict  # outcome -> overall row
    exploratory: dict | None
    run_id: str | None = None
    tracking_uri: str | None = None
    files: dict = field(default_factory=dict)

    def summary(self) -> dict:
        exp = None
        if self.exploratory is not None:
            exp = {k: v for k, v in self.exploratory.items() if k != "table"}
            exp["leaves"] = self.exploratory["table"].to_dict(orient="records")
        return {
            "cohort": self.cohort,
            "patients": self.n,
            "tau_days": self.tau,
            "overall": self.overall,
            "subgroups": {o: t.to_dict(orient="records") for o, t in self.tables.items()},
            "exploratory": exp,
            "run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
            "files": {k: str(v) for k, v in self.files.items()},
        }


def subgroup_analysis(cfg: BenefitConfig, cohort, data: BenefitData) -> tuple[dict, dict]:
    """Pre-specified subgroup tables and overall rows per outcome."""
    from relapse_ml.benefit.subgroups import (
        overall_row,
        subgroup_frame,
        subgroup_levels,
        subgroup_table,
    )

    frame = subgroup_frame(cohort, data.patient_id, cfg.landmark.landmark_day)
    levels = subgroup_levels(frame, cfg.subgroups.names)
    sg = cfg.subgroups
    tables = {
        o: subgroup_table(
            data.time, data.event, data.arm, levels, data.tau, o, sg.min_per_arm, sg.min_events
        )
        for o in OUTCOMES
    }
    overall = {o: overall_row(data.time, data.event, data.arm, data.tau, o) for o in OUTCOMES}
    return tables, overall


def exploratory_analysis(cfg: BenefitConfig, data: BenefitData, outcome: str = "relapse") -> dict:
    """Discovery on one half (the primary learner cross-fitted on that half alone), test on
    the other."""
    from relapse_ml.benefit.subgroups import exploratory_subgroups, split_halves

    ex = cfg.subgroups.exploratory
    discovery = split_halves(data.arm, data.event, ex.seed)
    spec = cfg.learner(cfg.primary_label)
    rows = np.flatnonzero(discovery)
    X = data.X.iloc[rows].reset_index(drop=True)
    folds = make_folds(data.arm[rows], data.event[rows], cfg.crossfit.n_folds, ex.seed)
    est = cross_fit(
        spec,
        X,
        data.time[rows],
        data.event[rows],
        data.arm[rows],
        folds,
        data.tau,
        cfg.treatment,
        cfg.crossfit.seed,
    )
    out = exploratory_subgroups(
        data.X,
        data.time,
        data.event,
        data.arm,
        data.tau,
        discovery,
        est.benefit[outcome],
        ex.max_depth,
        ex.min_leaf_fraction,
        outcome,
        ex.seed,
    )
    out["learner"] = spec.display
    return out


def run_subgroups(
    cfg: BenefitConfig,
    cohort,
    *,
    track: bool = True,
    progress=print,
    out_dir: str | Path | None = None,
) -> SubgroupResult:
    """Pre-specified subgroups (forest plot + table) and the honest exploratory split."""
    from relapse_ml.benefit.figures import forest_plot
    from relapse_ml.errors import ModelError

    data = benefit_data(cohort, cfg)
    progress(
        f"{cohort.name}: {data.n} randomized patients at risk at day "
        f"{cfg.landmark.landmark_day:g}; {len(cfg.subgroups.names)} pre-specified "
        f"subgroups, outcomes at {data.tau:g} days after the landmark"
    )
    tables, overall = subgroup_analysis(cfg, cohort, data)
    exploratory = None
    if cfg.subgroups.exploratory.enabled:
        try:
            exploratory = exploratory_analysis(cfg, data)
        except ModelError as err:
            progress(f"  exploratory split skipped: {err}")
    result = SubgroupResult(
        cohort=cohort.name,
        n=data.n,
        tau=data.tau,
        tables=tables,
        overall=overall,
        exploratory=exploratory,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir) if out_dir is not None else Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for o in OUTCOMES:
            ax = forest_plot(tables[o], overall[o], tau=data.tau)
            files[f"forest_{o}"] = _save(ax, out / f"forest_{o}.png")
        files["table"] = out / "subgroups.csv"
        pd.concat(
            [pd.DataFrame([overall[o]]).assign(outcome=o) for o in OUTCOMES]
            + [tables[o] for o in OUTCOMES],
            ignore_index=True,
        ).to_csv(files["table"], index=False)
        if exploratory is not None:
            files["exploratory"] = out / "exploratory_subgroups.csv"
            exploratory["table"].to_csv(files["exploratory"], index=False)
        if track:
            mlflow, run, uri = _tracking_start(cfg, cohort, "subgroups", data.tau)
            with run:
                m = {}
                for o, t in tables.items():
                    for name, part in t.groupby("subgroup"):
                        first = part.iloc[0]
                        m[f"{o}.{name}.interaction_p"] = first["interaction_p"]
                        m[f"{o}.{name}.p_holm"] = first["p_holm"]
                        m[f"{o}.{name}.p_bh"] = first["p_bh"]
                    m[f"{o}.overall.hr"] = overall[o].get("hr")
                    m[f"{o}.overall.diff"] = overall[o].get("diff")
                if exploratory is not None and exploratory["candidate"] is not None:
                    m["exploratory.candidate_interaction_p"] = exploratory["candidate"][
                        "interaction_p"
                    ]
                mlflow.log_metrics(_finite(m))
                for key, path in files.items():
                    mlflow.log_artifact(
                        str(path), artifact_path="figures" if key.startswith("forest") else "tables"
                    )
                result.run_id, result.tracking_uri = run.info.run_id, uri
        result.files = files if out_dir is not None else {}
    return result
