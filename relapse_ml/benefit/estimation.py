"""The estimation steps of the benefit pipeline: cross-fitted learners, the DR scores that
judge them, baseline risk, the average benefit, and the heterogeneity tests and metrics.

Each step is an importable function; the simulation study in ``experiments/`` calls them
one by one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.benefit.config import OUTCOMES, BenefitConfig, LearnerSpec
from relapse_ml.benefit.data import TRUTH_COLUMNS, BenefitData
from relapse_ml.benefit.learners import cross_fit, fold_fits, make_folds
from relapse_ml.benefit.pseudo import OUTCOME_CAUSES, dr_scores, ipcw_outcome
from relapse_ml.benefit.yardstick import pseudo_targets


def cross_fit_learners(
    cfg: BenefitConfig,
    data: BenefitData,
    progress=print,
    cache: dict | None = None,
    folds=None,
    specs=None,
) -> tuple[dict, np.ndarray, dict]:
    """Cross-fitted estimates of every configured learner (or ``specs``):
    ``(estimates, folds, cache)``."""
    from relapse_ml.benefit.tuned import cross_fit_shrunk

    if folds is None:
        folds = make_folds(data.arm, data.event, cfg.crossfit.n_folds, cfg.crossfit.seed)
    cache = {} if cache is None else cache
    estimates = {}
    on = (data.X, data.time, data.event, data.arm, folds, data.tau)  # what every fit uses
    for spec in cfg.learners if specs is None else specs:
        if spec.kind == "constant" and cfg.treatment.assignment == "observational":
            from relapse_ml.benefit.observational import cross_fit_adjusted_constant

            nuisance = fold_fits(nuisance_spec(cfg), *on, cache)
            est, value = cross_fit_adjusted_constant(spec, nuisance, data.tau, cfg.treatment)
            est.info["value"] = value
            estimates[spec.display] = est
        elif spec.shrink is not None:
            nuisance = fold_fits(nuisance_spec(cfg), *on, cache)
            est, scale = cross_fit_shrunk(spec, *on, cfg.treatment, nuisance, cache)
            est.info["scale"] = scale
            estimates[spec.display] = est
        else:
            estimates[spec.display] = cross_fit(spec, *on, cfg.treatment, cfg.crossfit.seed, cache)
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


def evaluation_targets(cfg: BenefitConfig, data: BenefitData, folds, cache) -> tuple[dict, dict]:
    """The yardstick's targets (`yardstick.pseudo_targets`: DR scores φ, R-loss parts) per
    outcome from the cross-fitted nuisance T-learner, and its risks ``mu``.

    The censoring Kaplan–Meier uses all patients (a marginal nuisance); μ̂ for each
    patient comes from models fitted without that patient's fold.
    """
    fits = fold_fits(
        nuisance_spec(cfg), data.X, data.time, data.event, data.arm, folds, data.tau, cache
    )
    return pseudo_targets(fits, data.tau, cfg.treatment)


def evaluation_scores(cfg: BenefitConfig, data: BenefitData, folds, cache) -> tuple[dict, dict]:
    """DR scores φ per outcome (`evaluation_targets`) and the nuisance risks."""
    targets, mu = evaluation_targets(cfg, data, folds, cache)
    return {o: targets[o]["phi"] for o in OUTCOMES}, mu


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
    from relapse_ml.benefit.arm_stats import Z95, incidence_by_arm, outcome_for

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
    from relapse_ml.benefit.learners import arm_risk_factory
    from relapse_ml.benefit.propensity import fit_propensity
    from relapse_ml.benefit.refit import fit_predict
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
                    nuisance=cfg.heterogeneity.nuisance,
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
    from relapse_ml.benefit import groups as G
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
                cfb = G.c_for_benefit(
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
                tables[(label, o)] = G.benefit_calibration(
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
