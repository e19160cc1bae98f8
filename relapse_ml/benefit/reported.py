"""The one reported benefit estimate: chosen (or stacked) by the cross-fitted yardstick over
all learners, the constant (average-effect) learner always among them, then refitted on all
patients.

`choose` applies the rule of `config.ReportConfig` (a stack's guards: `stacking`,
`finish_stack`); `refit.fit_full` refits a learner;
`selection_procedure` runs cross-fitting → yardstick → choice → refit on one data set (the
analysis, and each bootstrap replicate of `intervals`). The public entry point with the
intervals is `individual.reported_benefit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from relapse_ml.benefit.choice import (
    Choice,
    candidate_specs,
    constant_label,
    outcome_events,
    stack_kind,
    stack_labels,
)
from relapse_ml.benefit.config import OUTCOMES, BenefitConfig, ReportConfig
from relapse_ml.benefit.refit import FittedBenefit, fit_constant, fit_full
from relapse_ml.benefit.stacking import (
    benefit_slope,
    nested_stack,
    slope_test,
    stack_gain,
    stack_weights,
)
from relapse_ml.benefit.yardstick import paired, tau_risk_losses


def choose(
    specs,
    estimates: dict,
    targets: dict,
    outcome: str,
    method: str,
    alpha: float,
    n_events: int | None = None,
    min_events: int = 200,
    stack_names=None,
    report=None,
    folds=None,
):
    """Select (or stack) for one outcome by the cross-fitted τ-risk (`config.ReportConfig`).

    ``auto`` stacks when ``n_events`` (events of the outcome by the horizon) reaches
    ``min_events`` and selects otherwise; the reason says which and why. report: the
    `config.ReportConfig` whose stack keys (``stack_test``, ``stack_z``, ``shrink``) guard
    a stack (None: its defaults); folds: the cross-fitting folds (the nested test needs
    them)."""
    r = report or ReportConfig()
    phi = targets[outcome]["phi"]
    kinds = {s.display: s.kind for s in specs}
    const = constant_label(specs)
    why = ""
    if method == "auto":
        enough = n_events is not None and n_events >= min_events
        few = "damped" if r.few_events == "damped" and r.damped_learner in kinds else "select"
        method = "stack" if enough else few
        why = (
            f"{n_events} events ≥ {min_events}: " if enough
            else f"{n_events} events < {min_events}, too few to stack"
            + (": " if few == "damped" else " (the stricter rule): ")
        )
        if not enough and r.few_events == "damped" and few == "select":
            why += f"(report.damped_learner {r.damped_learner} is not a candidate) "
    if method == "stack":
        return _stack_choice(specs, estimates, phi, outcome, why, stack_names, report, folds,
                             n_events)
    if method == "damped":
        return damped_choice(specs, outcome, why, r.damped_learner, r.damped_weight)
    loss = {lab: tau_risk_losses(estimates[lab].benefit[outcome], phi) for lab in kinds}
    z_crit = stats.norm.ppf(1 - alpha)

    # the best of m learners is tested at alpha / m (Bonferroni: it was picked as the
    # minimum); the pre-specified risk-based fallback at alpha
    m = max(1, len(kinds) - 1)
    z_best = stats.norm.ppf(1 - alpha / m)

    def beats_constant(lab, z=z_crit):
        d, se = paired(loss[lab], loss[const])
        return (d / se if se > 0 else 0.0) < -z, d, se

    best = min(loss, key=lambda lab: loss[lab].mean())
    if best == const:
        return Choice(
            outcome,
            method,
            {const: 1.0},
            why + "no learner had a lower cross-fitted τ-risk than the trial's average effect",
            "constant",
        )
    pre_specified = kinds[best] == "risk"  # the PATH fallback is tested at alpha anyway
    ok, d, se = beats_constant(best, z_crit if pre_specified else z_best)
    if ok:
        level = f"{alpha:g}" if pre_specified else f"{alpha:g}/{m}, Bonferroni over the learners"
        reason = why + (
            f"{best} has the lowest cross-fitted τ-risk, {d:+.4f} (SE {se:.4f}) below the "
            f"average effect's (one-sided p < {level})"
        )
        return Choice(outcome, method, {best: 1.0}, reason, stack_kind(specs, {best: 1.0}))
    risk = [lab for lab, k in kinds.items() if k == "risk"]
    if risk and beats_constant(risk[0])[0]:
        _, d2, se2 = beats_constant(risk[0])
        reason = why + (
            f"the best learner ({best}) did not beat the average effect significantly "
            f"({d:+.4f}, SE {se:.4f}); the risk-based {risk[0]} did ({d2:+.4f}, SE {se2:.4f})"
        )
        return Choice(outcome, method, {risk[0]: 1.0}, reason, "risk")
    reason = why + (
        f"the data cannot tell patients apart: the best learner ({best}) did not beat the "
        f"trial's average effect significantly (τ-risk {d:+.4f}, SE {se:.4f})"
    )
    return Choice(outcome, method, {const: 1.0}, reason, "constant")


def _stack_choice(specs, estimates, phi, outcome, why, stack_names, report, folds,
                  n_events=None) -> Choice:
    """The stack branch of `choose`: convex weights minimising the cross-fitted τ-risk,
    kept only if its nested cross-fitted τ-risk beats the constant's by more than
    ``report.stack_z`` SE (``stack_test: nested``; ``slope``: if the slope of φ on the nested
    values exceeds ``stack_z`` robust SE), with the shrinkage slope to apply.
    A stack that fails that test, is the constant alone or shrinks to slope 0 reports the
    damped risk-based estimate instead (``stack_floor: damped``), else the average. The
    damped weight is E / (E + ``damped_events``) for E events from ``min_events`` on, else
    the fixed ``damped_weight``."""
    r = report or ReportConfig()
    const = constant_label(specs)
    floor = r.stack_floor == "damped" and r.damped_learner in {s.display for s in specs}

    def damped(because: str) -> Choice:
        grows = _floor_grows(r, n_events)
        return damped_choice(specs, outcome, why + because + ", so (report.stack_floor: "
                             "damped) ", r.damped_learner, floor_weight(r, n_events),
                             (n_events, r.damped_events) if grows else None)

    labels = stack_labels(specs, stack_names)
    B = np.column_stack([estimates[lab].benefit[outcome] for lab in labels])
    w = stack_weights(B, phi)
    weights = {lab: float(v) for lab, v in zip(labels, w, strict=True) if v > 1e-6}
    nested = None
    if r.stack_test != "none" or r.shrink:
        if folds is None:
            raise ValueError("a nested stack test or shrinkage needs the cross-fitting folds")
        nested = nested_stack(B, phi, folds)
    test = ""
    if r.stack_test != "none" and list(weights) != [const]:
        if r.stack_test == "nested":
            base = estimates[const].benefit[outcome]
            if r.stack_against == "floor" and floor:
                base, fw = floor_values(r, base, estimates[r.damped_learner].benefit[outcome],
                                        n_events)
                against = (f"the damped {r.damped_learner}'s (weight {fw:.2g}; what is "
                           "reported without the stack)")
                verdict = ("the stack did not beat the damped risk-based estimate by more than "
                           "{:g} SE")
            else:
                against = "the average effect's"
                verdict = "the stack did not beat the trial's average effect by more than {:g} SE"
            d, se = stack_gain(nested, base, phi)
            z = -(d / se) if se > 0 else 0.0
            test = (f"its nested cross-fitted τ-risk (weights fitted without each patient's "
                    f"fold) {d:+.4f} (SE {se:.4f}) against {against}")
        else:
            beta, se = slope_test(nested, phi)
            z = beta / se if se > 0 else 0.0
            test = (f"the slope of the pseudo-outcomes on its nested cross-fitted values "
                    f"(weights fitted without each patient's fold) {beta:.2f} (robust SE "
                    f"{se:.2f})")
            verdict = "the stack did not separate patients beyond chance ({:g} SE)"
        if not z > r.stack_z:
            failed = f"{verdict.format(r.stack_z)}: {test}"
            if floor:
                return damped(failed)
            return Choice(outcome, "stack", {const: 1.0}, why + failed, "constant")
    if list(weights) == [const] and floor:
        return damped("the stack is the trial's average effect alone")
    slope = benefit_slope(nested, phi) if r.shrink else 1.0
    if slope <= 0 and floor:
        return damped("the stack's cross-fitted calibration slope is 0")
    reason = why + "convex stack minimising the cross-fitted τ-risk: " + ", ".join(
        f"{lab} {v:.2f}" for lab, v in sorted(weights.items(), key=lambda kv: -kv[1])
    )
    if test:
        reason += f"; {test}"
    if r.shrink:
        reason += f"; deviation from its mean × {slope:.2f} (cross-fitted calibration slope)"
    if r.centre == "average":
        reason += "; centred on the trial's average effect"
    return Choice(outcome, "stack", weights, reason, stack_kind(specs, weights), slope=slope)


def _floor_grows(r: ReportConfig, n_events) -> bool:
    """Whether the damped floor's weight grows with the events (E / (E + damped_events))."""
    return r.damped_events is not None and n_events is not None and n_events >= r.min_events


