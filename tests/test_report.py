"""`relapse-ml report`: a self-contained HTML page per run, aggregates only, numbers checked."""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import numpy as np
import pytest

from relapse_ml.config import parse_config
from relapse_ml.errors import RelapseMLError
from tests._helpers_cli import run_relapse_ml

FAST_TRAIN = {
    "name": "report-test",
    "models": [
        {"name": "aalen_johansen"},
        {"name": "cox_cs", "params": {"penalizer": 0.5}},
        {"name": "xgb_cs", "params": {"n_estimators": 30, "max_depth": 2}},
    ],
    "evaluation": {"n_splits": 3, "n_boot": 10},
}
FAST_BENEFIT = {
    "name": "report-benefit",
    "learners": [
        {
            "label": "s_risk",
            "kind": "s",
            "interactions": [],
            "model": {"name": "fine_gray", "params": {"penalizer": 0.1}},
        },
        {"label": "dr", "kind": "dr", "model": {"name": "fine_gray", "params": {"penalizer": 0.1}}},
    ],
    "primary": "dr",
    "crossfit": {"n_folds": 3},
    "intervals": {"n_boot": 0},
    "heterogeneity": {"n_boot": 20, "sequential_folds": 3, "first_test_fold": 2},
    "subgroups": {"names": ["age_band", "donor_type"], "exploratory": {"enabled": False}},
    "explain": {"top_features": 1, "n_patients": 0, "surrogate": {"n_estimators": 20}},
}
DATA_URI = re.compile(r"<img src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\"")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small simulated trial, its cohort on disk, and a training run in a temp SQLite store."""
    from relapse_ml.data import read_cohort
    from relapse_ml.simulate import simulate_trial
    from relapse_ml.train import run_training

    root = tmp_path_factory.mktemp("report")
    simulate_trial(n=200, seed=3).write(root / "trial")
    cohort = read_cohort(root / "trial")
    uri = f"sqlite:///{root / 'mlruns.db'}"
    cfg = parse_config(
        {**FAST_TRAIN, "tracking": {"tracking_uri": uri, "experiment": "rep", "log_model": False}}
    )
    cwd = os.getcwd()
    os.chdir(root)  # nothing may land in the repository
    try:
        result = run_training(cfg, cohort, progress=lambda *a: None)
    finally:
        os.chdir(cwd)
    return {
        "root": root,
        "uri": uri,
        "cohort": cohort,
        "run_id": result.run_id,
        "final": result.final_model,
    }


@pytest.fixture(scope="module")
def train_report(store):
    from relapse_ml.report import build_report

    return build_report(store["run_id"], store["uri"], store["cohort"], cohort_explicit=True)


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in DATA_URI.findall(page)]


def section_ids(page: str) -> list[str]:
    return re.findall(r"<section id='([^']+)'>", page)


def assert_self_contained(page: str) -> None:
    low = page.lower()
    for bad in (
        "http://",
        "https://",
        'src="//',
        "src='//",
        "<script",
        "<link",
        "<iframe",
        "@import",
        "url(",
    ):
        assert bad not in low, bad
    # every src is an embedded image
    assert all(
        s.startswith("data:image/png;base64,") for s in re.findall(r"src=\"([^\"]*)\"", page)
    )


def test_train_report_has_every_section_the_run_holds(store, train_report):
    import mlflow

    page = train_report.html
    ids = section_ids(page)
    assert ids == train_report.sections
    # the run's artifacts decide which sections must be there
    client = mlflow.tracking.MlflowClient(store["uri"])
    figs = {Path(a.path).stem for a in client.list_artifacts(store["run_id"], "figures")}
    expected = {"overview", "cohort", "consort", "incidence", "models", "limitations"}
    expected |= {
        name
        for fig, name in (
            ("auc_over_time", "discrimination"),
            ("calibration", "calibration"),
            ("feature_importance", "importance"),
        )
        if fig in figs
    }
    tables = {Path(a.path).name for a in client.list_artifacts(store["run_id"], "tables")}
    if "oracle_comparison.csv" in tables:
        expected.add("oracle")
    assert expected <= set(ids), expected - set(ids)
    # each section says how to read it, in one sentence
    for block in page.split("<section id=")[1:]:
        guide = re.search(r"<p class='guide'><b>How to read it:</b> ([^<]+)</p>", block)
        assert guide is not None
        assert guide.group(1).rstrip().endswith(".") and guide.group(1).count(". ") == 0
    assert "not a treatment order" in page
    assert store["run_id"] in page and store["cohort"].name in page


def test_train_report_is_self_contained_and_images_are_png(train_report):
    from PIL import Image

    page = train_report.html
    assert_self_contained(page)
    imgs = images(page)
    assert len(imgs) == train_report.figures >= 4
    for data in imgs:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        im = Image.open(io.BytesIO(data))
        im.verify()
        assert im.size[0] > 200 and im.size[1] > 200


def test_report_holds_no_patient_identifier(store, train_report):
    ids = store["cohort"].patients["patient_id"].astype(str)
    page = train_report.html
    assert not [i for i in ids if i in page]


def test_cohort_counts_match_a_direct_count(store):
    """At risk, events and follow-up by arm, against counts taken straight from the outcome."""
    from relapse_ml.report.cohort import cohort_view, outcome_counts

    cohort, L, H = store["cohort"], 60.0, 730.0
    table = outcome_counts(cohort_view(cohort, L, H)).set_index("arm")
    out = cohort.outcome
    arm = cohort.patients.set_index(cohort.patients["patient_id"].astype(str))["arm"]
    for a in ("control", "sorafenib"):
        ids = arm.index[arm == a]
        T, E = out.loc[ids, "time"].to_numpy(float), out.loc[ids, "event"].to_numpy(int)
        risk = T > L
        within = risk & (T - L <= H)
        assert table.loc[a, "patients"] == len(ids)
        assert table.loc[a, "at_risk"] == risk.sum()
        assert table.loc[a, "relapse"] == (within & (E == 1)).sum()
        assert table.loc[a, "nrm"] == (within & (E == 2)).sum()
        assert (
            table.loc[a, "censored"] + table.loc[a, "event_free_at_horizon"]
            == (risk & ~(within & (E > 0))).sum()
        )
    assert table.loc["total", "at_risk"] == table.loc[["control", "sorafenib"], "at_risk"].sum()


def test_numbers_at_risk_by_brute_force():
    from relapse_ml.report.figures import default_ticks, numbers_at_risk

    rng = np.random.default_rng(5)
    t = np.round(rng.uniform(0, 730, 80))  # ties on whole days, and on the ticks themselves
    t[:5] = [0.5, 90, 180, 730, 730]
    g = rng.choice(["sorafenib", "control", "not randomized"], 80)
    ticks = default_ticks(730)
    assert ticks[0] == 0 and ticks[-1] == 730 and np.all(np.diff(ticks) >= 45)
    table = numbers_at_risk(t, g, ticks)
    assert list(table.index) == ["control", "sorafenib", "not randomized"]
    for grp in table.index:
        for j, tick in enumerate(ticks):
            assert table.loc[grp].iloc[j] == sum(
                1 for ti, gi in zip(t, g, strict=True) if gi == grp and ti >= tick
            )


def test_incidence_matches_lifelines_aalen_johansen():
    from lifelines import AalenJohansenFitter

    from relapse_ml.report.figures import incidence_at

    rng = np.random.default_rng(11)
    n = 150
    t = rng.exponential(400, n) + rng.uniform(0, 1e-3, n)  # no ties: lifelines would jitter
    e = rng.choice([0, 1, 2], n, p=[0.4, 0.35, 0.25])
    g = np.where(rng.uniform(size=n) < 0.5, "control", "sorafenib")
    got = incidence_at(t, e, g, [200.0, 365.0]).set_index(["group", "horizon"])
    for grp in ("control", "sorafenib"):
        sel = g == grp
        for cause, col in ((1, "relapse"), (2, "nrm")):
            aj = AalenJohansenFitter(calculate_variance=False).fit(
                t[sel], e[sel], event_of_interest=cause
            )
            for h in (200.0, 365.0):
                want = float(aj.cumulative_density_.loc[:h].iloc[-1, 0])
                assert got.loc[(grp, h), col] == pytest.approx(want, abs=1e-9)


def test_other_cohort_is_refused_when_named_and_skipped_otherwise(store):
    from relapse_ml.report import build_report
    from relapse_ml.report.build import check_cohort, fetch_run

    other = store["cohort"].subset(store["cohort"].patients["patient_id"].iloc[:150])
    record = fetch_run(store["run_id"], store["uri"], store["root"] / "fetched")
    with pytest.raises(RelapseMLError, match="not the data of run"):
        check_cohort(record, other, explicit=True)
    used, notes = check_cohort(record, other, explicit=False)
    assert used is None and "not the data of run" in notes[0]
    used, notes = check_cohort(record, store["cohort"], explicit=True)
    assert used is store["cohort"] and notes == []

    report = build_report(store["run_id"], store["uri"], other, cohort_explicit=False)
    assert "consort" not in report.sections  # no screening flow from someone else's data
    assert "incidence" in report.sections  # the run's own figure instead
    assert "not the data of run" in report.html and "numbers at risk need" in report.html
    assert_self_contained(report.html)


def test_unknown_kind_is_a_clear_error(store):
    from mlflow.tracking import MlflowClient

    from relapse_ml.report import build_report

    client = MlflowClient(store["uri"])
    exp = client.get_experiment_by_name("rep").experiment_id
    odd = client.create_run(exp, tags={"relapse_ml.kind": "mystery"}).info.run_id
    client.set_terminated(odd)
    with pytest.raises(RelapseMLError, match="kind 'mystery'.*train, benefit"):
        build_report(odd, store["uri"])


def test_tune_run_report_from_a_logged_study(store, tmp_path):
    """A tuning study's parent run: best parameters, tuned vs default, its figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mlflow.tracking import MlflowClient

    from relapse_ml.report import build_report

    client = MlflowClient(store["uri"])
    exp = client.get_experiment_by_name("rep").experiment_id
    run = client.create_run(
        exp, tags={"relapse_ml.kind": "tune", "best.model": "xgb_cs", "best.max_depth": "3"}
    ).info.run_id
    for k, v in {
        "tuned.c_index": 0.71,
        "default.c_index": 0.69,
        "delta.c_index": 0.02,
        "delta.c_index_ci_low": -0.01,
        "delta.c_index_ci_high": 0.05,
    }.items():
        client.log_metric(run, k, v)
    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.6, 0.7, 0.71])
    fig.savefig(tmp_path / "optimization_history.png")
    plt.close(fig)
    client.log_artifact(run, str(tmp_path / "optimization_history.png"), "figures")
    client.set_terminated(run)
    report = build_report(run, store["uri"])
    assert report.sections == ["overview", "tuning", "tuning-figures", "limitations"]
    assert "0.710" in report.html and "0.020 (-0.010 to 0.050)" in report.html
    assert len(images(report.html)) == 1


