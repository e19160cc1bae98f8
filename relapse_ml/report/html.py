"""The report page: inline CSS, sections with a one-sentence reading guide, embedded PNGs.

Plain f-strings and `html.escape`; nothing on the page points outside it (no URL, no
font, no script), so it opens the same offline, in a mail attachment or an archive.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

DISCLAIMER = (
    "Research model: decision support, not a treatment order. Figures and tables "
    "hold aggregates only."
)

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1b1f24;
max-width:1060px;margin:24px auto;padding:0 18px;font-size:14px;line-height:1.45;background:#fff}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:30px 0 6px;padding-bottom:3px;
border-bottom:2px solid #d8dee4}h3{font-size:14px;margin:14px 0 4px}
.disc{background:#fff4e5;border:1px solid #f0b357;padding:7px 11px;font-weight:600;margin:10px 0}
.guide{background:#eef6fc;border-left:4px solid #2e86c1;padding:6px 10px;margin:6px 0 10px;
font-size:13px}
.guide b{color:#1f618d}
.note{color:#57606a;font-size:12px}.warn{background:#fdf2f2;border-left:4px solid #c0392b;
padding:6px 10px;font-size:13px;margin:6px 0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
td,th{padding:3px 7px;border-bottom:1px solid #e4e8ec;text-align:right;vertical-align:top}
th{background:#f6f8fa;font-weight:600}td:first-child,th:first-child{text-align:left}
tr.final td{font-weight:700;background:#f3faf3}
table.kv td{text-align:left}table.kv td:first-child{color:#57606a;white-space:nowrap}
.ci{color:#57606a;font-size:10.5px;white-space:nowrap}
.scroll{overflow-x:auto}
.left2 td:nth-child(2),.left2 th:nth-child(2){text-align:left}
figure{margin:10px 0 18px}figure img{max-width:100%;height:auto;border:1px solid #e4e8ec}
figcaption{font-size:12px;color:#57606a}
nav ol{columns:2;font-size:13px;margin:4px 0}
.flow{display:flex;flex-direction:column;align-items:flex-start;gap:0;margin:8px 0}
.step{display:flex;align-items:center;gap:18px}
.box{border:1.5px solid #2e86c1;border-radius:4px;padding:6px 12px;min-width:260px;background:#fff;
font-size:13px}.box b{font-size:15px}
.side{border:1px dashed #999;border-radius:4px;padding:5px 10px;font-size:12px;background:#fafafa;
max-width:520px}
.arrow{margin-left:130px;height:22px;border-left:2px solid #2e86c1}
.arms{display:flex;gap:18px;flex-wrap:wrap}
.arm{border:1.5px solid #888;border-radius:4px;padding:6px 12px;min-width:220px;font-size:13px}
.arm.control{border-color:#c0392b}.arm.sorafenib{border-color:#2e86c1}
"""


@dataclass
class Figure:
    """An embedded PNG (a ``data:`` URI) and its caption."""

    uri: str
    caption: str
    alt: str = ""


@dataclass
class Section:
    """One report section: an id (anchor), a title, a one-sentence reading guide, content."""

    id: str
    title: str
    guide: str
    body: str = ""
    figures: list[Figure] = field(default_factory=list)
    after: str = ""


e = html.escape


def num(x, digits: int = 3) -> str:
    """A number, or an en dash when missing or not finite."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return f"{x:.{digits}f}" if math.isfinite(x) else "–"


def pct(x, digits: int = 1) -> str:
    """A proportion as a percentage."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return f"{100 * x:.{digits}f}%" if math.isfinite(x) else "–"


