"""Self-contained HTML reports of tracked runs (training, benefit, subgroups, tuning).

``relapse-ml report --run RUN_ID --out report.html``: figures embedded as PNG data URIs,
CSS inline, no external reference; aggregates only, never a patient row.
"""

from relapse_ml.report.build import (
    KINDS,
    Report,
    RunRecord,
    build_report,
    check_cohort,
    fetch_run,
    latest_run,
    write_report,
)

__all__ = [
    "KINDS",
    "Report",
    "RunRecord",
    "build_report",
    "check_cohort",
    "fetch_run",
    "latest_run",
    "write_report",
]
