"""`relapse-ml design`: serial == Dask cluster, a killed worker, resume, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import pandas as pd
import pytest

from relapse_ml.config import parse_config
from relapse_ml.design import store
from relapse_ml.design.config import DesignConfig
from relapse_ml.design.runner import run_design, run_study
from relapse_ml.design.summary import read_table
from tests._helpers_cli import run_relapse_ml

SMALL = {
    "name": "test-design",
    "seed": 7,
    "trials": 2,
    "sizes": [150],
    "scenarios": [{"name": "null"}, {"name": "uniform", "label": "uniform_strong",
                                      "effect": {"growth_cut": 0.6}}],
    "analyses": ["primary", "heterogeneity", "subgroups", "benefit_accuracy"],
    "subgroups": ["mrd_detectable", "age_band"],
    "truth_draws": 4,
    "accuracy": {"learners": "trial", "n_boot": 2},
    "tracking": {"enabled": False},
}
FAST = {**SMALL, "analyses": ["primary"], "scenarios": [{"name": "null"}]}


def _cfg(**over):
    return parse_config({**SMALL, **over}, DesignConfig)


def _results(out):
    return read_table(out / "results.csv")


@pytest.fixture(scope="module")
def serial_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "study"
    res = run_design(_cfg(), out, workers=0, track=False)
    return out, res


def test_serial_study_writes_unique_results_and_a_summary(serial_run):
    out, res = serial_run
    df = _results(out)
    assert not df.duplicated(["scenario", "n", "seed", "analysis"]).any()
    assert set(df["scenario"]) == {"null", "uniform_strong"}
    assert set(df["seed"]) == {7, 8}
    for a in ("relapse:gray", "rfs:hr", "heterogeneity:autoc", "subgroup:mrd_detectable",
              "subgroups:any", "benefit:relapse:rmse_ratio", "benefit:rfs:coverage",
              "benefit:relapse:individual"):
        assert a in set(df["analysis"])
    s = read_table(out / "summary.csv")
    row = s[(s.scenario == "null") & (s.analysis == "relapse:gray")].iloc[0]
    assert row["trials"] == 2 and 0 <= row["rejection_rate"] <= 1
    assert row["ci_low"] <= row["rejection_rate"] <= row["ci_high"]
    assert (out / "figures" / "power_null.png").stat().st_size > 1000
    # the effect override reached the simulator: a stronger drug lowers relapse (HR < 1)
    hr = df[df.analysis == "relapse:hr"].groupby("scenario")["estimate"].mean()
    assert hr["uniform_strong"] < hr["null"]


def test_local_cluster_gives_the_serial_results(serial_run, tmp_path):
    from distributed import LocalCluster

    out_serial, _ = serial_run
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        run = run_study(_cfg(), tmp_path / "dask", scheduler=cluster.scheduler_address)
    assert run.computed == 4 and not run.failed
    res = run_design(_cfg(), tmp_path / "dask", resume=True, track=False)  # consolidates only
    assert res.run.computed == 0
    pd.testing.assert_frame_equal(_results(tmp_path / "dask"), _results(out_serial))


def test_killed_worker_loses_nothing_and_counts_every_trial_once(tmp_path):
    from distributed import Client, LocalCluster

    cfg = parse_config({**FAST, "trials": 8}, DesignConfig)
    out = tmp_path / "kill"
    killed = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=50) as cluster:
        box = {}
        th = threading.Thread(
            target=lambda: box.setdefault("run", run_study(cfg, out,
                                                           scheduler=cluster.scheduler_address)))
        th.start()
        with Client(cluster) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not killed:
                busy = {w: ks for w, ks in client.processing().items() if ks}
                if busy:  # a worker in the middle of a trial
                    addr = next(iter(busy))
                    pid = client.run(os.getpid, workers=[addr])[addr]
                    os.kill(pid, signal.SIGKILL)
                    killed[addr] = pid
                time.sleep(0.05)
        th.join(120)
    assert killed, "no worker was busy to kill"
    run = box["run"]
    assert not run.failed and run.computed == 8
    names = sorted(p.name for p in (out / store.TRIALS_DIR).glob("*.json"))
    assert len(names) == 8 == len(set(names))
    res = run_design(cfg, out, resume=True, track=False)
    df = res.results
    assert df.groupby("seed")["analysis"].count().eq(6).all() and df["seed"].nunique() == 8


def test_resume_after_interruption_recomputes_nothing_finished(tmp_path):
    cfg = parse_config({**FAST, "trials": 4}, DesignConfig)
    out = tmp_path / "resume"
    calls = []

    def stop_after_two(done, total):
        calls.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(cfg, out, workers=0, progress=stop_after_two)
    first = {p.name: p.stat().st_mtime_ns for p in (out / store.TRIALS_DIR).glob("*.json")}
    assert len(first) == 2
    run = run_study(cfg, out, workers=0, resume=True)
    assert (run.skipped, run.computed) == (2, 2)
    again = {p.name: p.stat().st_mtime_ns for p in (out / store.TRIALS_DIR).glob("*.json")}
    assert all(again[k] == v for k, v in first.items()) and len(again) == 4
    more = run_study(cfg, out, trials=5, workers=0, resume=True)  # topping up adds one
    assert (more.skipped, more.computed) == (4, 1)


def test_study_file_records_the_code_at_start_and_at_a_resume_with_other_code(
    tmp_path, monkeypatch
):
    out = tmp_path / "code"
    cfg = parse_config({**FAST, "trials": 1}, DesignConfig)
    monkeypatch.setattr(store, "code_identity", lambda: {"git_commit": "aaa", "version": "1"})
    run_study(cfg, out, workers=0)
    run_study(cfg, out, workers=0, resume=True)  # same code: nothing added
    assert json.loads((out / store.STUDY_FILE).read_text())["code"] == [
        {"git_commit": "aaa", "version": "1", "trials_before": 0}]
    monkeypatch.setattr(store, "code_identity", lambda: {"git_commit": "bbb", "version": "1"})
    run_study(parse_config({**FAST, "trials": 2}, DesignConfig), out, workers=0, resume=True)
    saved = json.loads((out / store.STUDY_FILE).read_text())
    assert [c["git_commit"] for c in saved["code"]] == ["aaa", "bbb"]
    assert saved["code"][1]["trials_before"] == 1
    assert saved["study"] == store.study_identity(cfg)  # the identity is untouched
    monkeypatch.undo()  # the real one: this package's version, a commit or None
    import relapse_ml

    real = store.code_identity()
    assert real["version"] == relapse_ml.__version__
    assert real["git_commit"] is None or len(real["git_commit"].split("+")[0]) == 40


def test_a_changed_config_or_a_used_directory_is_refused(tmp_path):
    from relapse_ml.errors import RelapseMLError

    out = tmp_path / "s"
    run_study(parse_config({**FAST, "trials": 1}, DesignConfig), out, workers=0)
    with pytest.raises(RelapseMLError, match="--resume"):
        run_study(parse_config(FAST, DesignConfig), out, workers=0)
    with pytest.raises(RelapseMLError, match="another config"):
        run_study(parse_config({**FAST, "alpha": 0.1}, DesignConfig), out, workers=0, resume=True)


def test_one_trial_reproduces_alone(serial_run):
    from relapse_ml.design.analyses import run_trial

    out, _ = serial_run
    rec = run_trial(_cfg(), "uniform_strong", 150, 8)
    saved = json.loads((out / store.TRIALS_DIR / store.trial_name("uniform_strong", 150, 8))
                       .read_text())
    assert pd.DataFrame(rec["rows"]).equals(pd.DataFrame(saved["rows"])) or (
        pd.DataFrame(rec["rows"]).fillna(-1).astype(str).values
        == pd.DataFrame(saved["rows"]).fillna(-1).astype(str).values
    ).all()


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"sizes": [10]}, "sizes"),
        ({"scenarios": [{"name": "strong"}]}, "unknown scenario 'strong'"),
        ({"scenarios": [{"name": "uniform", "effect": {"speed": 2}}]}, "speed"),
        ({"benefit": {"learners": []}}, "benefit"),
    ],
)
def test_bad_config_names_the_problem_on_one_line(bad, needle):
    from relapse_ml.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        parse_config(bad, DesignConfig, "design.yaml")
    assert len(str(err.value).splitlines()) == 1 and needle in str(err.value)


def test_bad_config_is_one_line_exit_2(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("trails: 3\n")
    r = run_relapse_ml("design", "--config", cfg, "--out", tmp_path / "o", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'trails'" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_unreachable_scheduler_is_one_line_exit_2(tmp_path):
    cfg = tmp_path / "d.yaml"
    cfg.write_text(json.dumps(FAST))
    r = run_relapse_ml("design", "--config", cfg, "--scheduler", "tcp://127.0.0.1:9",
                       "--out", tmp_path / "o", "--json", cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0]


def test_mlflow_run_and_report_section(tmp_path):
    from relapse_ml.report import build_report

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    cfg = parse_config({**FAST, "trials": 2, "tracking": {"tracking_uri": uri}}, DesignConfig)
    res = run_design(cfg, tmp_path / "s", workers=0)
    assert res.run_id
    rep = build_report(res.run_id, uri)
    assert rep.kind == "design" and "design" in rep.sections and rep.figures >= 1
    assert "Operating characteristics" in rep.html and "relapse: Gray&#x27;s test" in rep.html


def test_cli_runs_a_study_and_resumes_it(tmp_path):
    cfg = tmp_path / "d.yaml"
    cfg.write_text(json.dumps({**FAST, "trials": 1}))
    args = ("design", "--config", cfg, "--workers", 0, "--out", tmp_path / "o", "--no-track")
    r = run_relapse_ml(*args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "rejection rate (95% CI)" in r.stdout and "relapse:gray" in r.stdout
    again = run_relapse_ml(*args, "--resume", "--trials", 2, "--json", cwd=tmp_path)
    info = json.loads(again.stdout)
    assert (info["skipped_finished"], info["computed"]) == (1, 1)
    assert len(read_table(tmp_path / "o" / "results.csv")) == 2 * 6


def test_cli_prints_the_reported_benefits_accuracy(serial_run, capsys):
    from relapse_ml.cli.design_cmds import _print_accuracy

    _, res = serial_run
    _print_accuracy(res.summary)
    out = capsys.readouterr().out
    assert "reported individual relapse benefit" in out and "RMSE ÷ average's" in out
    ratio = res.summary.set_index(["scenario", "analysis"]).loc[
        ("null", "benefit:relapse:rmse_ratio"), "mean_estimate"]
    assert f"{ratio:.2f}" in out
