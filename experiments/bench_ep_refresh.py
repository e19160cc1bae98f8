"""A/B of the EP posterior's refresh of moved rows only (stop 25), interleaved so both trees
meet the same load.

`trajectory.posterior_sites` of the current tree against the one of ``--base`` (a git
revision, read with ``git show``; before stop 25 every row's moments were refreshed after
each sweep), on ``--patients`` simulated marker histories at day 180. CPU seconds per call,
median (min–max) over ``--repeats`` interleaved rounds, and the largest absolute difference
between the two posteriors; writes ``results/bench_ep_refresh.json``.

At commit d61b7cf this script (then ``bench_warm_starts.py``) also timed warm-started
calibration GLMs in the bootstrap replicates; they saved 1–20% of the GLMs' CPU per round
(about 1% of a training run) and moved values by up to 1.4e-8, so that change was reverted.

    .venv/bin/python experiments/bench_ep_refresh.py --base 1012f36
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
OUT = ROOT / "experiments" / "results" / "bench_ep_refresh.json"


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
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    res = ep_ab(args.base, args.patients, args.repeats)
    OUT.write_text(json.dumps(res, indent=1) + "\n")
    for name, v in res["cpu_s_per_call"].items():
        print(f"{name}: {spread(v)} CPU s")
    print(f"largest absolute difference {res['max_abs_difference']:.1e}")


if __name__ == "__main__":
    main()
