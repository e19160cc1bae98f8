"""How often the stack gate's z passes a threshold where the stack helps and where it hurts.

Reads the trials that record the gate (`benefit_simulation.gate_stats`, since stop 27): the
joint-model trials of `benefit_jm.py` (results/benefit_jm.jsonl: a common hazard ratio, where a
stack of effect modifiers can only fit noise) and the positive-control trials of
`benefit_individual.py --tag gate_*` (results/benefit_individual_gate_*.jsonl: sorafenib acts
only with adverse cytogenetics, a recorded feature, so a stack can find the modifier), relapse.
For each threshold: the trials whose z exceeds it and the mean RMSE ratio (reported ÷ average)
the shipped rule gave those trials. A measurement for choosing ``report.stack_z``; it changes
nothing.

    python experiments/benefit_gate_z.py   # -> results/benefit_gate_z.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benefit_simulation import RESULTS  # noqa: E402

THRESHOLDS = (1.5, 2.0, 2.5, 3.0)


def trials() -> list[dict]:
    """``{source, n, seed, z, ratio}`` of every trial that recorded the gate (relapse)."""
    out = []
    jm = RESULTS / "benefit_jm.jsonl"
    if jm.exists():
        for line in jm.read_text().splitlines():
            r = json.loads(line)
            if "gate_z" in r:
                out.append({"source": "joint model (common HR)", "n": r["n"], "seed": r["seed"],
                            "z": r["gate_z"], "ratio": r["rmse_ratio"]})
    for path in sorted(RESULTS.glob("benefit_individual_gate_*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            rel = r["reported"]["relapse"]
            if "gate_z" in rel:
                out.append({"source": f"{r['scenario']} (positive control)", "n": r["n"],
                            "seed": r["seed"], "z": rel["gate_z"],
                            "ratio": rel.get("reported.truth_rmse_ratio")})
    return out


def table(rows: list[dict]) -> str:
    lines = ["## The stack gate's z where the stack can only fit noise and where it can find a "
             "modifier (relapse)", "",
             "z = −(nested τ-risk − the average's) / SE, as the reported choice prints it (4 "
             "decimals; a trial whose gate did not run counts as not passing). 'ratio': the "
             "shipped rule's RMSE ratio (reported ÷ average) on the trials passing.", "",
             "| trials | n | count | z (min–max) | "
             + " | ".join(f"z > {t:g}: trials (their mean ratio)" for t in THRESHOLDS) + " |",
             "|---|---|---|---|" + "---|" * len(THRESHOLDS)]
    keys = sorted({(r["source"], r["n"]) for r in rows})
    for source, n in keys:
        rs = [r for r in rows if (r["source"], r["n"]) == (source, n)]
        z = np.array([np.nan if r["z"] is None else r["z"] for r in rs], float)
        cells = []
        for t in THRESHOLDS:
            hit = [r for r, zi in zip(rs, z, strict=True) if np.isfinite(zi) and zi > t]
            ratio = [r["ratio"] for r in hit if r["ratio"] is not None]
            cells.append(f"{len(hit)}" + (f" ({np.mean(ratio):.3f})" if ratio else ""))
        span = f"{np.nanmin(z):+.1f} to {np.nanmax(z):+.1f}" if np.isfinite(z).any() else "–"
        lines.append(f"| {source} | {n:,} | {len(rs)} | {span} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> int:
    text = table(trials())
    (RESULTS / "benefit_gate_z.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
