"""The benefit package's simulation studies, run by `relapse-ml design`.

Each study is a design config (the product runs it; this script only calls it and renders
the tables):

* ``null``        configs/design_benefit_null.yaml — no heterogeneity, n = 346: how often the
                  pre-specified heterogeneity test (AUTOC of ``s_fg``, relapse), each other
                  learner's, or any Holm-adjusted pre-specified subgroup interaction rejects.
* ``power``       configs/design_benefit_power.yaml — ``mrd_driven``, n = 346 and 1,000: the
                  same tests' power, and that of the AUTOC test ranking by the TRUE benefit.
* ``individual``  configs/design_benefit_individual.yaml — four scenarios x n = 346, 1,000,
                  3,000: RMSE of the reported individual benefit ÷ the trial average's,
                  coverage of its intervals, Spearman with the truth (and a careful Cox
                  S-learner's), how often an individual estimate is reported.

A study runs as ``relapse-ml design --config CONFIG --out experiments/results/design_benefit_STUDY
--resume`` (resumable: a rerun continues it; ``--scheduler`` puts it on a Dask cluster) and
its ``summary.csv`` is rendered into ``experiments/results/benefit_simulation_design.md``.
The numbers published before this script moved onto ``design`` (its own process-pool loop,
with per-learner BLP / naive AUTOC rows, the feature ceiling and the harm AUCs that
``design`` does not compute) stay in ``experiments/results/benefit_simulation.md`` until a
rerun replaces them; that file names its source.

    nice -n 10 .venv/bin/python experiments/benefit_simulation.py --study null --trials 200
    .venv/bin/python experiments/benefit_simulation.py --study power --scheduler tcp://A:8786
    .venv/bin/python experiments/benefit_simulation.py --tables      # only render the tables

``lean_config``, ``done_keys`` and ``append_trials`` are kept for
``experiments/benefit_individual.py`` (which imports them), and ``--study individual-legacy``
still runs that script's own study until the design config's rerun replaces its table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
MARKDOWN = RESULTS / "benefit_simulation_design.md"
STUDIES = ("null", "power", "individual")


def config_path(study: str) -> Path:
    return ROOT / "configs" / f"design_benefit_{study}.yaml"


def study_dir(study: str) -> Path:
    return RESULTS / f"design_benefit_{study}"


def run_study(study: str, trials: int | None, workers: int | None, scheduler: str | None) -> int:
    """``relapse-ml design`` on the study's config, continuing its directory if it exists."""
    out = study_dir(study)
    cmd = [sys.executable, "-m", "relapse_ml.cli", "design", "--config", str(config_path(study)),
           "--out", str(out), "--no-track"]
    if (out / "study.json").exists():
        cmd.append("--resume")
    if trials:
        cmd += ["--trials", str(trials)]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    elif workers is not None:
        cmd += ["--workers", str(workers)]
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


# -- tables from summary.csv ----------------------------------------------------------------
def _pct(r) -> str:
    if r["rejection_rate"] != r["rejection_rate"]:
        return "–"
    return (f"{100 * r['rejection_rate']:.1f}% ({100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}; "
            f"{int(r['rejections'])}/{int(r['trials'])})")


def _label(analysis: str) -> str:
    if analysis == "heterogeneity:autoc":
        return "pre-specified AUTOC test (primary learner, relapse, sequential)"
    if analysis.startswith("heterogeneity:autoc:"):
        return f"AUTOC test of {analysis.split(':')[2]} (relapse, sequential)"
    if analysis == "subgroups:any":
        return "any adjusted pre-specified subgroup interaction"
    if analysis.startswith("subgroup:"):
        return f"subgroup {analysis.split(':', 1)[1]} (adjusted)"
    if analysis.startswith("oracle:"):
        o = analysis.split(":")[1]
        return f"AUTOC test ranking by the TRUE benefit ({'relapse or death' if o == 'rfs' else o})"
    return analysis


def rate_table(summary, title: str) -> list[str]:
    lines = [f"## {title}", "", "| scenario | n | test | rejection rate (95% CI; rejections/trials) |",
             "|---|---|---|---|"]
    keep = summary[~summary["analysis"].str.startswith("benefit:")]
    for r in keep.to_dict("records"):
        if r["rejection_rate"] == r["rejection_rate"]:
            lines.append(f"| {r['scenario']} | {int(r['n']):,} | {_label(r['analysis'])} | {_pct(r)} |")
    return lines + [""]


