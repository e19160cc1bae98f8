"""Benchmark of `relapse-ml design` and of the registry-scale simulator.

design:   trials x 2 sizes x 2 scenarios (configs/design.yaml's study), serially in one
          process and on a local Dask cluster of ``--workers`` workers: wall time, the cost
          per trial (mean and sd of the per-trial seconds), the speed-up, and whether both
          give the same results.csv.
simulate: ``simulate_cohort`` at each ``--sim-n`` (chunked, 50,000 patients per chunk, with
          truth, Parquet), on ``--workers`` local workers: wall time and peak memory (the
          sum of the resident memory of this process and its worker processes, sampled
          every 0.2 s).

The machine may be shared: the load average before and after each part is recorded next
to the numbers. Results: ``experiments/results/bench_design.json`` (each part replaces
its own entry).

    nice -n 10 .venv/bin/python experiments/bench_design.py --part design --trials 200 --rounds 3
    nice -n 10 .venv/bin/python experiments/bench_design.py --part design --trials 10 \
        --analyses primary heterogeneity subgroups benefit_accuracy     # -> design_full
    nice -n 10 .venv/bin/python experiments/bench_design.py --part simulate --sim-n 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results" / "bench_design.json"


class PeakMemory:
    """Peak of the summed RSS of this process and all its descendants (MB), and the CPU
    seconds they used (user + system; on a shared virtual machine this grows with the load
    too, so it is no load-free measure of the work)."""

    def __init__(self, every: float = 0.2):
        import psutil

        self.proc, self.every, self.peak, self._stop = psutil.Process(), every, 0.0, False
        self.cpu: dict[int, float] = {}
        t = self.proc.cpu_times()
        self.cpu0 = t.user + t.system

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values()) - self.cpu0

    def _sample(self) -> float:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
                t = p.cpu_times()
                self.cpu[p.pid] = t.user + t.system
            except psutil.Error:
                pass
        return total / 2**20

    def _loop(self):
        while not self._stop:
            self.peak = max(self.peak, self._sample())
            time.sleep(self.every)

    def __enter__(self):
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self.thread.join()
        return False


def _load():
    return [round(x, 2) for x in os.getloadavg()]


def bench_design(trials: int, workers: int, analyses: list[str], rounds: int = 1,
                 entry: str = "design", force: bool = False) -> dict:
    """``rounds`` rounds of serial and ``workers`` local Dask workers, interleaved (odd
    rounds serial first, even rounds Dask first) so that both modes see a similar load on a
    shared machine. Each run is saved as soon as it is measured; a rerun skips the runs
    already measured with the same settings (resumable) and adds rounds up to ``rounds``."""
    from relapse_ml.config import load_config
    from relapse_ml.design.config import DesignConfig

    cfg = load_config(ROOT / "configs" / "design.yaml", DesignConfig)
    cfg = cfg.model_copy(update={"analyses": analyses,
                                 "tracking": cfg.tracking.model_copy(update={"enabled": False})})
    keep = ROOT / "experiments" / "results" / "bench_design_runs" / entry
    old = json.loads(RESULTS.read_text()).get(entry, {}) if RESULTS.exists() else {}
    head = {"config": "configs/design.yaml", "analyses": analyses, "trials_per_cell": trials,
            "cells": len(cfg.scenarios) * len(cfg.sizes), "sizes": cfg.sizes,
            "scenarios": [s.display for s in cfg.scenarios], "workers": workers}
    same = all(old.get(k) == v for k, v in head.items()) and not force
    out = {**old, **head} if same else dict(head)
    if same and "serial" in out and "rounds" not in out:  # a one-round result of before
        out["rounds"] = [{m: out.pop(m) for m in ("serial", "dask") if m in out}]
    out.setdefault("rounds", [])
    for r in range(rounds):
        if r >= len(out["rounds"]):
            out["rounds"].append({})
        rnd = out["rounds"][r]
        order = (("serial", 0), ("dask", workers))
        for mode, w in order if r % 2 == 0 else order[::-1]:
            if mode in rnd:
                print(f"round {r + 1} {mode}: measured ({rnd[mode]['wall_seconds']} s)", flush=True)
                continue
            rnd[mode] = _measure(cfg, keep / f"round{r + 1}_{mode}", trials, w)
            print(f"round {r + 1}", mode, json.dumps(rnd[mode]), flush=True)
            _save({entry: out})
        rnd["speedup"] = round(rnd["serial"]["wall_seconds"] / rnd["dask"]["wall_seconds"], 2)
        rnd["identical_results"] = _same_results(keep, r + 1)
    sp = [rnd["speedup"] for rnd in out["rounds"]]
    out["speedup_per_round"] = sp
    out["speedup_median"] = round(float(np.median(sp)), 2)
    for k in ("serial", "dask", "speedup", "identical_results", "max_abs_difference"):
        out.pop(k, None)
    return out


def _measure(cfg, study: Path, trials: int, workers: int) -> dict:
    from relapse_ml.design.runner import run_design

    shutil.rmtree(study, ignore_errors=True)  # a cut-short run is timed again from scratch
    load0 = _load()
    with PeakMemory() as mem:
        start = time.perf_counter()
        res = run_design(cfg, study, trials=trials, workers=workers, track=False)
        wall = time.perf_counter() - start
    secs = np.array(res.run.trial_seconds)
    return {
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "wall_seconds": round(wall, 1),
        "cpu_seconds_all_processes": round(mem.cpu_seconds, 1),
        "trials": res.run.computed,
        "failed": len(res.run.failed),
        "trial_seconds_mean": round(float(secs.mean()), 3),
        "trial_seconds_sd": round(float(secs.std(ddof=1)), 3) if secs.size > 1 else None,
        "trial_seconds_by_n": _seconds_by_n(study),
        "wall_per_trial": round(wall / max(1, res.run.computed), 3),
        "peak_memory_mb": round(mem.peak, 0),
        "load_average_before": load0,
        "load_average_after": _load(),
    }


def _same_results(keep: Path, r: int):
    """Whether the round's serial and Dask results.csv are identical (None if one is gone)."""
    from relapse_ml.design.summary import read_table

    paths = [keep / f"round{r}_{m}" / "results.csv" for m in ("serial", "dask")]
    if not all(p.exists() for p in paths):
        return None
    a, b = (read_table(p) for p in paths)
    return bool(a.equals(b))


