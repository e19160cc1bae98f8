"""`LeanCommand` parses plain options as typer does, without importing pydantic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer

from relapse_ml.cli._lean import LeanCommand


def _app(cls):
    app = typer.Typer(add_completion=False)

    @app.command(cls=cls)
    def cmd(
        name: str = typer.Option("x", "--name"),
        path: Path | None = typer.Option(None, "--path"),
        day: float | None = typer.Option(None, "--day"),
        count: int = typer.Option(0, "--count"),
        flag: bool = typer.Option(False, "--flag"),
        ranged: int = typer.Option(1, "--ranged", min=1, max=3),
    ) -> None:
        print(repr((name, path, day, count, flag, ranged)))

    @app.command()
    def other() -> None:  # a second command, so `cmd` is a sub-command as in relapse-ml
        pass

    return app


ARGS = [
    [], ["--name", "abc", "--path", "p.json", "--day", "60", "--count", "3", "--flag"],
    ["--day", "1e3"], ["--day", "-2.5"], ["--day", ".5"], ["--day", "1_0"], ["--day", "nan"],
    ["--day", "abc"], ["--day", ""], ["--count", "x"], ["--count", "1.5"], ["--count", "-4"],
    ["--count", "007"], ["--path", ""], ["--ranged", "5"], ["--ranged", "2"], ["--name", ""],
]


@pytest.mark.parametrize("args", ARGS, ids=[" ".join(a) or "defaults" for a in ARGS])
def test_same_values_and_messages_as_typer(args, capsys):
    outs = []
    for cls in (None, LeanCommand):
        try:
            _app(cls)(["cmd", *args], standalone_mode=False)
            outs.append(("ok", capsys.readouterr().out))
        except Exception as err:  # typer's usage errors, as the CLI reports them
            outs.append((type(err).__name__, err.format_message()))
    assert outs[0] == outs[1]


def test_a_missing_readable_path_check_still_runs(tmp_path, capsys):
    secret = tmp_path / "d"
    secret.mkdir()
    app = typer.Typer(add_completion=False)

    @app.command(cls=LeanCommand)
    def cmd(path: Path = typer.Option(..., "--path", exists=True, file_okay=False)) -> None:
        print(path)

    with pytest.raises(Exception) as err:
        app(["--path", str(tmp_path / "missing")], standalone_mode=False)
    assert "does not exist" in err.value.format_message()
    app(["--path", str(secret)], standalone_mode=False)
    assert capsys.readouterr().out.strip() == str(secret)


def test_score_parses_without_importing_pydantic():
    code = (
        "import sys; from relapse_ml.cli import app, _common\n"
        "rc = _common.run(app, ['score', '--landmark-day', '60', '--model', 'x.nope'])\n"
        "print(rc, 'pydantic' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.split() == ["2", "False"], res.stdout + res.stderr
    assert "give exactly one of" in res.stderr
