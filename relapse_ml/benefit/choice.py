"""What a reported benefit estimate is made of: the candidates, the constant learner, the
learners a stack combines, and `Choice` — one outcome's estimate as offset + weighted
learners, with its rule and reason in words (`reported.choose` makes it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relapse_ml.benefit.config import BenefitConfig, LearnerSpec

CONSTANT = LearnerSpec(kind="constant", label="constant")


def candidate_specs(cfg: BenefitConfig) -> list[LearnerSpec]:
    """The learners the reported estimate chooses among: ``report.candidates`` (default all),
    plus a constant learner when none is configured."""
    names = cfg.report.candidates
    specs = [s for s in cfg.learners if names is None or s.display in names]
    if not any(s.kind == "constant" for s in specs):
        specs = [CONSTANT, *specs]
    return specs


def constant_label(specs) -> str:
    return next(s.display for s in specs if s.kind == "constant")


@dataclass
class Choice:
    """The reported estimate of one outcome: ``offset`` + Σ ``weights`` × learner (one
    learner at weight 1 for ``select``), the rule and the reason in words.

    A stack is first chosen with convex weights; `finish_stack` then shrinks its deviation
    from its mean by ``slope`` and moves its mean to the trial's average (``report.centre``),
    which scales the weights by ``slope`` and sets ``offset``."""

    outcome: str
    method: str
    weights: dict[str, float]
    reason: str
    kind: str  # "constant", "risk" (PATH) or "individual"
    offset: float = 0.0
    slope: float = 1.0

    @property
    def learner(self) -> str:
        """The chosen learner's label; ``stack`` for a stack of several."""
        return "stack" if len(self.weights) > 1 else next(iter(self.weights))


def stack_labels(specs, names=None) -> list[str]:
    """The learners a stack combines: ``names`` (the constant always among them), else every
    candidate but T-learners, learners with a boosted final stage and S-learners with a tuned
    shrinkage (`config.ReportConfig`)."""
    if names is not None:
        return [s.display for s in specs if s.display in names or s.kind == "constant"]
    return [
        s.display
        for s in specs
        if s.kind != "t"
        and not (s.kind in ("r", "dr") and s.final.name != "ridge")
        and s.shrink is None
    ]


def outcome_events(time, event, tau: float, outcome: str) -> int:
    """Events of ``outcome`` by the horizon: the information a choice rests on."""
    from relapse_ml.benefit.pseudo import OUTCOME_CAUSES

    hit = np.isin(np.asarray(event), OUTCOME_CAUSES[outcome]) & (np.asarray(time) <= tau)
    return int(hit.sum())


def stack_kind(specs, weights: dict) -> str:
    """What a choice can express (a stack, or one selected learner as a stack of one):
    ``constant`` when it is the constant alone, ``risk`` when every member's
    benefit follows baseline risk (the constant, PATH, an S-learner without arm
    interactions), else ``individual``."""
    by = {s.display: s for s in specs}
    members = [by[lab] for lab in weights]
    if all(m.kind == "constant" for m in members):
        return "constant"
    if all(follows_risk(m) for m in members):
        return "risk"
    return "individual"


def follows_risk(spec: LearnerSpec) -> bool:
    """Whether a learner's benefit follows baseline risk alone: the constant, PATH, an
    S-learner without arm interactions (one relative effect for everyone)."""
    return spec.kind in ("constant", "risk") or (spec.kind == "s" and spec.interactions == [])
