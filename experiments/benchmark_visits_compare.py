"""Paired C-index differences between models of different `benchmark_visits.py` result files.

The every-visit benchmark's trials are the same for every run with the same seeds (the
simulation is seeded), so a model measured in one results file can be set beside models of
another, seed by seed. Writes ``results/<out>.md``; e.g. the separate landmark models:

    python experiments/benchmark_visits_compare.py --out benchmark_visits_landmark_models

or any results files (also `benchmark_jm.py`'s, same rows), e.g. this round's covariates:

    python experiments/benchmark_visits_compare.py --reference benchmark_visits_chim_cov \
        --compared benchmark_visits_chim_cov:shipped_default benchmark_visits_chim_cov:coxcov_default \
        --out benchmark_visits_chim_cov_paired

or full donor chimerism read as censored (stop 20) against the default before it:

    python experiments/benchmark_visits_compare.py --out benchmark_visits_chim_compare \
        --reference benchmark_visits_prechim --compared benchmark_visits_chim+:shipped_default
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_visits import _load  # noqa: E402 (experiments are scripts, not a package)

RESULTS = Path(__file__).resolve().parent / "results"
# the shipped default (2-member blend) and the careful Cox on seeds 1-15
REFERENCE = ("benchmark_visits_blend", "benchmark_visits_blend_fresh", "benchmark_visits_blend_more")
# (results file, model) compared with the reference's shipped_default and careful_cox
COMPARED = (("benchmark_visits_blend4", "blend4_default"),
            ("benchmark_visits_lm10", "lm_traj_blend"),
            ("benchmark_visits_lm_11_15", "lm_traj_blend"),
            ("benchmark_visits_bylm", "shipped_default"),
            ("benchmark_visits_cov_pipeline", "cov_default"))


def c_index(stems) -> dict:
    out = {}
    for stem in stems:
        for r in _load(RESULTS / f"{stem}.jsonl"):
            if r["kind"] == "eval":
                out[(r["seed"], r["landmark"], r["model"])] = r["c_index"]
    return out


def render(compared=COMPARED, reference=REFERENCE, base="shipped_default") -> str:
    ref = c_index(reference)
    lines = ["# Paired C-index differences across every-visit result files", "",
             "Same trials (seeded), train 2,500 / test 1,500; the reference (`shipped_default`: "
             "the default's 2-member blend, `careful_cox`) from "
             + ", ".join(f"`{s}`" for s in reference) + ". Mean ± SD over seeds; n ≥ +0.010: "
             "seeds at least 0.010 ahead of the careful Cox.", "",
             f"| results file | model | landmark | seeds | − {base.replace('_', ' ')} | − careful Cox | "
             "n ≥ +0.010 |", "|---|---|---|---|---|---|---|"]
    groups = {}  # files holding one model's seeds: one row group (``a+b:model`` on the CLI)
    for stem, model in compared:
        groups.setdefault((model, stem if "+" in stem else ""), []).extend(
            x for x in stem.split("+") if x)
    for (model, _), stems in groups.items():
        new = c_index(stems)
        for L in sorted({k[1] for k in new}):
            seeds = sorted(s for (s, LL, m) in new if LL == L and m == model
                           and (s, L, base) in ref and (s, L, "careful_cox") in ref)
            if len(seeds) < 2:
                continue
            a = np.array([new[(s, L, model)] - ref[(s, L, base)] for s in seeds])
            b = np.array([new[(s, L, model)] - ref[(s, L, "careful_cox")] for s in seeds])
            vs_base = "—" if model == base and not a.any() else (
                f"{a.mean():+.4f} ± {a.std(ddof=1):.4f} ({(a > 0).sum()}/{len(a)} > 0)")
            lines.append(f"| {', '.join(stems)} | {model} | {L} | {len(seeds)} | {vs_base} | "
                         f"{b.mean():+.4f} ± {b.std(ddof=1):.4f} | {(b >= 0.010).sum()} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmark_visits_landmark_models")
    ap.add_argument("--reference", nargs="+", default=list(REFERENCE),
                    help="results files (stems) holding shipped_default and careful_cox")
    ap.add_argument("--compared", nargs="+", default=None, metavar="STEM[+STEM]:MODEL",
                    help="models to set beside the reference (default: this study's list); "
                         "files joined by + hold the seeds of one row group, apart from the "
                         "same model of other files")
    ap.add_argument("--base", default="shipped_default",
                    help="the reference files' model the others are paired with")
    a = ap.parse_args(argv)
    bad = [c for c in a.compared or () if ":" not in c]
    if bad:
        ap.error(f"--compared {bad[0]}: expected STEM[+STEM]:MODEL, e.g. benchmark_visits_chim:"
                 "shipped_default")
    compared = COMPARED if a.compared is None else [tuple(c.split(":", 1)) for c in a.compared]
    text = render(compared, a.reference, a.base)
    (RESULTS / f"{a.out}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
