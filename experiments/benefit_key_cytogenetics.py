"""Exploration (stop 21, issue 9): the default learners with adverse cytogenetics added to the
S-learners' arm interactions (`config.KEY_INTERACTIONS`), dumped for the offline rules of
`benefit_stack_variants.py` — does the shipped rule then find a recorded effect modifier
(the `cytogenetics_driven` positive control) without failing the null? Not the default:
the package is patched in this process only.

    nice -n 10 .venv/bin/python experiments/benefit_key_cytogenetics.py --sizes 3000 \
        --scenarios cytogenetics_driven null --seeds 6000 ... --dumps /work/dumps/keycyto
    .venv/bin/python experiments/benefit_stack_variants.py evaluate --dumps /work/dumps/keycyto
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

EXTRA = "cytogenetic_risk_adverse"


def patch() -> None:
    from relapse_ml.benefit import config, learners

    keys = (*config.KEY_INTERACTIONS, EXTRA)
    config.KEY_INTERACTIONS = learners.KEY_INTERACTIONS = keys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[3000])
    ap.add_argument("--scenarios", nargs="+", default=["cytogenetics_driven", "null"])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(6000, 6020)))
    ap.add_argument("--dumps", type=Path, required=True)
    a = ap.parse_args(argv)
    patch()
    from benefit_stack_variants import run_dumps

    run_dumps(a.sizes, a.scenarios, a.seeds, None, 1000, a.dumps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
