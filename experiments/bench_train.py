"""Wall time of `relapse-ml train` with the default config (no tracking), by cohort size.

    nice -n 10 python experiments/bench_train.py --sizes 2500 20000 [--variant default stack super]

Wall time depends on what else the machine runs: ``cpu_s`` (this process's CPU time) and the
load average at the end are recorded beside it.

Variants: ``default`` (configs/default.yaml as shipped), ``stack`` (default + a stack over
the default's candidates), ``stack_members`` (default + a stack of its own default members:
Cox, Fine–Gray, XGBoost; the variant ``stack`` measured before this change), ``super`` (default models on stacked landmarks 60–365), ``cov`` / ``coxcov`` (the default with
``covariates: default`` on both trajectory models / on ``cox_cs_trajectory`` only), ``blend3``
(the default + its Cox trajectory model fitted by landmark as a third blend member),
``all_intervals`` (the default with ``evaluation.intervals: all``: every candidate's bootstrap
intervals, not only the final model's — the default until stop 27). Each run appends a row to
experiments/results/bench_train.csv: size, variant, seconds in total and per model (CV with
its bootstrap intervals when it gets them; the final model's are then timed apart as
``final_intervals_s``), the final model and its pooled C-index / IPA / calibration slope.
Rows already present (same size, variant, seed, commit) are skipped: rerunning resumes.
``--n-boot N`` replaces the config's bootstrap replicates (0: no intervals; the variant is then
recorded as e.g. ``default_boot0``). ``--profile`` also writes the cProfile statistics (top 40 by cumulative time) to
experiments/results/profile_train_<n>_<variant>.txt. The JSON file beside the CSV holds the
same rows.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parent / "results" / "bench_train.csv"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=OUT.parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def config(variant: str, n_boot: int | None = None):
    from relapse_ml.config import TrainConfig, default

    data = default()
    data.pop("data", None)
    if n_boot is not None:
        data["evaluation"]["n_boot"] = n_boot
    if variant == "stack":  # a stack over the default's own candidates (the null is in it)
        members = [{k: v for k, v in m.items() if k in ("name", "params", "label")}
                   for m in data["models"] if m["name"] not in ("aalen_johansen", "stack")]
        data["models"] = data["models"] + [{"name": "stack", "params": {"members": members}}]
    if variant == "stack_members":  # the stack's own default members (Cox, Fine-Gray, XGBoost)
        data["models"] = data["models"] + [{"name": "stack"}]
    if variant in ("cov", "coxcov"):  # trajectory covariates: on both / on the Cox model only
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from benchmark_pipelines import with_covariates

        with_covariates(data["models"], cox_only=variant == "coxcov")
    if variant == "blend3":  # + the Cox trajectory model by landmark as a third blend member
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from benchmark_pipelines import pipeline_config

        cfg = pipeline_config(True, n_boot, "blend3").model_dump()
        data["models"] = cfg["models"]
    if variant == "super":
        data["landmark"]["super_landmark"] = True
    if variant == "all_intervals":  # every candidate's bootstrap intervals (the default before)
        data["evaluation"]["intervals"] = "all"
    return TrainConfig.model_validate(data)


def run(n: int, variant: str, seed: int, profile: bool = False,
        n_boot: int | None = None) -> dict:
    from relapse_ml.data import read_cohort
    from relapse_ml.simulate import simulate_trial
    from relapse_ml.train import run_training

    code = commit()  # the code this run imports (HEAD may move while it runs)
    with tempfile.TemporaryDirectory() as tmp:
        d = simulate_trial(n, seed=seed).write(Path(tmp) / "c")
        cohort = read_cohort(d)
        stamps = []

        def progress(msg):
            stamps.append((time.perf_counter(), str(msg)))

        load0 = os.getloadavg()[0]
        prof = cProfile.Profile() if profile else None
        t0, c0 = time.perf_counter(), time.process_time()
        if prof:
            prof.enable()
        result = run_training(config(variant, n_boot), cohort, track=False, progress=progress)
        if prof:
            prof.disable()
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        load = os.getloadavg()[0]
    if prof:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(40)
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        (OUT.parent / f"profile_train_{n}_{label(variant, n_boot)}.txt").write_text(buf.getvalue())
    m = result.metrics[result.metrics["model"] == result.final_model].set_index("metric")["pooled"]
    row = {"n": n, "variant": label(variant, n_boot), "seed": seed, "total_s": round(total, 1),
           "cpu_s": round(cpu, 1), "load_avg_1min_at_start": round(load0, 1),
           "load_avg_1min_at_end": round(load, 1), "commit": code,
           "rows": result.n_rows, "final_model": result.final_model,
           "c_index": round(m["c_index"], 4), "ipa_tau": round(m["ipa_tau"], 4),
           "calibration_slope": round(m["calibration_slope"], 3),
           "guard_passed": result.guard.passed if result.guard else None,
           "cpu_count": os.cpu_count()}
    prev = t0
    for t, msg in stamps:
        parts = msg.split()
        if len(parts) > 2 and parts[1] == "C-index":
            row[f"{parts[0]}_s"] = round(t - prev, 1)
        if "intervals from" in msg:  # the final model's bootstrap (evaluation.intervals: final)
            row["final_intervals_s"] = round(t - prev, 1)
        prev = t
    return row


def label(variant: str, n_boot: int | None) -> str:
    """The variant's name in the results; a changed bootstrap count is part of it."""
    return variant if n_boot is None else f"{variant}_boot{n_boot}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[2500])
    ap.add_argument("--variant", nargs="+", default=["default"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--n-boot", type=int, default=None,
                    help="bootstrap replicates instead of the config's (0: no intervals)")
    args = ap.parse_args()
    done = pd.read_csv(OUT) if OUT.exists() else pd.DataFrame(columns=["n", "variant", "seed"])
    done = done.loc[:, ~done.columns.str.contains(r"\.\d+$")]  # duplicated columns of old rows
    if "commit" not in done:
        done["commit"] = "before-3f20504"
    head = commit()
    for n in args.sizes:
        for v in args.variant:
            same = ((done["n"] == n) & (done["variant"] == label(v, args.n_boot))
                    & (done["seed"] == args.seed))
            if (same & (done["commit"] == head)).any():
                print(f"skip n={n} {v}: already in {OUT.name}")
                continue
            row = run(n, v, args.seed, args.profile, args.n_boot)
            print(row, flush=True)
            done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            done.to_csv(OUT, index=False)
            done.to_json(OUT.with_suffix(".json"), orient="records", indent=1)


if __name__ == "__main__":
    main()