def pts(x, digits: int = 1) -> str:
    """A difference of proportions in signed percentage points."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    return f"{100 * x:+.{digits}f}" if math.isfinite(x) else "–"


def pval(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(x):
        return "–"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def with_ci(est, low, high, f=num) -> str:
    if f(est) == "–":
        return "–"
    if f(low) == "–" or f(high) == "–":
        return f(est)
    return f"{f(est)} ({f(low)} to {f(high)})"


def _cell(c) -> str:
    """A formatted cell; a ``(value, interval)`` pair is shown on two lines."""
    if isinstance(c, tuple):
        main, sub = c
        return (
            f"<td>{e(str(main))}"
            + (f"<br><span class='ci'>{e(str(sub))}</span>" if sub else "")
            + "</td>"
        )
    return f"<td>{e(str(c))}</td>"


def table(
    headers: list[str],
    rows: list[list],
    classes: list[str] | None = None,
    css: str = "",
    left: int = 1,
) -> str:
    """An HTML table from formatted (unescaped) cells; ``classes`` per row; the first
    ``left`` columns (text) are left-aligned, the rest (numbers) right-aligned."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    classes = classes or [""] * len(rows)
    body = "".join(
        (f"<tr class='{cls}'>" if cls else "<tr>") + "".join(_cell(c) for c in row) + "</tr>"
        for row, cls in zip(rows, classes, strict=True)
    )
    names = " ".join(x for x in (css, f"left{left}" if left > 1 else "") if x)
    attr = f" class='{names}'" if names else ""
    return (
        f"<div class='scroll'><table{attr}><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def ci_pair(est, low, high, f=None) -> tuple[str, str]:
    """``(estimate, "(low–high)")`` for a two-line table cell."""
    f = f or num
    if f(est) == "–":
        return ("–", "")
    if f(low) == "–" or f(high) == "–":
        return (f(est), "")
    return (f(est), f"({f(low)} to {f(high)})")


def key_values(pairs: list[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><td>{e(k)}</td><td>{e(str(v))}</td></tr>" for k, v in pairs)
    return f"<table class='kv'><tbody>{rows}</tbody></table>"


def paragraph(text: str, cls: str = "") -> str:
    return f"<p class='{cls}'>{e(text)}</p>" if cls else f"<p>{e(text)}</p>"


def date_text(ms: int | None) -> str:
    if not ms:
        return "–"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def consort_html(flow: dict, cohort_name: str, landmark_day: float, horizon_days: float) -> str:
    """The screening flow as boxes: screened → exclusions → eligible → arms → landmark → outcomes."""
    if flow.get("screening") is None:
        return paragraph(
            f"The trial's criteria could not be applied to this cohort: {flow.get('error')}", "warn"
        )
    rows = flow["screening"]
    by = {}
    for r in rows:
        by.setdefault(r["step"], []).append(r)
    screened = by["screened"][0]["n"]
    excl = "".join(f"<li>{e(r['label'])}: {r['n']}</li>" for r in by.get("excluded", []))
    unknown = "".join(f"<li>{e(r['label'])}: {r['n']}</li>" for r in by.get("not_assessable", []))
    n_not = by["not_eligible"][0]["n"]
    n_unknown = by["not_assessable_total"][0]["n"]
    n_elig = by["eligible"][0]["n"]
    parts = [
        "<div class='flow'>",
        f"<div class='step'><div class='box'>Screened (cohort {e(cohort_name)})<br><b>{screened}</b>"
        f" patients</div></div><div class='arrow'></div>",
        f"<div class='step'><div class='box'>Criteria checked on data to day "
        f"{flow['as_of_day']:g}</div><div class='side'>Not eligible: <b>{n_not}</b> "
        f"(first failed criterion)<ul>{excl or '<li>none</li>'}</ul>"
        + (f"Not assessable: <b>{n_unknown}</b><ul>{unknown}</ul>" if n_unknown else "")
        + "</div></div><div class='arrow'></div>",
        f"<div class='step'><div class='box'>Eligible<br><b>{n_elig}</b> patients</div></div>",
        "<div class='arrow'></div>",
    ]
    arms = flow["arms"]
    cards = []
    for a in arms:
        cls = a["arm"] if a["arm"] in ("control", "sorafenib") else ""
        cards.append(
            f"<div class='arm {cls}'><b>{e(a['arm'])}</b>: {a['patients']} patients<br>"
            f"alive and relapse-free at day {landmark_day:g}: <b>{a['at_risk']}</b><br>"
            f"within {horizon_days:g} days: {a['relapse']} relapses, {a['nrm']} non-relapse "
            f"deaths, {a['censored']} censored earlier, {a['event_free_at_horizon']} event-free "
            "at the horizon</div>"
        )
    parts.append(f"<div class='arms'>{''.join(cards)}</div></div>")
    k = flow.get("randomized_not_eligible", 0)
    if k:
        parts.append(
            paragraph(
                f"{k} randomized patient(s) fail a criterion as coded on the recorded data (e.g. "
                "active aGVHD recorded by day 60): the analyses keep every randomized patient at "
                "risk at the landmark, as the trial did; check these records.",
                "note",
            )
        )
    parts.append(
        paragraph(
            "Eligibility is the trial's criteria as code, checked on the data recorded by the "
            "screening day; the arms count every patient of the cohort, the landmark keeps those "
            "alive and relapse-free at the landmark day.",
            "note",
        )
    )
    return "".join(parts)


def figure_html(f: Figure) -> str:
    return (
        f'<figure><img src="{f.uri}" alt="{e(f.alt or f.caption)}">'
        f"<figcaption>{e(f.caption)}</figcaption></figure>"
    )


def section_html(s: Section) -> str:
    return (
        f"<section id='{e(s.id)}'><h2>{e(s.title)}</h2>"
        f"<p class='guide'><b>How to read it:</b> {e(s.guide)}</p>"
        + s.body
        + "".join(figure_html(f) for f in s.figures)
        + s.after
        + "</section>"
    )


def render_page(record, sections: list[Section], notes: list[str]) -> str:
    """The whole self-contained page."""
    kind_words = {
        "train": "training run",
        "benefit": "benefit run",
        "subgroups": "subgroups run",
        "tune": "tuning study",
    }
    title = f"relapse-ml report — {kind_words.get(record.kind, record.kind)} {record.name}"
    toc = "".join(f"<li><a href='#{e(s.id)}'>{e(s.title)}</a></li>" for s in sections)
    warn = "".join(paragraph(n, "warn") for n in notes)
    return "\n".join(
        [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            "<meta name='viewport' content='width=device-width, initial-scale=1'>",
            f"<title>{e(title)}</title><style>{CSS}</style></head><body>",
            f"<h1>{e(title)}</h1>",
            f"<p class='note'>run {e(record.run_id)} · {e(date_text(record.start_time))} · "
            f"experiment {e(record.experiment)}</p>",
            f"<p class='disc'>{e(DISCLAIMER)}</p>",
            warn,
            f"<nav><b>Contents</b><ol>{toc}</ol></nav>",
            *[section_html(s) for s in sections],
            f"<p class='disc'>{e(DISCLAIMER)}</p>",
            f"<p class='note'>Made by relapse-ml report on {e(datetime.now(tz=UTC).strftime('%Y-%m-%d %H:%M UTC'))}"
            " from the run's tracked parameters, metrics and artifacts.</p>",
            "</body></html>",
        ]
    )


OUTCOME_TEXT = {"relapse": "relapse", "rfs": "relapse or death"}


def fig(path, caption: str) -> Figure:
    """A run's PNG file as an embedded figure."""
    from relapse_ml.report.figures import png_data_uri

    return Figure(uri=png_data_uri(path), caption=caption)
