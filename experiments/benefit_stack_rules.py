"""The rules compared by `benefit_stack_variants.py evaluate`, applied to its per-trial dumps.

Each rule maps one trial's dump (one outcome) to the reported estimate of every patient,
using only what the analysis has — the learners' out-of-fold and full-data estimates, φ,
the folds, the Aalen–Johansen average and the event count — through the library's own
functions (`relapse_ml.benefit.reported`, `relapse_ml.benefit.stacking`). The true benefit
is read afterwards, in `score_trial`, only.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from benefit_stack_rules_render import (  # noqa: F401  (SCENARIOS: used by the other scripts)
    SCENARIOS,
    rounded,
    summarize,
)

from relapse_ml.benefit.stacking import (
    benefit_slope,
    nested_stack,
    slope_test,
    stack_gain,
    stack_weights,
)


def _specs():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from benefit_simulation import lean_config

    from relapse_ml.benefit.reported import candidate_specs, stack_labels

    specs = candidate_specs(lean_config(n_boot=100, interval_boot=0))
    return specs, stack_labels(specs)


SPECS, STACK = _specs()


class Trial:
    """One dump, one outcome: what a rule may use (``truth`` is for `score_trial` only)."""

    def __init__(self, d, o: str):
        self.labels = list(d["labels"])
        self.oof, self.full, self.phi = d[f"oof_{o}"], d[f"full_{o}"], d[f"phi_{o}"]
        self.folds, self.events = d["folds"], int(d[f"events_{o}"])
        self.average, self.outcome = float(d[f"average_{o}"]), o
        self.cols = [self.labels.index(lab) for lab in STACK]
        self.const = self.labels.index("constant")
        self.truth = d[f"truth_{o}"]
        self._w = self._nested = None

    @property
    def weights(self):
        if self._w is None:
            self._w = stack_weights(self.oof[:, self.cols], self.phi)
        return self._w

    @property
    def nested(self):
        if self._nested is None:
            self._nested = nested_stack(self.oof[:, self.cols], self.phi, self.folds)
        return self._nested

    def stack_full(self):
        return self.full[:, self.cols] @ self.weights

    def constant(self):
        return np.full(len(self.phi), self.average)

    def select(self):
        from relapse_ml.benefit.reported import choose

        est = {lab: SimpleNamespace(benefit={self.outcome: self.oof[:, i]})
               for i, lab in enumerate(self.labels)}
        ch = choose(SPECS, est, {self.outcome: {"phi": self.phi}}, self.outcome, "select", 0.05)
        return sum(w * self.full[:, self.labels.index(lab)] for lab, w in ch.weights.items())


def _recentre(t: Trial, est):
    return est - est.mean() + t.average


def _z(t: Trial, values) -> float:
    d, se = stack_gain(values, t.oof[:, t.const], t.phi)
    return d / se if se > 0 else 0.0


def rule(gate: str = "none", z: float = 0.0, centre: bool = False, shrink: bool = False,
         min_events: int | None = 200):
    """A rule: below ``min_events`` the select rule (None: always the stack branch); in
    the stack branch the stack is kept if ``gate`` (``in_sample``: the stack's own
    cross-fitted values with full-data weights; ``nested``: `nested_stack`) shows a τ-risk
    gain over the constant of more than ``z`` SE (``none``: always kept); ``shrink``
    scales its deviation from its mean by `benefit_slope` on the nested values; ``centre``
    moves its mean to the trial's average."""

    def apply(t: Trial):
        if min_events is not None and t.events < min_events:
            return t.select()
        if gate == "in_sample" and _z(t, t.oof[:, t.cols] @ t.weights) >= -z:
            return t.constant()
        if gate == "nested" and _z(t, t.nested) >= -z:
            return t.constant()
        est = t.stack_full()
        if shrink:
            lam = benefit_slope(t.nested, t.phi)
            est = est.mean() + lam * (est - est.mean())
        return _recentre(t, est) if centre else est

    return apply


