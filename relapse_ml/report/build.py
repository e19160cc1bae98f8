"""Gather a tracked run (params, tags, metrics, artifacts) and turn it into one HTML report.

`fetch_run` reads the run from MLflow and downloads its figures and aggregate tables;
`check_cohort` decides whether a cohort may feed the report (its fingerprint must be the
run's); `build_report` assembles the sections of the run's kind; `write_report` writes the
page atomically. mlflow is imported only inside the functions that need it.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from relapse_ml.errors import RelapseMLError

KINDS = ("train", "benefit", "subgroups", "tune", "design")
ARTIFACT_DIRS = ("figures", "tables")  # never the model: the report shows aggregates


@dataclass
class RunRecord:
    """One tracked run as the report sees it (artifacts downloaded to local files)."""

    run_id: str
    name: str
    kind: str
    status: str
    start_time: int | None  # ms since the epoch
    experiment: str
    tags: dict
    params: dict
    metrics: dict
    files: dict = field(default_factory=dict)  # artifact path ("figures/x.png") -> local Path
    tracking_uri: str = ""
    model_versions: list = field(default_factory=list)  # registry "name v<version>"

    def file(self, path: str) -> Path | None:
        return self.files.get(path)

    def figure(self, name: str) -> Path | None:
        return self.files.get(f"figures/{name}.png")

    def figures_like(self, prefix: str) -> list[tuple[str, Path]]:
        """``(name, path)`` of the run's figures whose name starts with ``prefix``, sorted."""
        out = []
        for key, path in sorted(self.files.items()):
            name = key.removeprefix("figures/").removesuffix(".png")
            if key.startswith("figures/") and key.endswith(".png") and name.startswith(prefix):
                out.append((name, path))
        return out

    def json(self, path: str) -> dict | None:
        p = self.files.get(path)
        return json.loads(p.read_text()) if p is not None else None

    def csv(self, path: str):
        import pandas as pd

        p = self.files.get(path)
        return pd.read_csv(p) if p is not None else None

    @property
    def fingerprint(self) -> str | None:
        return self.tags.get("relapse_ml.data_fingerprint")

    def param_float(self, key: str, default: float | None = None) -> float | None:
        try:
            return float(self.params[key])
        except (KeyError, TypeError, ValueError):
            return default