def accuracy_table(summary) -> list[str]:
    cols = (("rmse_ratio", "RMSE ratio", 2), ("rmse", "RMSE reported", 3),
            ("rmse_average", "RMSE average", 3), ("coverage", "coverage", 2),
            ("spearman", "ρ reported", 2), ("cox_spearman", "ρ careful Cox", 2),
            ("individual", "share reported ≠ average", 2))
    lines = [
        "## Individual benefit: the reported estimate against the trial's average (relapse)",
        "",
        "Mean (sd) over trials. RMSE ratio = RMSE of the reported estimate ÷ RMSE of the trial's "
        "Aalen–Johansen average given to everyone (< 1: the individual estimate adds "
        "information). Coverage: share of patients whose true benefit lies in their 95% interval.",
        "",
        "| scenario | n | trials | " + " | ".join(c[1] for c in cols)
        + " | AUTOC test rejected | any Holm subgroup rejected |",
        "|---|---|---|" + "---|" * (len(cols) + 2),
    ]
    for (scen, n), g in summary.groupby(["scenario", "n"], sort=False):
        by = g.set_index("analysis")
        if "benefit:relapse:rmse_ratio" not in by.index:
            continue
        cells = []
        for key, _, d in cols:
            a = f"benefit:relapse:{key}"
            m = by.loc[a, "mean_estimate"] if a in by.index else np.nan
            sd = by.loc[a, "sd_estimate"] if a in by.index else np.nan
            cells.append("–" if m != m else f"{m:.{d}f}" + ("" if sd != sd else f" ({sd:.{d}f})"))
        tests = [_pct(by.loc[a]) if a in by.index else "–"
                 for a in ("heterogeneity:autoc", "subgroups:any")]
        trials = int(by.loc["benefit:relapse:rmse_ratio", "trials"])
        lines.append(f"| {scen} | {int(n):,} | {trials} | " + " | ".join(cells + tests) + " |")
    return lines + [""]


def render_tables() -> str:
    from relapse_ml.design.summary import read_table

    lines = ["# Benefit analysis on simulated trials (`relapse-ml design`)", "",
             "Source: `experiments/benefit_simulation.py`, which runs `relapse-ml design` on "
             "configs/design_benefit_*.yaml; every number below is read from the study's "
             "`summary.csv` (rates with 95% Clopper–Pearson intervals). Rendered "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", ""]
    titles = {"null": "Null scenario: false-positive rate",
              "power": "mrd_driven: power (and the true ranking's)"}
    found = False
    for study in STUDIES:
        path = study_dir(study) / "summary.csv"
        if not path.exists():
            continue
        found = True
        s = read_table(path)
        study_cfg = json.loads((study_dir(study) / "study.json").read_text()).get("study", {})
        trials = int(s["trials"].max()) if len(s) else 0
        seed = study_cfg.get("seed")
        lines.append(f"Study `{study}`: {path.relative_to(ROOT)} (config "
                     f"{config_path(study).relative_to(ROOT)}, {trials} trials per cell, seeds "
                     f"{seed}–{seed + trials - 1 if seed is not None else '?'}).")
        lines.append("")
        if study == "individual":
            lines += accuracy_table(s)
        else:
            lines += rate_table(s, titles[study])
    if not found:
        lines.append("No study has been run yet; the published numbers are in "
                     "benefit_simulation.md.")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="all", choices=[*STUDIES, "all", "individual-legacy"])
    ap.add_argument("--trials", type=int, default=None,
                    help="trials per scenario and size (default: the config's)")
    ap.add_argument("--workers", type=int, default=None, help="local Dask workers (0: serial)")
    ap.add_argument("--scheduler", default=None, help="a running Dask scheduler's address")
    ap.add_argument("--tables", action="store_true", help="only render the tables")
    ap.add_argument("--jobs", type=int, default=2, help="individual-legacy: processes")
    ap.add_argument("--n-boot", type=int, default=25, help="individual-legacy: bootstrap size")
    ap.add_argument("--seed", type=int, default=1000, help="individual-legacy: first seed")
    args = ap.parse_args(argv)
    if args.study == "individual-legacy":
        return main_individual_legacy(args.trials, args.jobs, args.n_boot, args.seed)
    if not args.tables:
        for study in (STUDIES if args.study == "all" else [args.study]):
            rc = run_study(study, args.trials, args.workers, args.scheduler)
            if rc:
                return rc
    MARKDOWN.write_text(render_tables())
    print(f"wrote {MARKDOWN}")
    return 0


