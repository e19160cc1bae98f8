"""Figures the report draws itself from the cohort (the run holds no patient rows).

Cumulative incidence of relapse and of non-relapse death by arm from the landmark
(Aalen–Johansen) with the numbers at risk under the plot; helpers that turn a figure or a
PNG file into a ``data:`` URI so the HTML page needs nothing outside itself.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ARM_ORDER = ("control", "sorafenib")
ARM_COLORS = {"control": "#c0392b", "sorafenib": "#2e86c1"}
OTHER_COLORS = ("#555555", "#8e44ad", "#16a085", "#d35400")


def group_order(groups) -> list[str]:
    """Arms first (control, sorafenib), then any other label in sorted order."""
    present = {str(g) for g in groups}
    return [g for g in ARM_ORDER if g in present] + sorted(present - set(ARM_ORDER))


def group_colors(order: list[str]) -> dict[str, str]:
    others = iter(OTHER_COLORS * 4)
    return {g: ARM_COLORS.get(g) or next(others) for g in order}


def numbers_at_risk(time, groups, ticks) -> pd.DataFrame:
    """Patients still followed and event-free at each tick (time ≥ t), one row per group."""
    time = np.asarray(time, float)
    groups = np.asarray(groups, object).astype(str)
    order = group_order(groups)
    ticks = np.asarray(ticks, float)
    rows = {g: [(time[groups == g] >= t).sum() for t in ticks] for g in order}
    return pd.DataFrame.from_dict(rows, orient="index", columns=[f"{t:g}" for t in ticks]).astype(
        int
    )


def incidence_at(time, event, groups, horizons) -> pd.DataFrame:
    """Aalen–Johansen incidence of relapse and non-relapse death by group at ``horizons``.

    One row per (group, horizon): ``group, horizon, n, relapse, nrm``.
    """
    from relapse_ml.models.aalen_johansen import aalen_johansen

    time, event = np.asarray(time, float), np.asarray(event)
    groups = np.asarray(groups, object).astype(str)
    h = np.asarray(horizons, float)
    rows = []
    for g in group_order(groups):
        sel = groups == g
        f1 = aalen_johansen(time[sel], event[sel], h, cause=1)
        f2 = aalen_johansen(time[sel], event[sel], h, cause=2)
        rows += [
            {
                "group": g,
                "horizon": float(t),
                "n": int(sel.sum()),
                "relapse": float(a),
                "nrm": float(b),
            }
            for t, a, b in zip(h, f1, f2, strict=True)
        ]
    return pd.DataFrame(rows)


def default_ticks(horizon: float) -> np.ndarray:
    """0, every 90 days (180 beyond two years, 365 beyond five), and the horizon itself."""
    step = 90 if horizon <= 730 else 180 if horizon <= 1825 else 365
    ticks = np.arange(0, horizon - step / 2, step)  # no tick crowding the horizon's own
    return np.r_[ticks, horizon]


def plot_incidence_with_risk_table(
    time, event, groups, horizon: float, ticks=None, title: str | None = None
):
    """Relapse (solid) and non-relapse death (dashed) incidence by group, numbers at risk below.

    time / event: days from the landmark (administratively censored at ``horizon``) and
    event codes (0 censored, 1 relapse, 2 non-relapse death). Returns the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from relapse_ml.models.aalen_johansen import aalen_johansen

    time, event = np.asarray(time, float), np.asarray(event)
    groups = np.asarray(groups, object).astype(str)
    ticks = default_ticks(horizon) if ticks is None else np.asarray(ticks, float)
    order = group_order(groups)
    colors = group_colors(order)
    grid = np.linspace(0, horizon, 400)
    fig = plt.figure(figsize=(8.5, 5.0 + 0.28 * len(order)))
    gs = fig.add_gridspec(2, 1, height_ratios=[4.2, 0.45 + 0.3 * len(order)], hspace=0.32)
    ax = fig.add_subplot(gs[0])
    top = 0.05
    for g in order:
        sel = groups == g
        f1 = aalen_johansen(time[sel], event[sel], grid, cause=1)
        f2 = aalen_johansen(time[sel], event[sel], grid, cause=2)
        top = max(top, float(f1.max()), float(f2.max()))
        ax.step(grid, f1, where="post", color=colors[g], label=f"{g}: relapse")
        ax.step(
            grid, f2, where="post", color=colors[g], linestyle="--", label=f"{g}: non-relapse death"
        )
    ax.set_xlim(0, horizon)
    ax.set_ylim(0, min(1.0, top * 1.2))
    ax.set_xticks(ticks)
    ax.set_xlabel("days since the landmark")
    ax.set_ylabel("cumulative incidence (Aalen–Johansen)")
    ax.grid(alpha=0.25)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(title or "Relapse and non-relapse death by arm, from the landmark", fontsize=10)

    table = numbers_at_risk(time, groups, ticks)
    low = fig.add_subplot(gs[1], sharex=ax)
    low.set_ylim(len(order) - 0.5, -0.9)
    low.axis("off")
    low.text(
        -0.045,
        -0.75,
        "Number at risk",
        transform=low.get_yaxis_transform(),
        ha="right",
        va="center",
        fontsize=8,
        fontweight="bold",
    )
    for i, g in enumerate(order):
        low.text(
            -0.045,
            i,
            g,
            transform=low.get_yaxis_transform(),
            ha="right",
            va="center",
            fontsize=8,
            color=colors[g],
        )
        for t, n in zip(ticks, table.loc[g], strict=True):
            low.text(t, i, str(int(n)), ha="center", va="center", fontsize=8, color=colors[g])
    fig.subplots_adjust(left=0.16, right=0.97, top=0.93, bottom=0.04)
    return fig


def figure_bytes(fig, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (and closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def png_data_uri(source: bytes | str | Path) -> str:
    """A ``data:image/png;base64,…`` URI from PNG bytes or a PNG file; refuses anything else."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError(f"not a PNG image: {source if not isinstance(source, bytes) else 'bytes'}")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