def _quiet_mlflow():
    import os

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # the download progress bar would land in the user's terminal (and in --json pipelines)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _client(tracking_uri: str):
    """An MlflowClient for an existing store (a missing SQLite file is an error, not created)."""
    _quiet_mlflow()
    if tracking_uri.startswith("sqlite:///"):
        path = Path(tracking_uri.removeprefix("sqlite:///"))
        if not path.is_absolute():
            path = Path.cwd() / path
        if not path.exists():
            raise RelapseMLError(
                f"no tracking store at {tracking_uri} (file {path} does not exist); set "
                "--tracking-uri or $MLFLOW_TRACKING_URI to the store that holds the run"
            )
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def fetch_run(run_id: str, tracking_uri: str, dst: str | Path) -> RunRecord:
    """Read a run and download its figures and tables into ``dst``; unknown id → RelapseMLError."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise RelapseMLError(
            f"no run '{run_id}' in the tracking store {tracking_uri} (list runs with: "
            "relapse-ml runs)"
        ) from None
    try:
        experiment = client.get_experiment(run.info.experiment_id).name
    except MlflowException:
        experiment = str(run.info.experiment_id)
    dst = Path(dst)
    files: dict[str, Path] = {}
    top = {a.path for a in client.list_artifacts(run_id)}
    for folder in ARTIFACT_DIRS:
        if folder not in top:
            continue
        local = Path(
            mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=folder, dst_path=str(dst), tracking_uri=tracking_uri
            )
        )
        for p in local.rglob("*"):
            if p.is_file():
                files[f"{folder}/{p.relative_to(local).as_posix()}"] = p
    versions = []
    try:
        for mv in client.search_model_versions(f"run_id = '{run_id}'"):
            versions.append(f"{mv.name} v{mv.version}")
    except MlflowException:
        pass  # a store without a registry
    tags = dict(run.data.tags)
    return RunRecord(
        run_id=run.info.run_id,
        name=tags.get("mlflow.runName", run.info.run_name or ""),
        kind=tags.get("relapse_ml.kind", ""),
        status=run.info.status,
        start_time=run.info.start_time,
        experiment=experiment,
        tags=tags,
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        files=files,
        tracking_uri=tracking_uri,
        model_versions=sorted(versions),
    )


def latest_run(tracking_uri: str, kind: str, experiment: str | None = None) -> str:
    """The id of the most recent finished run of ``kind`` (in ``experiment``, else anywhere)."""
    client = _client(tracking_uri)
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        exp_ids = [exp.experiment_id] if exp else []
    else:
        exp_ids = [e.experiment_id for e in client.search_experiments()]
    runs = (
        client.search_runs(
            exp_ids,
            filter_string=f"tags.`relapse_ml.kind` = '{kind}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if exp_ids
        else []
    )
    if not runs:
        where = f"experiment '{experiment}'" if experiment else "any experiment"
        raise RelapseMLError(f"no finished {kind} run in {where} at {tracking_uri}")
    return runs[0].info.run_id


def related_run(record: RunRecord, kind: str, dst: str | Path) -> RunRecord | None:
    """The latest finished run of ``kind`` on the same data, landmark and horizon (e.g. the
    subgroups run that goes with a benefit run), or None."""
    if not record.fingerprint:
        return None
    client = _client(record.tracking_uri)
    exp = client.get_experiment_by_name(record.experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`relapse_ml.kind` = '{kind}' and "
        f"tags.`relapse_ml.data_fingerprint` = '{record.fingerprint}' and "
        "attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=20,
    )
    keys = ("landmark.landmark_day", "landmark.horizon_days")
    for run in runs:
        if all(run.data.params.get(k) == record.params.get(k) for k in keys):
            return fetch_run(run.info.run_id, record.tracking_uri, Path(dst) / run.info.run_id)
    return None


def check_cohort(record: RunRecord, cohort, explicit: bool) -> tuple[object | None, list[str]]:
    """The cohort when its fingerprint is the run's, else None and a note why.

    explicit: the user named the cohort (``--data``): a mismatch is then an error, because a
    report mixing one cohort's counts with another cohort's model would mislead.
    """
    from relapse_ml.tracking.store import data_fingerprint

    if cohort is None:
        return None, [
            "no cohort given: cohort counts, the screening flow and numbers at risk "
            "come only from the run's own aggregates"
        ]
    got = data_fingerprint(cohort.patients, cohort.measurements, cohort.events)
    want = record.fingerprint
    data_name = record.tags.get("relapse_ml.data_name", "?")
    if want and got == want:
        return cohort, []
    if not want:
        why = f"run {record.run_id} records no data fingerprint, so cohort {cohort.name} cannot be matched to it"
    else:
        why = (
            f"cohort {cohort.name} (fingerprint {got[:12]}…) is not the data of run "
            f"{record.run_id} ({data_name}, fingerprint {want[:12]}…)"
        )
    if explicit:
        raise RelapseMLError(
            f"{why}; pass the run's own cohort with --data, or --no-data for a "
            "report from the run's artifacts alone"
        )
    return None, [
        f"{why}: the cohort sections use the run's own aggregates only (pass the "
        "run's cohort with --data for the screening flow and numbers at risk)"
    ]


@dataclass
class Report:
    """A built report: the page and what went into it."""

    html: str
    run_id: str
    kind: str
    sections: list[str]
    figures: int
    notes: list[str]
    related: dict = field(default_factory=dict)  # kind -> run id used alongside


def build_report(
    run_id: str,
    tracking_uri: str,
    cohort=None,
    *,
    cohort_explicit: bool = False,
    related: bool = True,
) -> Report:
    """Fetch the run, check the cohort, and build the self-contained HTML report.

    cohort: a `Cohort` to draw the screening flow, counts and incidence with numbers at risk
    from (used only when its fingerprint is the run's; see `check_cohort`).
    related: for a benefit run, also show the forest plots of the latest subgroups run on
    the same data, landmark and horizon.
    """
    from relapse_ml.report import sections as S
    from relapse_ml.report.html import render_page

    with tempfile.TemporaryDirectory(prefix="relapse-ml-report-") as tmp:
        record = fetch_run(run_id, tracking_uri, Path(tmp) / "run")
        if record.kind not in KINDS:
            what = f"of kind '{record.kind}'" if record.kind else "without a relapse_ml.kind tag"
            raise RelapseMLError(
                f"run {run_id} is {what}; reports exist for {', '.join(KINDS)} runs "
                "(a tuning trial is a child run: report its parent study run)"
            )
        usable, notes = check_cohort(record, cohort, cohort_explicit)
        linked = {}
        if related and record.kind == "benefit":
            sub = related_run(record, "subgroups", Path(tmp) / "related")
            if sub is not None:
                linked["subgroups"] = sub
        parts = S.build_sections(record, usable, linked, notes)
        page = render_page(record, parts, notes)
    return Report(
        html=page,
        run_id=record.run_id,
        kind=record.kind,
        sections=[p.id for p in parts],
        figures=sum(len(p.figures) for p in parts),
        notes=notes,
        related={k: r.run_id for k, r in linked.items()},
    )


def write_report(report: Report, out: str | Path) -> Path:
    """Write the page atomically (no half-written report is ever left behind)."""
    from relapse_ml.utils import atomic_write_text

    return atomic_write_text(out, report.html)
