"""Show a score document: rich terminal text (80 columns) and JSON; the one-page HTML summary
is `render_html`. Every view reads the same document (`score.score_record`), so they cannot
disagree.
"""

from __future__ import annotations

import json

from relapse_ml.scoring.benefit_score import words as benefit_words
from relapse_ml.scoring.inputs import horizon_words

WIDTH = 80
ARM_WORDS = {"control": "without sorafenib", "sorafenib": "with sorafenib", "observed": "risk"}
METRIC_WORDS = (
    ("c_index", "C-index"),
    ("auc_tau", "AUC"),
    ("ipa_tau", "IPA"),
    ("brier_tau", "Brier"),
    ("calibration_slope", "calibration slope"),
)


def pct(p: float | None) -> str:
    return "–" if p is None else f"{100 * p:.1f}%"


def pts(p: float) -> str:
    return f"{100 * p:+.1f}"


def interval_text(iv: dict | None, sign: float = 1.0) -> str:
    if not iv:
        return ""
    lo, hi = sorted((sign * iv["low"], sign * iv["high"]))
    return f"({100 * lo:+.1f}, {100 * hi:+.1f})"


def risk_rows(doc: dict) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """``[(measure, [(horizon label, cells)])]``: a cell per arm, then the change with sorafenib."""
    arms = [r["arm"] for r in doc["risks"] if r["horizon_days"] == doc["risks"][0]["horizon_days"]]
    by = {(r["horizon_days"], r["arm"]): r for r in doc["risks"]}
    ben = {b["horizon_days"]: b for b in (doc["benefit"] or [])}
    horizons = sorted({r["horizon_days"] for r in doc["risks"]})
    out = []
    for what, key, label, when in (
        ("relapse", "relapse", "Relapse", "by"),
        ("nrm", "nrm", "Non-relapse death", "by"),
        ("rfs", "relapse_free_survival", "Relapse-free survival", "at"),
    ):
        rows = []
        for h in horizons:
            cells = []
            for arm in arms:
                r = by[(h, arm)]
                cells.append(pct(r[key]))
            if h in ben:
                b = ben[h]
                if what == "relapse":
                    cells.append(
                        f"{pts(-b['relapse_risk_reduction'])} "
                        f"{interval_text(b['relapse_interval'], -1)}".strip()
                    )
                elif what == "rfs":
                    cells.append(f"{pts(b['rfs_gain'])} {interval_text(b['rfs_interval'])}".strip())
                elif b.get("source") == "benefit_export":
                    cells.append("")  # the benefit analysis gives relapse and RFS only
                else:
                    cells.append(pts(by[(h, "sorafenib")]["nrm"] - by[(h, "control")]["nrm"]))
            rows.append((f"{when} {horizon_words(h)}", cells))
        out.append((label, rows))
    return out


