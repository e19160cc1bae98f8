"""The pre-specified rule that made adverse cytogenetics one of the S-learners' arm
interactions (`learner_specs.KEY_INTERACTIONS`; stop 21 explored it, stop 22 adopted it after
the rule of docs/benefit.md passed): criteria (a)–(c), offline with the library's own rule,
paired on the trials of two dump directories — the learners without the term ("shipped"
then) and with it ("extended"). The dumps come from `benefit_stack_variants.py dump` (in
stop 21 this script patched the learners in its own process to make the extended ones; the
default now includes the term, so the dumps of today's package are the extended ones).

    nice -n 10 .venv/bin/python experiments/benefit_stack_variants.py dump --sizes 3000 \
        --scenarios cytogenetics_driven null --seeds 6000 ... --dumps /work/dumps/keycyto
    .venv/bin/python experiments/benefit_key_cytogenetics.py --dumps /work/dumps/keycyto \
        --compare-with /work/dumps/stop21
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

def compare(shipped: Path, extended: Path, sizes=(1000, 3000)) -> str:
    """The pre-specified rule of docs/benefit.md (stop 21), offline with the library's own
    rule, paired on the trials present in both dump directories."""
    import numpy as np
    from benefit_stack_rules import SCENARIOS, library, load_trials, score_trial

    rule = library()
    lines = ["| n | scenario | trials | shipped mean (max) | extended mean (max) | criterion |",
             "|---|---|---|---|---|---|"]
    ok = True
    for n in sizes:
        a = {(sc, s): t for sc, _, s, t in load_trials(shipped, "relapse", {n})}
        b = {(sc, s): t for sc, _, s, t in load_trials(extended, "relapse", {n})}
        for sc in SCENARIOS:
            ks = sorted(k for k in a if k in b and k[0] == sc)
            if not ks:
                continue
            ra = [score_trial(a[k], rule(a[k])) for k in ks]
            rb = [score_trial(b[k], rule(b[k])) for k in ks]
            key = "excess" if sc == "null" else "ratio"
            xa, xb = np.array([r[key] for r in ra]), np.array([r[key] for r in rb])
            if sc == "null":
                good = bool(xb.max() <= 0.005)
            elif sc == "cytogenetics_driven":
                good = bool(n != 3000 or xb.mean() <= xa.mean() - 0.02)
            else:
                good = bool(xb.max() <= 1.05 and xb.mean() <= xa.mean() + 0.01)
            ok &= good
            lines.append(f"| {n:,} | {sc} | {len(ks)} | {xa.mean():.4f} ({xa.max():.4f}) | "
                         f"{xb.mean():.4f} ({xb.max():.4f}) | {'pass' if good else 'FAIL'} |")
    return "\n".join(lines) + f"\n\n(a)–(c) {'all pass' if ok else 'not all pass'}\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    ap.add_argument("--dumps", type=Path, required=True, help="dumps with the term (extended)")
    ap.add_argument("--compare-with", type=Path, required=True,
                    help="dumps without it (the learners before stop 22)")
    a = ap.parse_args(argv)
    print(compare(a.compare_with, a.dumps, tuple(a.sizes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
