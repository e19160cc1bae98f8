"""Run a design study: one Dask task per simulated trial, results written as they finish.

By default a `distributed.LocalCluster` on this machine (one single-threaded worker
process per core); ``scheduler="tcp://host:8786"`` joins a running cluster (``dask
scheduler`` and ``dask worker`` on each machine); ``workers=0`` runs serially in this
process (no Dask). A worker that dies mid-task has its task rerun by the scheduler on
another worker; a trial is stored under its key, so it is never counted twice.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from relapse_ml.design import store
from relapse_ml.design.analyses import run_trial
from relapse_ml.errors import RelapseMLError


@dataclass
class StudyRun:
    out: Path
    tasks: int
    skipped: int
    computed: int
    failed: list = field(default_factory=list)
    seconds: float = 0.0
    trial_seconds: list = field(default_factory=list)


def trial_tasks(cfg, trials: int) -> list[tuple[str, int, int]]:
    """``(scenario label, n, seed)`` of every trial; trial i of every cell has seed seed + i."""
    return [
        (s.display, n, cfg.seed + i)
        for s in cfg.scenarios
        for n in cfg.sizes
        for i in range(trials)
    ]


@contextmanager
def dask_client(scheduler: str | None, workers: int | None):
    """A client of the cluster at ``scheduler``, else of a new LocalCluster (closed after)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="5s")
        except (OSError, TimeoutError) as err:
            raise RelapseMLError(
                f"cannot reach the Dask scheduler at {scheduler} ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else 'no answer'}); start one with "
                "`dask scheduler` or drop --scheduler for a local cluster"
            ) from None
        with client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    import dask

    # Dask's nanny spawns workers with MALLOC_TRIM_THRESHOLD_=65536, which switches off glibc's
    # dynamic mmap threshold: every large numpy array is then mmap'd and page-faulted afresh,
    # and the simulator ran 4x slower on a worker than in one process (38 s vs 10 s for 20,000
    # patients, measured). Workers here inherit the parent's malloc settings instead.
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=50,
            env={"OMP_NUM_THREADS": "1"},
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_study(
    cfg,
    out: str | os.PathLike,
    trials: int | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    resume: bool = False,
    progress=None,
) -> StudyRun:
    """Run (or continue, with ``resume``) the study into ``out``; ``progress(done, total)``
    is called after each finished trial."""
    out = Path(out)
    trials = trials or cfg.trials
    store.open_study(out, cfg, resume)
    tasks = trial_tasks(cfg, trials)
    done = store.finished(out)
    todo = [t for t in tasks if store.trial_name(*t) not in done]
    run = StudyRun(out, len(tasks), len(tasks) - len(todo), 0)
    start = time.perf_counter()
    if progress:
        progress(run.skipped, len(tasks))

    def finish(rec):
        store.write_trial(out, rec)
        run.computed += 1
        run.trial_seconds.append(rec["seconds"])
        if progress:
            progress(run.skipped + run.computed, len(tasks))

    if todo and workers == 0 and not scheduler:
        for t in todo:
            try:
                finish(run_trial(cfg, *t))
            except Exception as err:  # a failed trial is reported, not fatal
                run.failed.append((t, f"{type(err).__name__}: {err}"))
    elif todo:
        _run_dask(cfg, todo, scheduler, workers, finish, run)
    run.seconds = time.perf_counter() - start
    return run


def _run_dask(cfg, todo, scheduler, workers, finish, run) -> None:
    from dask.base import tokenize
    from distributed import as_completed

    token = tokenize(store.study_identity(cfg))[:10]
    with dask_client(scheduler, workers) as client:
        cfg_future = client.scatter(cfg, broadcast=True)
        futures = {
            client.submit(
                run_trial, cfg_future, *t, key=f"design-trial-{token}-{t[0]}-{t[1]}-{t[2]}",
                pure=False, retries=1,
            ): t
            for t in todo
        }
        for fut in as_completed(futures):
            t = futures[fut]
            try:
                rec = fut.result()
            except Exception as err:  # a failed trial is reported, not fatal
                run.failed.append((t, f"{type(err).__name__}: {err}"))
                continue
            finally:
                fut.release()
            finish(rec)


@dataclass
class DesignResult:
    run: StudyRun
    results: object  # pandas DataFrame
    summary: object
    figures: dict
    run_id: str | None = None
    tracking_uri: str | None = None

    def info(self) -> dict:
        r = self.run
        return {
            "out": str(r.out),
            "trials": r.tasks,
            "skipped_finished": r.skipped,
            "computed": r.computed,
            "failed": [{"trial": list(t), "error": e} for t, e in r.failed],
            "seconds": round(r.seconds, 1),
            "mean_trial_seconds": (
                round(sum(r.trial_seconds) / len(r.trial_seconds), 2) if r.trial_seconds else None
            ),
            "results": str(r.out / "results.csv"),
            "summary": str(r.out / "summary.csv"),
            "figures": {k: str(v) for k, v in self.figures.items()},
            "run_id": self.run_id,
            "tracking_uri": self.tracking_uri,
        }


def run_design(cfg, out, trials=None, scheduler=None, workers=None, resume=False, progress=None,
               track: bool = True) -> DesignResult:
    """The whole command: run the trials, then ``results.csv``, ``summary.csv``, the
    power figures and (unless tracking is off) one MLflow run."""
    from relapse_ml.design.store import durable_write
    from relapse_ml.design.summary import log_design_run, power_figures, summarize

    out = Path(out)
    run = run_study(cfg, out, trials, scheduler, workers, resume, progress)
    keys = {store.trial_name(*t) for t in trial_tasks(cfg, trials or cfg.trials)}
    records = store.load_records(out, keys)
    results = store.consolidate(out, records, [s.display for s in cfg.scenarios])
    summary = summarize(results)
    durable_write(out / "summary.csv", summary.to_csv(index=False))
    figures = power_figures(summary, out / "figures", cfg.alpha)
    res = DesignResult(run, results, summary, figures)
    if track and cfg.tracking.enabled:
        res.run_id, res.tracking_uri = log_design_run(cfg, out, summary, figures, run)
    return res
