"""Shared CLI plumbing: error handling, JSON output, default demo data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from relapse_ml.errors import RelapseMLError

STATE = {"debug": False}
_COMMANDS: dict = {}  # the click command built from each typer app, once per process


def run(app, argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    STATE["debug"] = "--debug" in args
    try:
        if app not in _COMMANDS:  # building it walks every command's signature: ~40 ms
            _COMMANDS[app] = typer.main.get_command(app)
        rv = _COMMANDS[app](args=args, prog_name="relapse-ml", standalone_mode=False)
        if isinstance(rv, int) and rv:
            return rv  # e.g. 130 when typer caught Ctrl-C
    except RelapseMLError as err:
        if STATE["debug"]:
            raise
        for line in str(err).splitlines() or [type(err).__name__]:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except typer.Abort:
        print("aborted", file=sys.stderr)
        return 130
    except typer.Exit as err:
        return int(err.exit_code)
    except SystemExit as err:
        return int(err.code or 0) if not isinstance(err.code, str) else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if _is_usage_error(err):  # unknown option, missing argument, bad value: one line
            ctx = getattr(err, "ctx", None)
            see = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
            message = " ".join(str(err.format_message()).split())
            print(f"error: {message}{see}", file=sys.stderr)
            return 2
        # anything else is an internal failure: a bug, not a user error
        if STATE["debug"]:
            raise
        print(
            f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    return 0


def _is_usage_error(err: Exception) -> bool:
    # typer ships its own copy of click, so match click's exception protocol, not its class
    return hasattr(err, "format_message") and getattr(err, "exit_code", None) == 2


def emit_json(payload) -> None:
    """Print a JSON document (NaN becomes null) to stdout."""
    from relapse_ml.utils import json_safe

    print(json.dumps(json_safe(payload), indent=2, sort_keys=False))


def resolve_data(data: Path | None):
    """Load ``--data DIR``, or the embedded demo cohort when it is not given."""
    from relapse_ml.data import read_cohort

    if data is None:
        from relapse_ml.demo import demo_cohort_dir

        data = demo_cohort_dir()
    return read_cohort(data)
