"""``relapse-ml design``: operating characteristics of a trial design by simulation (Dask)."""

from __future__ import annotations

from pathlib import Path

import typer

from relapse_ml.cli._common import emit_json

CONFIG_OPT = typer.Option(..., "--config", help="Design config (YAML), e.g. configs/design.yaml.")
TRIALS_OPT = typer.Option(
    None, "--trials", min=1, help="Simulated trials per scenario and size (default: the config's)."
)
SCHEDULER_OPT = typer.Option(
    None,
    "--scheduler",
    help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.",
)
WORKERS_OPT = typer.Option(
    None,
    "--workers",
    min=0,
    help="Local cluster size (default: one worker per core); 0 runs serially in this process.",
)
OUT_OPT = typer.Option(
    Path("design_results"), "--out", help="Study directory (results.csv, summary.csv, figures)."
)
RESUME_OPT = typer.Option(
    False, "--resume", help="Continue the study in --out: finished trials are kept, not rerun."
)
NO_TRACK_OPT = typer.Option(False, "--no-track", help="Do not log to MLflow.")
JSON_OPT = typer.Option(False, "--json", help="Print a machine-readable JSON document.")

HEADLINE = ("relapse:gray", "rfs:gray", "heterogeneity:autoc", "subgroups:any")


def design_cmd(
    config: Path = CONFIG_OPT,
    trials: int | None = TRIALS_OPT,
    scheduler: str | None = SCHEDULER_OPT,
    workers: int | None = WORKERS_OPT,
    out: Path = OUT_OPT,
    resume: bool = RESUME_OPT,
    no_track: bool = NO_TRACK_OPT,
    as_json: bool = JSON_OPT,
) -> None:
    """Simulate many trials of a design and report power, type-I error and benefit accuracy."""
    import sys

    from relapse_ml.config import load_config
    from relapse_ml.design.config import DesignConfig
    from relapse_ml.design.runner import run_design
    from relapse_ml.utils import check_writable_dir

    if out is not None:
        check_writable_dir(out)
    cfg = load_config(config, DesignConfig)
    with _progress(disable=as_json) as progress:
        try:
            res = run_design(cfg, out, trials, scheduler, workers, resume, progress, not no_track)
        except KeyboardInterrupt:
            print(
                f"interrupted: the finished trials are kept in {out}; continue with --resume",
                file=sys.stderr,
            )
            raise
    info = res.info()
    if as_json:
        emit_json({**info, "summary_rows": res.summary.to_dict(orient="records")})
        return
    print(
        f"{info['trials']} trials: {info['computed']} computed, {info['skipped_finished']} "
        f"already finished, {len(info['failed'])} failed ({info['seconds']:.0f} s)"
    )
    for f in info["failed"][:5]:
        print(f"  failed {tuple(f['trial'])}: {f['error']} (rerun with --resume)")
    s = res.summary[res.summary["analysis"].isin(HEADLINE)]
    if len(s):
        table = s.assign(
            rate=lambda d: [
                f"{100 * r:.0f}% ({100 * lo:.0f}-{100 * hi:.0f})"
                for r, lo, hi in zip(d.rejection_rate, d.ci_low, d.ci_high, strict=True)
            ]
        ).pivot_table(index=["scenario", "n"], columns="analysis", values="rate", aggfunc="first",
                      sort=False)
        print("\nrejection rate (95% CI):")
        print(table.to_string())
    _print_accuracy(res.summary)
    print(f"\nresults: {info['results']}\nsummary: {info['summary']}")
    if info["run_id"]:
        print(f"MLflow run {info['run_id']} ({info['tracking_uri']}); "
              f"report: relapse-ml report --run {info['run_id']} --out design.html")


ACCURACY = {"rmse_ratio": "RMSE ÷ average's", "coverage": "coverage",
            "spearman": "Spearman", "individual": "individual reported"}


def _print_accuracy(summary) -> None:
    """Mean over trials of the reported relapse benefit's accuracy, per scenario and n."""
    keys = {f"benefit:relapse:{k}": v for k, v in ACCURACY.items()}
    s = summary[summary["analysis"].isin(keys)]
    if not len(s):
        return
    table = s.assign(analysis=s["analysis"].map(keys)).pivot_table(
        index=["scenario", "n"], columns="analysis", values="mean_estimate", aggfunc="first",
        sort=False)
    print("\nreported individual relapse benefit against the truth (mean over trials):")
    table = table[[v for v in ACCURACY.values() if v in table.columns]]
    print(table.apply(lambda c: c.map(lambda v: f"{v:.2f}" if v == v else "–")).to_string())


class _progress:
    """A rich progress bar with the time left, on stderr; a callable ``(done, total)``."""

    def __init__(self, disable: bool):
        self.disable = disable
        self.bar = None
        self.task = None

    def __enter__(self):
        if self.disable:
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.bar.start()
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.task is None:
            # time left is estimated from the trials computed in this run, not the resumed ones
            self.task = self.bar.add_task("trials", total=total, completed=done)
        else:
            self.bar.update(self.task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False