def stack_with(extra: str):
    """The plain stack with ``extra`` among its candidates, at any n (None where the dump
    has not cross-fitted it: stack-only dumps at n ≥ 1,000)."""

    def apply(t: Trial):
        if extra not in t.labels:
            return None
        cols = [t.labels.index(lab) for lab in (*STACK, extra)]
        return t.full[:, cols] @ stack_weights(t.oof[:, cols], t.phi)

    return apply


def damped(source: str = "s_fg_risk", w: float | None = None, w_max: float = 0.25,
           min_events: int = 200):
    """Below ``min_events`` (else the current shrunk + centred stack): the trial's average
    plus ``w`` × the deviation of ``source`` (a learner's full-data estimate, or ``stack``:
    the convex stack's) from its own mean. ``w`` None: the cross-fitted calibration slope of
    φ on the source's out-of-fold values (``stack``: its nested values) clipped to
    [0, ``w_max``] — chosen from what the analysis has, never the truth."""
    current = rule(shrink=True, centre=True)

    def apply(t: Trial):
        if t.events >= min_events:
            return current(t)
        if source == "stack":
            full, oof = t.stack_full(), t.nested
        else:
            i = t.labels.index(source)
            full, oof = t.full[:, i], t.oof[:, i]
        lam = w if w is not None else min(benefit_slope(oof, t.phi), w_max)
        return t.average + lam * (full - full.mean())

    return apply


def damped_floor(w: float = 0.2, source: str = "s_fg_risk"):
    """The current rule (shrunk + centred stack at ≥ 200 events, else the damped ``source``),
    except that a stack whose cross-fitted slope is 0 (the average) is replaced by the damped
    ``source`` too: the floor of the ranking is the risk-based one."""
    current, low = rule(shrink=True, centre=True), damped(source, w, min_events=10**9)

    def apply(t: Trial):
        if t.events < 200:
            return low(t)
        est = current(t)
        return low(t) if np.ptp(est) < 1e-12 else est

    return apply


def library(**report):
    """The library's own rule (`reported.choose` + `finish_stack`) with ``ReportConfig(
    **report)`` (default: the shipped defaults), so the offline numbers are the pipeline's."""
    from relapse_ml.benefit.config import ReportConfig

    cfg = ReportConfig(**report)

    def apply(t: Trial):
        return library_choice(cfg, t)[1]

    return apply


def library_choice(cfg, t: Trial):
    """``(choice, estimate)``: `reported.choose` + `finish_stack` under the `ReportConfig`
    ``cfg`` on one dump, as the pipeline computes them."""
    from relapse_ml.benefit.reported import choose, finish_stack

    est = {lab: SimpleNamespace(benefit={t.outcome: t.oof[:, i]})
           for i, lab in enumerate(t.labels)}
    ch = choose(SPECS, est, {t.outcome: {"phi": t.phi}}, t.outcome, "auto", cfg.alpha,
                n_events=t.events, min_events=cfg.min_events, report=cfg, folds=t.folds,
                stack_names=STACK)
    preds = {lab: t.full[:, t.labels.index(lab)] for lab in {*ch.weights, "constant"}}
    finish_stack(ch, preds, t.average, cfg.centre, "constant")
    return ch, ch.offset + sum(w * preds[k] for k, w in ch.weights.items())


def gated_damped(z: float, weight):
    """At ≥ 200 events: the shrunk, centred stack if its nested gain over the constant
    exceeds ``z`` SE, else (and when it shrinks to the average) the average + weight(t) ×
    the deviation of ``s_fg_risk``; below 200 events the damped rule at 0.2."""
    current = rule(shrink=True, centre=True)

    def apply(t: Trial):
        w = 0.2 if t.events < 200 else weight(t)
        low = damped("s_fg_risk", w, min_events=10**9)(t)
        if t.events < 200 or _z(t, t.nested) >= -z:
            return low
        est = current(t)
        return low if np.ptp(est) < 1e-12 else est

    return apply


