"""Interleaved A/B of `relapse-ml score --patient` cold starts: two source trees, same model.

Runs fresh processes alternately from two checkouts (``PYTHONPATH``) so both meet the same
load, and prints the median (min–max) CPU time (user + system) and wall time of each, with
the load average. The registry case uses ``MLFLOW_TRACKING_URI`` as set in the environment.

    git archive BASE relapse_ml | tar -x -C /tmp/before
    MLFLOW_TRACKING_URI=sqlite:///... .venv/bin/python experiments/bench_scoring_ab.py \\
        --before /tmp/before --after . --bundle BUNDLE_DIR [--runs 8]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "relapse-ml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--patient", type=Path, default=ROOT / "examples" / "patient_example.json")
    ap.add_argument("--runs", type=int, default=8)
    a = ap.parse_args()
    cases = {"bundle": ["--model", str(a.bundle.resolve())], "registry": []}
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        del cases["registry"]
    trees = {"before": a.before.resolve(), "after": a.after.resolve()}
    load = os.getloadavg()
    res: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(a.runs):
        for tree, path in trees.items():
            for case, extra in cases.items():
                env = {**os.environ, "PYTHONPATH": str(path)}
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                r = subprocess.run([str(CLI), "score", "--patient", str(a.patient), *extra],
                                   env=env, capture_output=True, text=True)
                wall = time.perf_counter() - t0
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                if r.returncode:
                    raise SystemExit(f"{tree} {case}: exit {r.returncode}: {r.stderr}")
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                res.setdefault((tree, case), []).append((cpu, wall))
    for (tree, case), runs in res.items():
        cpu, wall = [c for c, _ in runs], [w for _, w in runs]
        print(f"{tree:<7} {case:<9} CPU {statistics.median(cpu):.3f} s ({min(cpu):.3f}–{max(cpu):.3f}),"
              f" wall {statistics.median(wall):.3f} s ({min(wall):.3f}–{max(wall):.3f})")
    print("load average before", [round(x, 1) for x in load],
          "after", [round(x, 1) for x in os.getloadavg()])


if __name__ == "__main__":
    main()
