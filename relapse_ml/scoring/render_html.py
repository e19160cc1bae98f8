"""The one-page patient summary as self-contained HTML: inline CSS and an inline SVG chart, no
external URL. Reads the same score document as the terminal view (`render`)."""

from __future__ import annotations

import html

from relapse_ml.scoring.benefit_score import words as benefit_words
from relapse_ml.scoring.inputs import horizon_words
from relapse_ml.scoring.render import ARM_WORDS, model_lines, pct, pts, risk_rows

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
