"""Benefit figures: forest plot, calibration for benefit, TOC / Qini curves, PATH quartiles.

Each takes ``ax=None`` and returns the axes (`relapse_ml.figures` conventions); save with
`relapse_ml.figures.save`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from relapse_ml.figures import _axes

OUTCOME_TEXT = {"relapse": "relapse", "rfs": "relapse or death"}


def _fmt_p(p) -> str:
    if p is None or not np.isfinite(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def forest_plot(
    table: pd.DataFrame, overall: dict | None = None, ax=None, title=None, tau: float | None = None
):
    """Hazard ratio (sorafenib vs control, 95% CI, log scale) per subgroup level, with patient
    counts, Aalen–Johansen incidences by arm, their difference and the interaction p-values.

    table: `subgroups.subgroup_table` output for one outcome. Small levels are drawn hollow.
    """
    rows: list[dict] = []
    if overall is not None:
        rows.append({**overall, "_kind": "overall"})
    for name, part in table.groupby("subgroup", sort=False):
        first = part.iloc[0]
        rows.append(
            {
                "_kind": "header",
                "subgroup": name,
                "text": f"{name}  (interaction p {_fmt_p(first['interaction_p'])}; "
                f"Holm {_fmt_p(first['p_holm'])}, BH {_fmt_p(first['p_bh'])})",
            }
        )
        rows.extend({**r, "_kind": "level"} for r in part.to_dict(orient="records"))
    n = len(rows)
    ax = _axes(ax, (11, 0.32 * n + 1.6))
    fig = ax.figure
    ax.set_ylim(n - 0.5, -1.5)
    ax.set_xscale("log")
    hrs = [r.get("hr", np.nan) for r in rows if r["_kind"] != "header"]
    lows = [r.get("hr_low", np.nan) for r in rows if r["_kind"] != "header"]
    highs = [r.get("hr_high", np.nan) for r in rows if r["_kind"] != "header"]
    finite = [v for v in hrs + lows + highs if v is not None and np.isfinite(v) and v > 0]
    lo = max(min(finite + [0.5]) / 1.3, 0.02)
    hi = min(max(finite + [2.0]) * 1.3, 50)
    ax.set_xlim(lo, hi)
    ticks = [t for t in (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 10, 25) if lo <= t <= hi]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.axvline(1.0, color="grey", linestyle=":")
    ax.set_yticks([])
    for y, r in enumerate(rows):
        if r["_kind"] == "header":
            ax.text(
                -0.02,
                y,
                r["text"],
                transform=ax.get_yaxis_transform(),
                ha="right",
                va="center",
                fontsize=8,
                fontweight="bold",
            )
            continue
        label = r["level"] if r["_kind"] == "level" else "All patients"
        ax.text(
            -0.02,
            y,
            f"{label}   n={r['n']} ({r['n_control']}/{r['n_sorafenib']})",
            transform=ax.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
        )
        hr, lo_i, hi_i = r.get("hr", np.nan), r.get("hr_low", np.nan), r.get("hr_high", np.nan)
        small = bool(r.get("small", False))
        if hr is not None and np.isfinite(hr):
            ax.plot([max(lo_i, lo), min(hi_i, hi)], [y, y], color="C0" if not small else "grey")
            ax.plot(
                hr,
                y,
                "s" if r["_kind"] == "level" else "D",
                color="C0" if not small else "grey",
                mfc="white" if small else None,
            )
        inc = ""
        if np.isfinite(r.get("inc_control", np.nan)):
            inc = (
                f"{100 * r['inc_control']:.0f}% vs {100 * r['inc_sorafenib']:.0f}%   "
                f"diff {100 * r['diff']:+.0f} ({100 * r['diff_low']:+.0f}, "
                f"{100 * r['diff_high']:+.0f})"
            )
        hr_text = (
            f"HR {hr:.2f} ({lo_i:.2f}–{hi_i:.2f})" if hr is not None and np.isfinite(hr) else "HR –"
        )
        ax.text(
            1.02,
            y,
            f"{hr_text}   {inc}" + ("   [small]" if small else ""),
            transform=ax.get_yaxis_transform(),
            ha="left",
            va="center",
            fontsize=8,
        )
    ax.set_xlabel("hazard ratio, sorafenib vs control (95% CI; < 1 favours sorafenib)")
    what = OUTCOME_TEXT.get(str(rows[-1].get("outcome", "relapse")), "relapse")
    horizon = f" by {tau:g} days after the landmark" if tau is not None else ""
    ax.set_title(
        title
        or f"Subgroups: {what}; n (control/sorafenib), Aalen–Johansen "
        f"incidence control vs sorafenib{horizon}, difference in % points",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.36, right=0.62)
    return ax


def plot_benefit_calibration(table: pd.DataFrame, ax=None, title=None, outcome="relapse"):
    """Observed (Aalen–Johansen difference by arm, 95% CI) vs mean predicted benefit."""
    ax = _axes(ax, (5, 4.5))
    pred = np.asarray(table["mean_predicted"], float)
    obs = np.asarray(table.get("observed", np.full(len(table), np.nan)), float)
    lo = np.asarray(table.get("observed_low", obs), float)
    hi = np.asarray(table.get("observed_high", obs), float)
    ax.errorbar(
        pred, obs, yerr=[np.clip(obs - lo, 0, None), np.clip(hi - obs, 0, None)], fmt="o", capsize=3
    )
    ends = np.r_[pred, lo, hi]
    ends = ends[np.isfinite(ends)]
    a, b = (float(ends.min()), float(ends.max())) if ends.size else (-0.1, 0.1)
    ax.plot([a, b], [a, b], color="grey", linestyle=":")
    ax.axhline(0, color="grey", linewidth=0.5)
    ax.set_xlabel(f"mean predicted benefit (absolute reduction in {OUTCOME_TEXT[outcome]} risk)")
    ax.set_ylabel("observed: control − sorafenib (Aalen–Johansen)")
    ax.set_title(title or "Calibration for benefit (cross-fitted predictions)", fontsize=9)
    return ax


def plot_toc(curves: dict[str, tuple], ax=None, title=None, qini: bool = False):
    """TOC(q) (or the Qini curve q·TOC(q)) per learner: ``{label: (q, toc)}``."""
    ax = _axes(ax)
    for label, (q, toc) in curves.items():
        keep = q >= 0.05  # the top few patients alone make a wildly noisy curve
        ax.plot(q[keep], (q * toc if qini else toc)[keep], label=label)
    ax.axhline(0, color="grey", linestyle=":")
    ax.set_xlabel("fraction treated, by decreasing predicted benefit (q ≥ 0.05)")
    ax.set_ylabel("q · TOC(q)" if qini else "TOC(q): benefit in top q − average benefit")
    ax.legend(fontsize=7)
    ax.set_title(
        title or ("Qini curve" if qini else "Targeting operator characteristic"), fontsize=9
    )
    return ax


def plot_risk_based(table: pd.DataFrame, ax=None, title=None, outcome="relapse"):
    """PATH: absolute benefit (95% CI) by quartile of baseline predicted risk, with HRs."""
    ax = _axes(ax, (5, 4))
    x = np.asarray(table["risk_group"], int)
    d = np.asarray(table.get("diff", np.full(len(table), np.nan)), float)
    lo = np.asarray(table.get("diff_low", d), float)
    hi = np.asarray(table.get("diff_high", d), float)
    ax.errorbar(x, d, yerr=[np.clip(d - lo, 0, None), np.clip(hi - d, 0, None)], fmt="o", capsize=3)
    for xi, di, hr in zip(x, d, table.get("hr", [np.nan] * len(x)), strict=False):
        if np.isfinite(di) and np.isfinite(hr):
            ax.annotate(
                f"HR {hr:.2f}", (xi, di), textcoords="offset points", xytext=(6, 4), fontsize=7
            )
    ax.axhline(0, color="grey", linestyle=":")
    ax.set_xticks(x)
    ax.set_xlabel("group of baseline predicted risk (1 = lowest)")
    ax.set_ylabel(f"{OUTCOME_TEXT[outcome]}: control − sorafenib (Aalen–Johansen)")
    ax.set_title(title or "Risk-based analysis (PATH)", fontsize=9)
    return ax
