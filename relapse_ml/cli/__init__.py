"""The one `relapse-ml` command. Each sub-command is a thin layer in its own module.

Exit status: 0 success, 2 user error (one line per problem, no traceback),
1 internal failure (traceback only with ``--debug``).
"""

from __future__ import annotations

import sys

import typer

from relapse_ml.cli import _common
from relapse_ml.cli._lean import LeanCommand, LeanGroup
from relapse_ml.cli.benefit_cmds import benefit_cmd, subgroups_cmd
from relapse_ml.cli.cohort_cmds import eligibility_cmd, simulate_cmd, validate_cmd
from relapse_ml.cli.datasets_cmds import datasets_app
from relapse_ml.cli.design_cmds import design_cmd
from relapse_ml.cli.patient_cmds import patient_app
from relapse_ml.cli.report_cmds import report_cmd
from relapse_ml.cli.score_cmds import export_cmd, score_cmd
from relapse_ml.cli.train_cmds import runs_cmd, train_cmd
from relapse_ml.cli.tune_cmds import tune_cmd

app = typer.Typer(
    name="relapse-ml",
    cls=LeanGroup,
    help="Relapse prediction and sorafenib-benefit estimation after allo-HSCT "
    "(research software; decision support, never a treatment order).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for every error."),
) -> None:
    _common.STATE["debug"] = debug


app.command("validate")(validate_cmd)
app.command("eligibility")(eligibility_cmd)
app.command("simulate")(simulate_cmd)
app.command("train")(train_cmd)
app.command("runs")(runs_cmd)
app.command("tune")(tune_cmd)
app.command("score", cls=LeanCommand)(score_cmd)  # no pydantic at start: fast cold scoring
app.command("export")(export_cmd)
app.command("benefit")(benefit_cmd)
app.command("subgroups")(subgroups_cmd)
app.command("report")(report_cmd)
app.command("design")(design_cmd)
app.add_typer(datasets_app, name="datasets")
app.add_typer(patient_app, name="patient")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the app and turn errors into exit statuses."""
    sys.exit(_common.run(app, argv))


if __name__ == "__main__":
    main()
