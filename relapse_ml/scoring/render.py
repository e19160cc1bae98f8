"""Show a score document: rich terminal text (80 columns), JSON, a one-page HTML summary.

Every view reads the same document (`score.score_record`), so they cannot disagree.
The HTML page is self-contained: inline CSS and an inline SVG chart, no external URL.
"""

from __future__ import annotations

import html
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


# -- HTML -------------------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:820px;margin:24px auto;
color:#1b1f24;font-size:14px;line-height:1.4}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px;border-bottom:1px solid #ddd}
.note{color:#555;font-size:12px}.disc{background:#fff4e5;border:1px solid #f0b357;padding:6px 10px;
font-weight:600}table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;text-align:right;
border-bottom:1px solid #eee}td:first-child,th:first-child{text-align:left}
.bar{display:inline-block;height:10px}.up{background:#c0392b}.down{background:#2e86c1}
.warn{color:#8a5300}.ok{color:#1e7b34}.bad{color:#b03a2e}
"""
COLORS = {"control": "#c0392b", "sorafenib": "#2e86c1", "observed": "#444444"}


def html_page(doc: dict, curves: dict | None = None) -> str:
    """The one-page patient summary (self-contained HTML)."""
    e = html.escape
    L = doc["landmark_day"]
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>relapse-ml score {e(doc['patient_id'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Relapse risk — patient {e(doc['patient_id'])}, day {L:g} after transplant</h1>",
        f"<p class='disc'>{e(doc['disclaimer'])}</p>",
        f"<p class='note'>Risks count from the landmark (day {L:g}), not from the transplant.</p>",
    ]
    arms = [r["arm"] for r in doc["risks"] if r["horizon_days"] == doc["risks"][0]["horizon_days"]]
    head = "".join(f"<th>{e(ARM_WORDS[a])}</th>" for a in arms)
    if doc["benefit"] is not None:
        head += "<th>change with sorafenib (points)</th>"
    rows = "".join(
        f"<tr><td><b>{e(measure)}</b></td>"
        + "<td></td>" * (len(arms) + bool(doc["benefit"]))
        + "</tr>"
        + "".join(
            f"<tr><td>&nbsp;&nbsp;{e(label)}</td>"
            + "".join(f"<td>{e(c)}</td>" for c in cells)
            + "</tr>"
            for label, cells in sub
        )
        for measure, sub in risk_rows(doc)
    )
    parts.append(f"<h2>Risk</h2><table><tr><th></th>{head}</tr>{rows}</table>")
    est = doc.get("benefit_estimate") or {}
    if est.get("source") == "benefit_export":
        title, said, why = benefit_words(est)
        drivers = "".join(
            f"<h3>Drivers of this patient's estimated benefit ({e(o)})</h3><ul>"
            + "".join(f"<li>{pts(i['effect'])} {e(i['description'])}</li>" for i in items)
            + "</ul>"
            for o, items in (est.get("drivers") or {}).items()
            if items
        )
        parts.append(
            f"<h2>{e(title)}</h2><ul>"
            + "".join(f"<li><b>{e(x)}</b></li>" for x in said)
            + f"</ul><p class='note'>{e('; '.join(why))}. {e(est['note'])}. "
            f"{e(est.get('drivers_note', ''))}.</p>{drivers}"
        )
    else:
        parts.append(f"<p class='note'>change: {e(est.get('note', ''))}.</p>")
    parts.append(f"<p class='note'>{e(doc['interval']['note'])}</p>")
    if curves:
        parts.append("<h2>Cumulative incidence from the landmark</h2>" + svg_curves(curves))
    parts.append(_html_drivers(doc))
    el = doc["eligibility"]
    cls = {"eligible": "ok", "not_eligible": "bad", "not_assessable": "warn"}[el["status"]]
    parts.append(
        f"<h2>Trial eligibility ({e(el['trial'])}, data to day {el['as_of_day']:g})</h2>"
        f"<p class='{cls}'>{e(el['status'].replace('_', ' '))}</p>"
        + (
            "<ul>" + "".join(f"<li>{e(r)}</li>" for r in el["reasons"]) + "</ul>"
            if el["reasons"]
            else ""
        )
    )
    if doc["warnings"]:
        parts.append(
            "<h2>Warnings</h2><ul>"
            + "".join(f"<li class='warn'>{e(w['message'])}</li>" for w in doc["warnings"])
            + "</ul>"
        )
    parts.append(
        "<h2>Model</h2><ul>"
        + "".join(f"<li>{e(x)}</li>" for x in model_lines(doc["model"]))
        + "</ul>"
    )
    parts.append(f"<p class='disc'>{e(doc['disclaimer'])}</p></body></html>")
    return "\n".join(parts)


def _html_drivers(doc: dict) -> str:
    e = html.escape
    d = doc["drivers"]
    if not d["available"]:
        return f"<h2>Drivers</h2><p>{e(d['note'])}</p>"
    out = []
    for key, title in (
        (
            "risk",
            "Drivers of relapse risk"
            + (" without sorafenib" if doc["benefit"] is not None else ""),
        ),
        ("benefit", "Drivers of the prediction model's two-arm difference"),
    ):
        items = d.get(key)
        if items is None:
            continue
        scale = max([abs(i["effect"]) for i in items] + [1e-9])
        rows = "".join(
            f"<tr><td>{e(i['description'])}</td><td>{pts(i['effect'])}</td><td style='text-align:left'>"
            f"<span class='bar {'up' if i['effect'] > 0 else 'down'}' "
            f"style='width:{int(120 * abs(i['effect']) / scale)}px'></span></td></tr>"
            for i in items
        )
        out.append(
            f"<h2>{e(title)} by {e(horizon_words(d['horizon_days']))}</h2>"
            f"<table><tr><th>patient data</th><th>points</th><th></th></tr>{rows}</table>"
        )
    out.append(
        f"<p class='note'>{e(d['method'])}; {e(d['scale'])}; typical training patient: "
        f"{pct(d['reference']['relapse_risk'])}. {e(d['note'])}.</p>"
    )
    return "".join(out)


def svg_curves(curves: dict, width: int = 780, height: int = 300) -> str:
    """Relapse (solid) and non-relapse death (dashed) incidence per arm, as inline SVG."""
    days = curves["days"]
    arms = [a for a in ("control", "sorafenib", "observed") if a in curves]
    top = max(max(curves[a]["relapse"] + curves[a]["nrm"]) for a in arms)
    top = max(0.05, min(1.0, top * 1.15))
    left, right, upper, lower = 50, 240, 15, 35
    pw, ph = width - left - right, height - upper - lower
    x = lambda d: left + pw * d / days[-1]  # noqa: E731
    y = lambda p: upper + ph * (1 - p / top)  # noqa: E731
    g = [
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img' "
        "aria-label='cumulative incidence curves' style='font:11px sans-serif'>"
    ]
    for k in range(6):
        p = top * k / 5
        g.append(
            f"<line x1='{left}' x2='{left + pw}' y1='{y(p):.1f}' y2='{y(p):.1f}' stroke='#eee'/>"
            f"<text x='{left - 6}' y='{y(p) + 4:.1f}' text-anchor='end'>{100 * p:.0f}%</text>"
        )
    for k in range(5):
        d = days[-1] * k / 4
        g.append(f"<text x='{x(d):.1f}' y='{height - 18}' text-anchor='middle'>{d:.0f}</text>")
    g.append(
        f"<text x='{left + pw / 2}' y='{height - 3}' text-anchor='middle'>days after the "
        "landmark</text>"
    )
    g.append(
        f"<line x1='{left}' x2='{left}' y1='{upper}' y2='{upper + ph}' stroke='#999'/>"
        f"<line x1='{left}' x2='{left + pw}' y1='{upper + ph}' y2='{upper + ph}' stroke='#999'/>"
    )
    legend_y = upper + 10
    for arm in arms:
        for what, dash in (("relapse", ""), ("nrm", " stroke-dasharray='5,4'")):
            pts_ = " ".join(
                f"{x(d):.1f},{y(p):.1f}" for d, p in zip(days, curves[arm][what], strict=True)
            )
            g.append(
                f"<polyline fill='none' stroke='{COLORS[arm]}' stroke-width='2'{dash} points='{pts_}'/>"
            )
            label = f"{'relapse' if what == 'relapse' else 'non-relapse death'}, {ARM_WORDS[arm]}"
            g.append(
                f"<line x1='{left + pw + 10}' x2='{left + pw + 30}' y1='{legend_y}' y2='{legend_y}' "
                f"stroke='{COLORS[arm]}' stroke-width='2'{dash}/>"
                f"<text x='{left + pw + 34}' y='{legend_y + 4}'>{html.escape(label)}</text>"
            )
            legend_y += 18
    g.append("</svg>")
    return "".join(g)