# -- kept for experiments/benefit_individual.py ---------------------------------------------
def lean_config(n_boot: int = 200, interval_boot: int = 0):
    """The default benefit config without SHAP or discovery, ``n_boot`` heterogeneity-test
    replicates and ``interval_boot`` per-patient bootstrap replicates (0: none)."""
    from relapse_ml.benefit.config import BenefitConfig

    return BenefitConfig(
        intervals={"n_boot": interval_boot},
        explain={"enabled": False},
        heterogeneity={"n_boot": n_boot},
        subgroups={"exploratory": {"enabled": False}},
    )


def gate_stats(reason: str) -> dict:
    """The stack gate's numbers as the reported choice's reason gives them (`reported`: "its
    nested cross-fitted τ-risk ... d (SE se) against the average effect's"): ``gate_d``,
    ``gate_se`` and ``gate_z`` = −d / se (the gate lets the stack through when z > stack_z);
    all None when the gate did not run (below ``min_events``, or the stack was the average)."""
    import re

    m = re.search(r"τ-risk \(weights fitted without each patient's fold\) ([+-]?\d+\.\d+) "
                  r"\(SE (\d+\.\d+)\)", reason)
    if not m:
        return {"gate_d": None, "gate_se": None, "gate_z": None}
    d, se = float(m.group(1)), float(m.group(2))
    return {"gate_d": d, "gate_se": se, "gate_z": -d / se if se > 0 else None}


def stop_time(hhmm: str | None):
    """``--stop-at HH:MM`` (UTC, today) as a datetime; None without one. The studies' one
    reader of it: a resumable study starts no trial after that time."""
    import datetime as dt

    if not hhmm:
        return None
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.now(dt.UTC).replace(hour=h, minute=m, second=0, microsecond=0)


def mean_range(v, d: int = 2, d_range: int | None = None) -> str:
    """``mean (min–max)`` of the finite values of ``v`` (the mean to ``d`` digits, the range to
    ``d_range``, default ``d``); one value alone; "–" when there is none. The studies' one
    formatter of a quantity over trials."""
    x = np.asarray([a for a in v if a is not None and np.isfinite(a)], float)
    if not x.size:
        return "–"
    r = d if d_range is None else d_range
    return f"{x.mean():.{d}f} ({x.min():.{r}f}–{x.max():.{r}f})" if x.size > 1 else f"{x[0]:.{d}f}"


def read_records(path: Path, fields=("study", "n", "seed")) -> dict[tuple, dict]:
    """Each trial already in the JSON-lines file ``path``, by its ``fields`` (the last record
    of a key wins)."""
    records = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted write
            records[tuple(r[f] for f in fields)] = r
    return records


def done_keys(path: Path, fields=("study", "n", "seed")) -> set[tuple]:
    """The ``fields`` of each trial already in the JSON-lines file ``path``."""
    return set(read_records(path, fields))


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"



def append_trials(fn, tasks, n_boot: int, jobs: int, path: Path, n_done: int, every: int) -> None:
    """Run ``fn(*task, n_boot)`` for each task in ``jobs`` single-threaded processes, appending
    each record as one JSON line to ``path`` as it finishes (a failed trial is reported and
    skipped); progress every ``every`` trials."""
    print(f"{len(tasks)} trials to run ({n_done} already in {path})", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with (
        ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init) as pool,
        path.open("a") as fh,
    ):
        futures = {pool.submit(fn, *t, n_boot): t for t in tasks}
        for k, fut in enumerate(as_completed(futures), 1):
            t = futures[fut]
            try:
                rec = fut.result()
            except Exception as err:  # a failed trial is reported, not fatal
                print(f"  {t}: failed: {type(err).__name__}: {err}", flush=True)
                continue
            fh.write(json.dumps(rec, default=float) + "\n")
            fh.flush()
            if k % every == 0 or k == len(tasks):
                print(f"  {k}/{len(tasks)} {t} {time.perf_counter() - start:.0f} s", flush=True)



def main_individual_legacy(trials: int | None, jobs: int, n_boot: int, seed: int) -> int:
    """``--study individual-legacy``: experiments/benefit_individual.py's own study (its
    per-learner yardstick rows; JSONL in results/benefit_individual.jsonl), kept until
    configs/design_benefit_individual.yaml has replaced its published table."""
    sys.path.insert(0, str(HERE))
    from benefit_individual import run_study as run_individual
    from benefit_individual import write_summary

    path = RESULTS / "benefit_individual.jsonl"
    run_individual(path, trials or 20, jobs, n_boot, seed)
    print(write_summary(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