def run_cli(args, cwd: Path, uri: str):
    return run_relapse_ml(*args, cwd=cwd, tracking_uri=uri)


def test_cli_unknown_run_is_one_line_and_exit_2(store, tmp_path):
    res = run_cli(
        ["report", "--run", "0123456789abcdef", "--out", tmp_path / "r.html", "--no-data"],
        tmp_path,
        store["uri"],
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no run '0123456789abcdef'" in lines[0]
    assert not (tmp_path / "r.html").exists()


def test_cli_latest_train_with_data_writes_the_page(store, tmp_path):
    import json

    out = tmp_path / "sub" / "report.html"
    res = run_cli(
        ["report", "--latest", "train", "--data", store["root"] / "trial", "--out", out, "--json"],
        tmp_path,
        store["uri"],
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["run_id"] == store["run_id"] and doc["kind"] == "train"
    assert "consort" in doc["sections"] and doc["notes"] == []
    page = out.read_text()
    assert len(images(page)) == doc["figures"]
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]  # no temp file left


@pytest.fixture(scope="module")
def benefit_runs(store):
    from relapse_ml.benefit.config import BenefitConfig
    from relapse_ml.benefit.run import run_benefit, run_subgroups
    from relapse_ml.config import parse_config as parse

    cfg = parse(
        {**FAST_BENEFIT, "tracking": {"tracking_uri": store["uri"], "experiment": "rep"}},
        BenefitConfig,
        "test",
    )
    quiet = lambda *a: None  # noqa: E731
    b = run_benefit(cfg, store["cohort"], progress=quiet)
    s = run_subgroups(cfg, store["cohort"], progress=quiet)
    return b.run_id, s.run_id


def test_benefit_report_with_forest_plot_of_the_matching_subgroups_run(store, benefit_runs):
    from relapse_ml.report import build_report

    benefit_id, subgroups_id = benefit_runs
    report = build_report(benefit_id, store["uri"], store["cohort"], cohort_explicit=True)
    page = report.html
    assert report.related == {"subgroups": subgroups_id}
    for sid in (
        "overview",
        "cohort",
        "consort",
        "incidence",
        "average-benefit",
        "heterogeneity",
        "benefit-calibration",
        "toc",
        "risk-based",
        "shap-benefit",
        "forest",
        "limitations",
    ):
        assert sid in report.sections, sid
    assert section_ids(page) == report.sections
    assert_self_contained(page)
    assert len(images(page)) == report.figures
    assert "percentage points" in page  # the SHAP scale is stated
    ids = store["cohort"].patients["patient_id"].astype(str)
    assert not [i for i in ids if i in page]
    # the average-benefit table shows the run's own logged estimate
    import mlflow

    m = mlflow.tracking.MlflowClient(store["uri"]).get_run(benefit_id).data.metrics
    assert f"{100 * m['average.relapse.dr_estimate']:+.1f}" in page

    sub = build_report(subgroups_id, store["uri"], store["cohort"], cohort_explicit=True)
    assert "forest" in sub.sections and len(images(sub.html)) == sub.figures >= 3


def test_report_table_helpers_escape_and_format():
    from relapse_ml.report.html import pct, pts, pval, table, with_ci

    html = table(["a<b"], [["<script>x</script>"]])
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert (pct(0.1234), pts(-0.05), pval(0.0001), with_ci(1, 0.5, 2)) == (
        "12.3%",
        "-5.0",
        "<0.001",
        "1.000 (0.500 to 2.000)",
    )
    assert pct(float("nan")) == "–" and pts(None) == "–"
