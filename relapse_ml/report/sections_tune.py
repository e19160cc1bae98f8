"""Sections of a tuning study: best parameters, tuned against defaults, the search history."""

from __future__ import annotations

from relapse_ml.report.html import (
    Section,
    fig,
    key_values,
    num,
    paragraph,
    table,
    with_ci,
)

TUNE_FIGURES = {
    "optimization_history": "Optimization history: each trial's objective and the best so far.",
    "param_importances": "Hyperparameter importances (fANOVA over the completed trials).",
    "intermediate_values": "Objective fold by fold within each trial (what pruning judged).",
}
LOWER_IS_BETTER = ("ibs", "brier_tau", "ici")


def tune_sections(record, linked: dict) -> list[Section]:
    out = []
    t, m = record.tags, record.metrics
    best = {k.removeprefix("best."): v for k, v in t.items() if k.startswith("best.")}
    pairs = [(k, v) for k, v in sorted(best.items())]
    if t.get("relapse_ml.objective"):
        pairs.append(
            (
                "objective",
                f"{t['relapse_ml.objective']} (best {num(m.get('best.' + t['relapse_ml.objective']))})",
            )
        )
    if t.get("study.n_trials"):
        done = m.get("n_trials_complete")
        pairs.append(
            (
                "trials",
                f"{t['study.n_trials']} requested"
                + (f", {int(done)} complete" if done is not None else ""),
            )
        )
    names = sorted({k.split(".", 1)[1] for k in m if k.startswith(("tuned.", "default."))})
    rows = []
    for name in names:
        low = m.get(f"delta.{name}_ci_low", m.get(f"delta.{name}_low"))
        high = m.get(f"delta.{name}_ci_high", m.get(f"delta.{name}_high"))
        rows.append(
            [
                name + (" (lower is better)" if name in LOWER_IS_BETTER else ""),
                num(m.get(f"tuned.{name}")),
                num(m.get(f"default.{name}")),
                with_ci(m.get(f"delta.{name}"), low, high),
            ]
        )
    body = key_values(pairs) if pairs else paragraph("No complete trial: no best parameters.")
    if rows:
        how = t.get("relapse_ml.validation", "held-out")
        body += table(["metric", "tuned", "defaults", "difference (95% CI)"], rows)
        body += paragraph(f"Validation: {how}; difference = tuned − defaults.", "note")
    out.append(
        Section(
            "tuning",
            "Tuning result",
            "The best hyperparameters the study found and, on data the search never saw, the tuned "
            "model against the same model with its defaults: a difference whose interval spans zero "
            "means tuning did not measurably help.",
            body=body,
        )
    )
    found = dict(record.figures_like(""))
    order = [n for n in TUNE_FIGURES if n in found] + sorted(set(found) - set(TUNE_FIGURES))
    figs = [fig(found[n], TUNE_FIGURES.get(n, n.replace("_", " "))) for n in order]
    if figs:
        out.append(
            Section(
                "tuning-figures",
                "Search history",
                "Each trial's cross-validated objective in the order it ran (with the best so far), "
                "and which hyperparameters mattered; a flat best-so-far line means more trials would "
                "add little.",
                figures=figs,
            )
        )
    return out