def slope_z(values, phi) -> float:
    """t statistic of `stacking.slope_test` (positive: the values separate patients; note
    the opposite sign of the τ-risk gate's ``nested_z``, negative when the stack is better)."""
    beta, se = slope_test(values, phi)
    return beta / se if se > 0 else 0.0


RULES = {
    # the shipped default (nested gate at 2 SE; floor: damped s_fg_risk, E / (E + 360))
    "library default": library(),
    # the slope gate (report.stack_test: slope) at several z; z 3 judged and not adopted
    **{f"library, slope gate z>{z:g}": library(stack_test="slope", stack_z=z)
       for z in (1.645, 2, 2.5, 3)},
    # alternatives considered for it (at >= 200 events; 0.2 below)
    **{f"gate z>{z:g}, damped E/(E+{e0})": gated_damped(z, lambda t, e0=e0: t.events / (t.events + e0))
       for z, e0 in ((2, 300), (2, 400), (2, 500), (1.645, 360), (99, 360))},
    **{f"gate z>2, damped w={w:g}": gated_damped(2, lambda t, w=w: w) for w in (0.5, 0.75, 1.0)},
    "gate z>2, damped w=clip(E/800, 0.2, 1)": gated_damped(
        2, lambda t: float(np.clip(t.events / 800, 0.2, 1.0))),
    "auto (the rule of stop 16)": rule(),
    "auto + recentre": rule(centre=True),
    "in-sample gate z>1": rule("in_sample", 1.0),
    "in-sample gate z>1.645": rule("in_sample", 1.645),
    "in-sample gate z>1 + recentre": rule("in_sample", 1.0, centre=True),
    "nested gate z>0": rule("nested", 0.0),
    "nested gate z>0 + recentre": rule("nested", 0.0, centre=True),
    "nested gate z>0.5 + recentre": rule("nested", 0.5, centre=True),
    "nested gate z>1": rule("nested", 1.0),
    "nested gate z>1 + recentre": rule("nested", 1.0, centre=True),
    "nested gate z>1.645 + recentre": rule("nested", 1.645, centre=True),
    "shrink": rule(shrink=True),
    "shrink + recentre": rule(shrink=True, centre=True),
    "nested gate z>0 + shrink + recentre": rule("nested", 0.0, centre=True, shrink=True),
    "nested gate z>0.25 + shrink + recentre": rule("nested", 0.25, centre=True, shrink=True),
    "nested gate z>0.5 + shrink + recentre": rule("nested", 0.5, centre=True, shrink=True),
    "nested gate z>1 + shrink + recentre": rule("nested", 1.0, centre=True, shrink=True),
    # the former scratch pilot at n = 346: the stack without the event rule, and gated
    "stack, any n": rule(min_events=None),
    "stack with s_fg_shrunk, any n": stack_with("s_fg_shrunk"),
    "shrink + recentre, any n": rule(shrink=True, centre=True, min_events=None),
    "nested gate z>1.645 + recentre, any n": rule("nested", 1.645, centre=True, min_events=None),
    # below 200 events, the average plus a damped deviation of one well-ranked learner or of
    # the stack (issue 9, rho at n = 346): fixed w, or a cross-fitted slope clipped to w_max
    **{f"damped s_fg_risk w={w:g}": damped("s_fg_risk", w) for w in (0.1, 0.2, 0.25, 0.33, 0.5, 1.0)},
    **{f"damped stack w={w:g}": damped("stack", w) for w in (0.1, 0.2, 0.33, 0.5)},
    **{f"damped risk_path w={w:g}": damped("risk_path", w) for w in (0.2, 0.33, 0.5)},
    **{f"slope s_fg_risk w_max={m:g}": damped("s_fg_risk", None, m) for m in (0.25, 0.5, 1.0)},
    **{f"slope stack w_max={m:g}": damped("stack", None, m) for m in (0.25, 0.5, 1.0)},
    # at ≥ 200 events: the damped risk-based estimate where the shrunk stack is the average
    **{f"damped floor w={w:g}": damped_floor(w) for w in (0.1, 0.2)},
}


