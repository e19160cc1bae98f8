"""The tables of `benchmark_visits.py` (markdown from its result rows)."""

from __future__ import annotations

import pandas as pd


def landmark_rows(ev: pd.DataFrame, models) -> list[str]:
    """One table row per landmark × model (in ``models``' order) of the per-seed metrics."""
    lines = []
    for L, g in ev.groupby("landmark"):
        for m in models:
            s = g[g["model"] == m]
            if s.empty:
                continue
            lines.append(f"| {L:g} | {m} | {mean_sd(s.c_index, '.3f')} | {mean_sd(s.ipa, '+.3f')} | "
                         f"{mean_sd(s.cal_slope_truth, '.2f')} | {mean_sd(s.mean_diff_truth, '+.3f')} | "
                         f"{mean_sd(s.rmse_truth, '.3f')} | {len(s)} |")
    return lines


def mean_sd(v, fmt: str) -> str:
    """``mean ± SD`` of the values (SD nan for one value; "—" when all are missing): the
    benchmarks' one formatter of a quantity over seeds."""
    s = pd.Series(v, dtype=float)
    if s.isna().all():
        return "—"
    sd = s.std(ddof=1) if len(s) > 1 else float("nan")
    return f"{s.mean():{fmt}} ± {sd:{fmt.lstrip('+')}}"


def render(rows: list[dict], order, variants) -> str:
    """The results table; ``order``: the models in table order; ``variants``: the models
    also set beside the careful Cox."""
    df = pd.DataFrame(rows)
    ev, trn = df[df["kind"] == "eval"], df[df["kind"] == "train"]
    lines = ["# Every visit: one model for days 60–365, judged against the truth at each landmark",
             "", f"Train {int(df['n_train'].iloc[0]):,} randomized / test an independent trial "
             f"({int(ev['n_test'].iloc[0]):,}); truth = the simulator's risk given the latent state at L and the arm "
             "received. C = Wolbers' C-index for relapse at τ = 729.5 days from L. Mean ± SD "
             "over seeds.", "",
             "| L | model | C-index | IPA | slope vs truth | mean pred − true | RMSE vs truth | seeds |",
             "|---|---|---|---|---|---|---|---|"]
    lines += landmark_rows(ev, order)
    lines += ["", "Paired C differences (mean ± SD over seeds):", ""]
    piv = ev.pivot_table(index=["landmark", "seed"], columns="model", values="c_index")
    pairs = [("stack_default", "shipped_default"), ("stack_traj_default", "shipped_default"),
             ("stack_default", "careful_cox"), ("stack_traj_default", "careful_cox"),
             ("super_default", "careful_cox"), ("super_default", "day60_default"),
             ("day60_default", "careful_cox"), ("super_traj_default", "day60_default"),
             ("super_cox", "super_cox_shared")] + [
        (v, "careful_cox") for v in variants]
    for a, b in pairs:
        if a in piv and b in piv:
            d = (piv[a] - piv[b]).groupby(level=0)
            parts = [f"day {L:g}: {v.mean():+.3f} ± {v.std(ddof=1):.3f}" for L, v in d]
            lines.append(f"- {a} − {b}: " + "; ".join(parts))
    if not trn.empty:
        lines += ["", "Training cost (`run_training`, no tracking). CV = the cross-validation: "
                  "5-fold fits of every model, their metrics and, when n_boot > 0, the metrics' "
                  "bootstrap intervals (evaluation); the rest is the data set and the final fit. "
                  "n_boot 0 leaves the choice of the final model unchanged (it reads the pooled "
                  "IPA); the default config has n_boot 200:",
                  "", "| pipeline | rows | final model | wall s | CPU s | of which CV CPU s | load avg | seeds |",
                  "|---|---|---|---|---|---|---|---|"]
        for (m, nb), g in trn.groupby(["model", "n_boot"]):
            lines.append(f"| {m} (n_boot {nb}) | {int(g.rows.mean())} | {', '.join(sorted(set(g.final_model)))} | "
                         f"{mean_sd(g.train_wall_s, '.0f')} | {mean_sd(g.train_cpu_s, '.0f')} | "
                         f"{mean_sd(g.cv_cpu_s, '.0f')} | {g.load_avg_1min.mean():.1f} | {len(g)} |")
    return "\n".join(lines) + "\n"


def render_cost(rows: list[dict]) -> str:
    """The ``--cost`` measurements (full training with the config's bootstrap intervals)."""
    if not rows:
        return ""
    lines = ["", "Training cost with bootstrap intervals (`--cost`; CPU s of the process, wall s, "
             "load average; `evaluation_code` says which evaluation code ran):", "",
             "| pipeline | patients | rows | n_boot | CPU s | of which CV CPU s | wall s | load | evaluation code |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['n_train']:,} | {r['rows']:,} | {r['n_boot']} | "
                     f"{r['train_cpu_s']:.0f} | {r['cv_cpu_s']:.0f} | {r['train_wall_s']:.0f} | "
                     f"{r['load_avg_1min']:.1f} | {r.get('evaluation_code', 'this branch')} |")
    return "\n".join(lines) + "\n"