def terminal(doc: dict, console=None) -> None:
    """Print the score for a clinician (fits an 80-column terminal)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    con = console or Console(width=WIDTH, highlight=False)
    L = doc["landmark_day"]
    con.rule(
        f"[bold]relapse-ml score[/] · patient {doc['patient_id']} · day {L:g} after transplant"
    )
    con.print(f"[bold]{doc['disclaimer']}[/]")
    con.print(f"Risks count from the landmark (day {L:g}), not from the transplant.")
    arms = [r["arm"] for r in doc["risks"] if r["horizon_days"] == doc["risks"][0]["horizon_days"]]
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), show_edge=False, collapse_padding=True
    )
    table.add_column("", no_wrap=True)
    for arm in arms:
        table.add_column(ARM_WORDS[arm], justify="right", no_wrap=True)
    if doc["benefit"] is not None:
        table.add_column("change (points)", justify="right", no_wrap=True)
    for measure, rows in risk_rows(doc):
        table.add_row(f"[bold]{measure}[/]")
        for label, cells in rows:
            table.add_row(f"  {label}", *cells)
    con.print(table)
    est = doc.get("benefit_estimate") or {}
    if est.get("source") == "benefit_export":
        con.print(
            f"change = with − without sorafenib, in percentage points, at "
            f"{horizon_words(est['horizon_days'])}: the benefit analysis' reported estimate "
            "(below).",
            style="dim",
        )
    elif doc["benefit"] is not None:
        con.print(
            "change = with − without sorafenib, in percentage points: "
            + est.get("note", "the prediction model's two-arm difference")
            + ". "
            + (
                doc["interval"]["note"]
                if doc["interval"]["available"]
                else "No interval available (bundle exported without --bootstrap)."
            ),
            style="dim",
        )
    benefit_lines(con, est)
    _drivers(con, doc)
    e = doc["eligibility"]
    status = {
        "eligible": "[green]eligible[/]",
        "not_eligible": "[red]not eligible[/]",
        "not_assessable": "[yellow]not assessable[/]",
    }[e["status"]]
    con.print(
        f"\n[bold]Trial eligibility[/] ({e['trial']}, data to day {e['as_of_day']:g}): {status}"
    )
    _bullets(con, e["reasons"], "-")
    if doc["warnings"]:
        con.print("\n[bold]Warnings[/]")
        _bullets(con, [w["message"] for w in doc["warnings"]], "[yellow]![/]")
    con.print("\n[bold]Model[/]")
    _bullets(con, model_lines(doc["model"]), "")
    con.rule(style="dim")
    con.print(doc["disclaimer"], style="bold")


def benefit_lines(con, est: dict) -> None:
    if est.get("source") != "benefit_export":
        return
    title, said, why = benefit_words(est)
    ex = est["export"]
    con.print(
        f"\n[bold]{title}[/] [dim](benefit analysis of {ex.get('cohort', '?')}, "
        f"{ex.get('patients', '?')} patients)[/]"
    )
    _bullets(con, said, "•")
    _bullets(con, [f"[dim]{w}[/]" for w in why] + [f"[dim]{est['note']}[/]"], "")
    for o, items in (est.get("drivers") or {}).items():
        if not items:
            continue
        words = "relapse" if o == "relapse" else "relapse or death"
        con.print(f"  [bold]Drivers of this patient's estimated benefit ({words})[/]")
        _bullets(con, [f"{pts(i['effect'])}  {i['description']}" for i in items], "")
    if not any((est.get("drivers") or {}).values()):
        _bullets(con, [f"[dim]{est.get('drivers_note', '')}[/]"], "")


def _bullets(con, lines: list[str], marker: str) -> None:
    """Indented lines whose wrapped continuations stay indented."""
    from rich.table import Table

    if not lines:
        return
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=2 if marker else 0, justify="right")
    grid.add_column()
    for line in lines:
        grid.add_row(marker, line)
    con.print(grid)


def _drivers(con, doc: dict) -> None:
    from rich.table import Table

    d = doc["drivers"]
    if not d["available"]:
        con.print(f"\n[bold]Drivers[/]: {d['note']}")
        return
    ref = d["reference"]
    sections = [
        (
            "risk",
            f"Drivers of relapse risk {'without sorafenib ' if doc['benefit'] is not None else ''}"
            f"by {horizon_words(d['horizon_days'])}",
            f"points, against a typical training patient at {pct(ref['relapse_risk'])}",
        )
    ]
    if d["benefit"] is not None:
        sections.append(
            (
                "benefit",
                "Drivers of the prediction model's two-arm difference by "
                f"{horizon_words(d['horizon_days'])}",
                f"points of relapse-risk reduction; typical patient {100 * ref['benefit']:.1f} points",
            )
        )
    for key, title, sub in sections:
        con.print(f"\n[bold]{title}[/] [dim]({sub})[/]")
        items = d[key] or []
        if not items:
            con.print("  none: the patient matches the typical training patient")
            continue
        t = Table(box=None, show_header=False, padding=(0, 1), pad_edge=True)
        t.add_column(justify="right", no_wrap=True, width=6)
        t.add_column()
        for item in items:
            color = "red" if (item["effect"] > 0) == (key == "risk") else "green"
            t.add_row(f"[{color}]{pts(item['effect'])}[/]", item["description"])
        con.print(t)


def model_lines(m: dict) -> list[str]:
    name = f"{m['name']} ({m['type']})" if m["name"] != m["type"] else m["name"]
    where = f"registry version {m['version']}" if m["version"] else m["ref"]
    lines = [f"{name}, {where}" + (f", run {m['run_id'][:12]}" if m["run_id"] else "")]
    if m.get("weights"):
        lines.append("stack of " + ", ".join(f"{k} {w:.2f}" for k, w in m["weights"].items()
                                             if w >= 0.005) + " (weights)")
    if m["bundle_sha256"]:
        lines.append(f"bundle sha256 {m['bundle_sha256'][:16]}… ({m['ref']})")
    if m["data_fingerprint"]:
        lines.append(f"training data fingerprint {m['data_fingerprint'][:16]}…")
    mets = [
        f"{word} {m['metrics'][k]:.2f}"
        for k, word in METRIC_WORDS
        if m["metrics"].get(k) is not None
    ]
    if mets:
        lines.append(f"cross-validated at {m['horizon_days']:g} days: " + ", ".join(mets))
    return lines


def to_json(doc: dict) -> str:
    return json.dumps(doc, indent=2, allow_nan=False)
