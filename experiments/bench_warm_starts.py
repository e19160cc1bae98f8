"""A/B of the two stop-25 savings on the same data, interleaved so both meet the same load.

1. The bootstrap replicates' calibration GLMs: ``calibration_glms`` from the default start
   (what every replicate did before) against a start at the full sample's solution (what
   `PooledReplicates` does now), on ``--rows`` cloglog predictions and pseudo-observation-
   like outcomes, one BLAS thread, each replicate's rows and frequency weights as the
   bootstrap draws them (Poisson(1) counts, the zero rows left out).
2. The EP posterior (`trajectory.posterior_sites`) of the current tree against the one of
   ``--base`` (a git revision, read with ``git show``), on ``--patients`` simulated marker
   histories at day 180 — the former refreshed every row's moments after each sweep.

CPU seconds per call, median (min–max) over ``--repeats`` interleaved rounds; writes
``results/bench_warm_starts.json``. The two posteriors are also compared (largest absolute
difference), the two GLM fits likewise.

    .venv/bin/python experiments/bench_warm_starts.py --base 1012f36
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "experiments" / "results" / "bench_warm_starts.json"


def module_at(rev: str, path: str, name: str):
    """The module ``path`` as it was at git revision ``rev`` (imports resolve to this tree)."""
    text = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    tmp = Path(tempfile.mkdtemp()) / f"{name}.py"
    tmp.write_text(text)
    spec = importlib.util.spec_from_file_location(name, tmp)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def spread(v) -> str:
    return f"{statistics.median(v):.4f} ({min(v):.4f}–{max(v):.4f})"


def glm_ab(rows: int, replicates: int, repeats: int) -> dict:
    from threadpoolctl import threadpool_limits

    from relapse_ml.evaluation.calibration import calibration_glms

    rng = np.random.default_rng(0)
    x = rng.normal(-1.5, 0.9, rows)
    mu = -np.expm1(-np.exp(0.05 + 0.95 * x))
    theta = (rng.random(rows) < mu).astype(float) + rng.normal(0.0, 0.1, rows)
    full = calibration_glms(theta, x)
    draws = [rng.poisson(1.0, rows).astype(float) for _ in range(replicates)]

    def run(start):
        return [calibration_glms(theta[w > 0], x[w > 0], w[w > 0], start=start) for w in draws]

    times = {"default start": [], "full-sample start": []}
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeats):
            times["default start"].append(cpu(lambda: run(None)) / replicates)
            times["full-sample start"].append(cpu(lambda: run(full)) / replicates)
        diff = max(abs(a[k] - b[k]) for a, b in zip(run(None), run(full), strict=True) for k in a)
    return {"rows": rows, "replicates": replicates, "cpu_s_per_replicate": times,
            "max_abs_difference": diff}


def ep_ab(base: str, patients: int, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import relapse_ml.features.trajectory as now
    from tests.test_trajectory import TRUE, _history, simulate_histories

    before = module_at(base, "relapse_ml/features/trajectory.py", "trajectory_before")
    X, _ = simulate_histories(patients, seed=1, landmark=180.0)
    h = _history(X)
    times = {base: [], "this tree": []}
    for _ in range(repeats):
        times[base].append(cpu(lambda: before.posterior_sites(TRUE, h)))
        times["this tree"].append(cpu(lambda: now.posterior_sites(TRUE, h)))
    (m0, V0, _), (m1, V1, _) = before.posterior_sites(TRUE, h), now.posterior_sites(TRUE, h)
    diff = float(max(np.abs(m0 - m1).max(), np.abs(V0 - V1).max()))
    return {"patients": patients, "cpu_s_per_call": times, "max_abs_difference": diff}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="1012f36", help="the revision before the EP change")
    ap.add_argument("--rows", type=int, default=101_000)
    ap.add_argument("--replicates", type=int, default=12)
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    res = {"glm": glm_ab(args.rows, args.replicates, args.repeats),
           "ep": ep_ab(args.base, args.patients, args.repeats)}
    OUT.write_text(json.dumps(res, indent=1) + "\n")
    for part, key in (("glm", "cpu_s_per_replicate"), ("ep", "cpu_s_per_call")):
        for name, v in res[part][key].items():
            print(f"{part}: {name}: {spread(v)} CPU s")
        print(f"{part}: largest absolute difference {res[part]['max_abs_difference']:.1e}")


if __name__ == "__main__":
    main()