def floor_weight(r: ReportConfig, n_events) -> float:
    """The damped floor's weight: E / (E + damped_events) from min_events on, else fixed."""
    if _floor_grows(r, n_events):
        return n_events / (n_events + r.damped_events)
    return r.damped_weight


def floor_values(r: ReportConfig, constant, risk, n_events) -> tuple[np.ndarray, float]:
    """``(values, weight)``: the damped floor on given estimates (out of fold for the gate):
    the constant learner's values + weight × the damped learner's deviation from its mean."""
    w = floor_weight(r, n_events)
    risk = np.asarray(risk, float)
    return np.asarray(constant, float) + w * (risk - risk.mean()), w


def damped_choice(specs, outcome: str, why: str, learner: str, weight: float,
                  events: tuple[int, float] | None = None) -> Choice:
    """The average plus ``weight`` × ``learner``'s deviation from its own mean (the few-events
    rule, `config.ReportConfig`): a stack of one learner whose slope is the fixed weight,
    centred on the average by `finish_stack`. No data choose the weight: with few events a
    cross-fitted slope is noise (docs/benefit.md)."""
    kinds = {s.display: s.kind for s in specs}
    if learner not in kinds:
        raise ValueError(f"report.damped_learner {learner!r} is not one of the candidates "
                         f"{sorted(kinds)}")
    const = constant_label(specs)
    if weight <= 0 or learner == const:
        return Choice(outcome, "damped", {const: 1.0},
                      why + "damped weight 0: the trial's average effect", "constant")
    if events is None:
        how = ("a fixed, small weight: individual differences are shown damped, since at this "
               "size no estimate of them is reliable")
    else:
        how = (f"E / (E + {events[1]:g}) for E = {events[0]} events, a weight that grows with "
               "the events: differences beyond baseline risk were not shown reliably")
    reason = why + (
        f"the trial's average effect plus {weight:.2g} × the deviation of {learner} from its "
        f"mean ({how})"
    )
    return Choice(outcome, "damped", {learner: 1.0}, reason,
                  stack_kind(specs, {learner: 1.0}), slope=weight)