def _seconds_by_n(study: Path) -> dict:
    """Mean and sd of the per-trial seconds, by sample size (from the trial records)."""
    from relapse_ml.design.store import load_records

    by: dict = {}
    for rec in load_records(study):
        by.setdefault(str(rec["n"]), []).append((rec["seconds"], rec.get("cpu_seconds", np.nan)))
    out = {}
    for n, v in sorted(by.items()):
        wall, cpu = np.array(v).T
        out[n] = {"trials": len(v), "wall_mean": round(float(wall.mean()), 2),
                  "wall_sd": round(float(wall.std(ddof=1)), 2) if len(v) > 1 else None,
                  "cpu_mean": round(float(np.nanmean(cpu)), 2) if np.isfinite(cpu).any() else None,
                  "cpu_sd": round(float(np.nanstd(cpu, ddof=1)), 2) if np.isfinite(cpu).sum() > 1
                  else None}
    return out


def bench_simulate(sizes: list[int], workers: int, truth_draws: int) -> dict:
    from relapse_ml.design.runner import dask_client
    from relapse_ml.simulate.chunked import CHUNK_SIZE, simulate_cohort

    old = json.loads(RESULTS.read_text()).get("simulate", {}) if RESULTS.exists() else {}
    runs = [r for r in old.get("runs", []) if r["n_randomized"] not in sizes]  # other sizes kept
    for n in sizes:
        tmp = Path(tempfile.mkdtemp(prefix="bench-sim-"))
        try:
            load0 = _load()
            with PeakMemory() as mem:
                start = time.perf_counter()

                def say(done, total, mem=mem, start=start, n=n):  # partial numbers, if cut short
                    print(f"n={n}: chunk {done}/{total} written at "
                          f"{time.perf_counter() - start:.0f} s, {mem.cpu_seconds:.0f} CPU s, "
                          f"peak {mem.peak:.0f} MB, load {_load()}", flush=True)

                with dask_client(None, workers) as client:
                    meta = simulate_cohort(tmp / "c", n, seed=0, fmt="parquet", client=client,
                                           truth_draws=truth_draws, progress=say)
                wall = time.perf_counter() - start
            size_mb = sum(p.stat().st_size for p in (tmp / "c").iterdir()) / 2**20
            runs.append({
                "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "n_randomized": n,
                "n_screened": meta["n_screened"],
                "chunks": meta["chunks"]["count"],
                "chunk_size": CHUNK_SIZE,
                "truth_draws": truth_draws,
                "workers": workers,
                "seconds": round(wall, 1),
                "cpu_seconds": round(mem.cpu_seconds, 1),
                "peak_memory_mb": round(mem.peak, 0),
                "rows": meta["rows"],
                "parquet_mb": round(size_mb, 1),
                "load_average_before": load0,
                "load_average_after": _load(),
            })
            print(json.dumps(runs[-1]), flush=True)
            runs.sort(key=lambda r: r["n_randomized"])
            _save({"simulate": {**old, "runs": runs}})  # each size as soon as it is measured
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"what": "simulate_cohort(n, seed=0, fmt='parquet', truth=True) on a LocalCluster; "
            "cpu_seconds: all processes' user+system CPU as this (virtual) machine counts it "
            "(inflated under load)",
            "target": "1,000,000 with truth < 300 s and < 6 GB", "runs": runs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["design", "simulate", "all"], default="all")
    ap.add_argument("--trials", type=int, default=200, help="trials per scenario and size")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sim-n", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--truth-draws", type=int, default=64)
    ap.add_argument("--analyses", nargs="+", default=["primary"],
                    help="the analyses each trial runs (default: the cheap primary comparison)")
    ap.add_argument("--rounds", type=int, default=1, help="interleaved serial/Dask rounds")
    ap.add_argument("--entry", default=None,
                    help="key in the results file (default: design, or design_full when the "
                    "analyses are not just primary)")
    ap.add_argument("--force", action="store_true", help="measure again what is measured")
    args = ap.parse_args()
    result = {}
    result["machine"] = {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                         "platform": platform.platform()}
    if args.part in ("design", "all"):
        entry = args.entry or ("design" if args.analyses == ["primary"] else "design_full")
        result[entry] = bench_design(args.trials, args.workers, args.analyses, args.rounds,
                                     entry, args.force)
        print(json.dumps(result[entry], indent=1), flush=True)
    if args.part in ("simulate", "all"):
        result["simulate"] = bench_simulate(args.sim_n, args.workers, args.truth_draws)
    _save(result)
    print(f"wrote {RESULTS}")


def _save(part: dict) -> None:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}  # read late: runs may overlap
    RESULTS.write_text(json.dumps({**old, **part}, indent=2) + "\n")


if __name__ == "__main__":
    main()
