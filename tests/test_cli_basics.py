"""End-to-end CLI conventions, through a subprocess as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests._helpers_cli import run_relapse_ml
from tests._helpers_data import tiny_tables, write_tables


def run_cli(*args, timeout=300):
    return run_relapse_ml(*args, timeout=timeout)


def test_help_lists_commands_and_starts_fast():
    start = time.perf_counter()
    res = run_cli("--help")
    assert res.returncode == 0
    for command in ("validate", "eligibility", "simulate"):
        assert command in res.stdout
    # heavy libraries must not be imported just to print help
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, relapse_ml.cli; heavy = [m for m in ('xgboost','shap','mlflow','optuna','pandas',"
            "'sklearn','lifelines','sksurv','pandera') if m in sys.modules]; print(','.join(heavy))",
        ],
        capture_output=True,
        text=True,
    )
    assert probe.returncode == 0 and probe.stdout.strip() == "", probe.stdout
    assert time.perf_counter() - start < 30  # sanity only; speed is measured in experiments/


def test_validate_ok_prints_summary_and_json(tmp_path):
    d = write_tables(tiny_tables(), tmp_path / "c")
    res = run_cli("validate", d)
    assert res.returncode == 0, res.stderr
    assert (
        "4 patients" in res.stdout
        and "relapses 2" in res.stdout
        and "non-relapse deaths 1" in res.stdout
    )
    res = run_cli("validate", d, "--json")
    doc = json.loads(res.stdout)
    assert doc["valid"] is True and doc["relapses"] == 2 and doc["censored"] == 1
    assert doc["measurements_per_marker"]["mrd_mfc"] == 3


def test_validate_bad_input_exit_2_one_line_each_no_traceback(tmp_path):
    tables = tiny_tables()
    tables["patients"].loc[1, "age"] = 150
    tables["events"].loc[0, "event"] = "unknown_event"
    d = write_tables(tables, tmp_path / "c")
    res = run_cli("validate", d)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 2
    assert any("patients.csv, row 3, column 'age'" in line for line in lines)
    assert any("events.csv, row 2, column 'event'" in line for line in lines)


def test_missing_directory_and_unknown_option_are_user_errors(tmp_path):
    res = run_cli("validate", tmp_path / "nope")
    assert res.returncode == 2 and "not a directory" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("validate", tmp_path, "--bogus")
    assert res.returncode == 2 and "Traceback" not in res.stderr