def finish_stack(ch: Choice, preds: dict, average: float, centre: str, const: str) -> None:
    """Turn a stack's convex weights into the reported estimate on the analysed patients:
    deviation from the stack's mean × ``ch.slope``, mean moved to ``average`` (the constant
    learner's value, ``centre: average``) or kept (``centre: stack``) — by scaling the
    weights and setting ``ch.offset`` (so `Reported.predict` and the export give it on new
    patients). preds: {learner: its full-data benefit on the analysed patients}."""
    if ch.method not in ("stack", "damped") or list(ch.weights) == [const]:
        return
    mean = float(np.mean(sum(w * preds[k] for k, w in ch.weights.items())))
    target = average if centre == "average" or ch.method == "damped" else mean
    if ch.slope <= 0:
        ch.weights, ch.kind = {const: 1.0}, "constant"
        ch.offset = target - average
        return
    ch.weights = {k: ch.slope * w for k, w in ch.weights.items()}
    ch.offset = target - ch.slope * mean


@dataclass
class Reported:
    """The reported estimate: choices per outcome, the refitted learners, the yardstick."""

    choices: dict[str, Choice]
    fitted: dict[str, FittedBenefit]  # by learner label (those with weight > 0)
    yardstick: pd.DataFrame
    estimates: dict = field(default_factory=dict)  # cross-fitted, by learner
    targets: dict = field(default_factory=dict)  # the yardstick's DR scores, by outcome
    # the prediction interval's shape (`prediction.patient_variances`), set by the interval step
    interval_shape: dict = field(default_factory=dict)
    risk_model: FittedBenefit | None = None

    @property
    def chosen_learners(self) -> list[str]:
        """Labels of the learners with weight > 0 (a shrunk S-learner without its scale)."""
        return sorted({k.split("@")[0] for ch in self.choices.values() for k in ch.weights})

    def predict(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        preds = {lab: f.predict(X) for lab, f in self.fitted.items()}
        out = {}
        for o, ch in self.choices.items():
            out[o] = ch.offset + sum(w * preds[lab][o] for lab, w in ch.weights.items())
        return out


def selection_procedure(cfg: BenefitConfig, data, folds, progress=None, estimates=None, cache=None):
    """Cross-fit the candidates (unless ``estimates`` are given), score them by the
    yardstick, choose per outcome, refit the chosen learners on all of ``data``."""
    from relapse_ml.benefit.estimation import cross_fit_learners, evaluation_targets
    from relapse_ml.benefit.yardstick import yardstick_table

    specs = candidate_specs(cfg)
    cache = {} if cache is None else cache
    say = progress or (lambda *a: None)
    if estimates is None or any(s.display not in estimates for s in specs):
        done = dict(estimates or {})
        todo = [s for s in specs if s.display not in done]
        new, _, _ = cross_fit_learners(cfg, data, say, cache, folds, specs=todo)
        estimates = {**done, **new}
    targets, _ = evaluation_targets(cfg, data, folds, cache)
    table = yardstick_table(estimates, targets, constant_label(specs))
    r = cfg.report
    choices = {
        o: choose(
            specs, estimates, targets, o, r.method, r.alpha,
            n_events=outcome_events(data.time, data.event, data.tau, o),
            min_events=r.min_events, stack_names=r.stack_candidates, report=r, folds=folds,
        )
        for o in OUTCOMES
    }
    by_label = {s.display: s for s in specs}
    fitted = {}
    for o, ch in choices.items():
        for lab in ch.weights:
            spec = by_label[lab]
            scale = estimates[lab].info.get("scale", {}).get(o) if spec.shrink else None
            key = lab if scale is None else f"{lab}@{scale:g}"
            if key not in fitted:
                fitted[key] = (
                    fit_constant(cfg, spec, data, folds, estimates)
                    if spec.kind == "constant"
                    else fit_full(cfg, spec, data, folds, scale)
                )
            if key != lab:  # a shrunk S-learner refitted at this outcome's scale
                ch.weights = {(key if k == lab else k): w for k, w in ch.weights.items()}
    const = constant_label(specs)
    for o, ch in choices.items():
        if ch.method in ("stack", "damped") and list(ch.weights) != [const]:
            if const not in fitted:
                fitted[const] = fit_constant(cfg, by_label[const], data, folds, estimates)
            preds = {k: fitted[k].predict(data.X)[o] for k in {*ch.weights, const}}
            finish_stack(ch, preds, float(np.mean(preds[const])), r.centre, const)
    return Reported(choices, fitted, table, estimates, targets)