def config_records(dumps: Path, outcome: str, rules: dict, extra=None) -> list[dict]:
    """Every rule (name -> `ReportConfig` keyword arguments, applied by `library_choice`) on
    every dump whose truth for ``outcome`` is known: the rule's score (`score_trial`) and
    whether it reported the stack; ``extra(t)`` adds per-trial fields (e.g. the gate's z)."""
    from relapse_ml.benefit.config import ReportConfig

    cfgs = {name: ReportConfig(**kw) for name, kw in rules.items()}
    rows = []
    for sc, n, seed, t in load_trials(dumps, outcome):
        if not np.isfinite(t.truth).all():
            continue
        rec = {"scenario": sc, "n": n, "seed": seed, "events": t.events,
               **(extra(t) if extra else {})}
        for name, cfg in cfgs.items():
            ch, est = library_choice(cfg, t)
            rec[name] = {**score_trial(t, est), "stack": ch.method == "stack"}
        rows.append(rec)
    return rows


def score_trial(t: Trial, est) -> dict:
    """Evaluation only: the estimate against the truth, beside the trial's average."""
    from scipy import stats

    true = t.truth
    rmse = float(np.sqrt(np.mean((est - true) ** 2)))
    base = float(np.sqrt(np.mean((t.average - true) ** 2)))
    flat = np.ptp(est) < 1e-12
    rho = 0.0 if flat or np.ptp(true) < 1e-12 else float(stats.spearmanr(est, true)[0])
    return {"rmse": rmse, "base": base, "ratio": rmse / base if base > 0 else np.nan,
            "excess": rmse - base, "rho": rho, "constant": bool(flat)}


def load_trials(dumps: Path, outcome: str = "relapse", sizes=None):
    for f in sorted(dumps.glob("*.npz")):
        if ".tmp" in f.name:
            continue
        sc, n, seed = f.stem.rsplit("_", 2)
        if sizes is not None and int(n) not in sizes:
            continue
        with np.load(f) as d:
            yield sc, int(n), int(seed), Trial(d, outcome)


def peer_rho(study: Path, outcome: str = "relapse") -> dict:
    """The careful Cox S-learner's Spearman with the truth per (scenario, n, seed), from the
    per-trial records of `benefit_individual.py` (the dumps do not carry that peer)."""
    out = {}
    if not study.exists():
        return out
    for line in study.read_text().splitlines():
        r = json.loads(line)
        v = (r.get("cox_spearman") or {}).get(outcome)
        if v is not None and np.isfinite(v):
            out[(r["scenario"], r["n"], r["seed"])] = float(v)
    return out


def evaluate_all(dumps: Path, results: Path, outcome: str = "relapse", sizes=None,
                 stem: str = "benefit_stack_variants", peer: dict | None = None) -> str:
    """Every rule on every dump (of ``sizes``, default all); per-trial scores in
    ``STEM.jsonl``, the summary in ``STEM.{json,md}``, in ``results``. peer: the careful Cox
    S-learner's ρ by (scenario, n, seed) (`peer_rho`), compared with each rule's."""
    rows = []
    peer = peer or {}
    for sc, n, seed, t in load_trials(dumps, outcome, sizes):
        rec = {"scenario": sc, "n": n, "seed": seed, "events": t.events,
               "nested_z": _z(t, t.nested), "slope_z": slope_z(t.nested, t.phi), "in_sample_z": _z(t, t.oof[:, t.cols] @ t.weights),
               "cox_rho": peer.get((sc, n, seed))}
        for name, fn in RULES.items():
            est = fn(t)
            if est is not None:
                rec[name] = score_trial(t, est)
        rows.append(rec)
    (results / f"{stem}.jsonl").write_text(
        "".join(json.dumps(rounded(r)) + "\n" for r in rows))
    summary, md = summarize(rows, outcome, list(RULES))
    (results / f"{stem}.json").write_text(json.dumps(summary, indent=1))
    (results / f"{stem}.md").write_text(md)
    return md
