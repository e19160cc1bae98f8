"""Would the rejected stack's spread repair the intervals? (issue 9, coverage at n = 3,000)

For each dumped trial (`benefit_stack_variants.py dump`) and the shipped rule's damped
estimate at ≥ 200 events (average + E/(E+360) × the deviation of ``s_fg_risk``), compare
(1) the mean square difference between the stack the gate would reject (shrunk by its
nested cross-fitted slope, centred like the reported estimate) and the damped estimate,
on the cross-fitted values — what adding the between-model spread to the prediction
interval's σ_u² would add — with (2) the damped estimate's true mean square error
(evaluation only: the truth is read for it alone). Also the outcome's event counts.
Writes ``results/benefit_stack_spread.{json,md}``.

    .venv/bin/python experiments/benefit_stack_spread.py [--dumps DIR] [--outcome relapse]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(argv=None) -> int:
    from benefit_stack_rules import SCENARIOS, load_trials
    from benefit_stack_variants import DUMPS

    from relapse_ml.benefit.config import ReportConfig
    from relapse_ml.benefit.stacking import benefit_slope

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dumps", type=Path, default=DUMPS)
    ap.add_argument("--outcome", default="relapse", choices=("relapse", "rfs"))
    a = ap.parse_args(argv)
    e0 = ReportConfig().damped_events
    cells = {}
    for sc, n, _seed, t in load_trials(a.dumps, a.outcome):
        i = t.labels.index("s_fg_risk")
        w = t.events / (t.events + e0) if t.events >= 200 else ReportConfig().damped_weight
        rep_cf = t.average + w * (t.oof[:, i] - t.oof[:, i].mean())
        S = t.oof[:, t.cols] @ t.weights
        slope = float(np.clip(benefit_slope(t.nested, t.phi), 0.0, 1.0))
        alt_cf = rep_cf.mean() + slope * (S - S.mean())
        full = t.average + w * (t.full[:, i] - t.full[:, i].mean())
        c = cells.setdefault(f"{sc} {n}", {"between": [], "true_mse": [], "events": []})
        c["between"].append(float(np.mean((alt_cf - rep_cf) ** 2)))
        c["true_mse"].append(float(np.mean((t.truth - full) ** 2)))
        c["events"].append(t.events)
    lines = ["## The rejected stack's spread against the error the damped estimate makes "
             f"({a.outcome})", "",
             "Mean over trials (min and max in the JSON): between = mean square of (shrunk stack − damped "
             "estimate) on the cross-fitted values; true MSE = the damped estimate's mean square "
             "error against the true benefit (evaluation only).", "",
             "| scenario | n | trials | events | between | true MSE |", "|---|---|---|---|---|---|"]
    out = {}
    for key in sorted(cells, key=lambda k: (int(k.split()[1]), SCENARIOS.index(k.split()[0]))):
        c = cells[key]
        out[key] = {k: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v))}
                    for k, v in c.items()} | {"trials": len(c["events"])}
        sc, n = key.split()
        lines.append(f"| {sc} | {int(n):,} | {len(c['events'])} | {np.mean(c['events']):.0f} | "
                     f"{np.mean(c['between']):.4f} | {np.mean(c['true_mse']):.4f} |")
    stem = HERE / "results" / f"benefit_stack_spread{'' if a.outcome == 'relapse' else '_rfs'}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=1))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
