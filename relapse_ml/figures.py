"""Figures from aggregates: each takes ``ax=None`` and returns the axes (matplotlib, Agg)."""

from __future__ import annotations

import numpy as np


def _axes(ax, figsize=(6, 4)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_cif_by_group(time, event, groups, times, ax=None, title=None):
    """Aalen–Johansen relapse (solid) and non-relapse death (dashed) incidence by group."""
    from relapse_ml.models.aalen_johansen import aalen_johansen

    ax = _axes(ax)
    time, event, groups = np.asarray(time, float), np.asarray(event), np.asarray(groups, object)
    for i, g in enumerate(sorted({str(x) for x in groups})):
        sel = groups.astype(str) == g
        color = f"C{i}"
        f1 = aalen_johansen(time[sel], event[sel], times, cause=1)
        f2 = aalen_johansen(time[sel], event[sel], times, cause=2)
        ax.step(times, f1, where="post", color=color, label=f"{g}: relapse (n={int(sel.sum())})")
        ax.step(times, f2, where="post", color=color, linestyle="--", label=f"{g}: non-relapse death")
    ax.set_xlabel("days since landmark")
    ax.set_ylabel("cumulative incidence (Aalen–Johansen)")
    ax.set_ylim(0, max(0.05, ax.get_ylim()[1]))
    ax.legend(fontsize=7)
    ax.set_title(title or "Cumulative incidence by arm")
    return ax


def plot_calibration(table, ax=None, title=None):
    """Predicted vs observed (Aalen–Johansen) incidence per risk group, with intervals."""
    ax = _axes(ax, (4.5, 4.5))
    pred = np.asarray(table["mean_predicted"], float)
    obs = np.asarray(table["observed"], float)
    lo = np.asarray(table.get("observed_lower", obs), float)
    hi = np.asarray(table.get("observed_upper", obs), float)
    ax.errorbar(pred, obs, yerr=[np.clip(obs - lo, 0, None), np.clip(hi - obs, 0, None)], fmt="o", capsize=3)
    top = float(np.nanmax(np.r_[pred, hi, 0.05])) * 1.05
    ax.plot([0, top], [0, top], color="grey", linestyle=":")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted relapse risk")
    ax.set_ylabel("observed (Aalen–Johansen)")
    ax.set_title(title or "Calibration")
    return ax


def plot_auc_over_time(curves: dict[str, tuple], ax=None, title=None):
    """Time-dependent AUC per model: ``{label: (times, auc)}``."""
    ax = _axes(ax)
    for label, (t, auc) in curves.items():
        ax.plot(t, auc, marker=".", label=label)
    ax.axhline(0.5, color="grey", linestyle=":")
    ax.set_xlabel("days since landmark")
    ax.set_ylabel("AUC(t), relapse (IPCW)")
    ax.set_ylim(0.3, 1.0)
    ax.legend(fontsize=7)
    ax.set_title(title or "Discrimination over time")
    return ax


def plot_importance(names, values, ax=None, title=None, top=15):
    """Horizontal bar chart of the largest importances."""
    ax = _axes(ax, (6, 5))
    order = np.argsort(np.abs(values))[::-1][:top][::-1]
    ax.barh([names[i] for i in order], np.asarray(values)[order])
    ax.set_title(title or "Feature importance")
    return ax


def save(ax, path) -> None:
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
