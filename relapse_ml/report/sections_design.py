"""Sections of a design study (``relapse-ml design``): the power table and its figures."""

from __future__ import annotations

from relapse_ml.report.html import Section, fig, paragraph, pct, table

SHOWN = (
    ("relapse:gray", "relapse: Gray's test"),
    ("relapse:hr", "relapse: cause-specific HR"),
    ("relapse:incidence_diff", "relapse: 2-year incidence difference"),
    ("rfs:gray", "relapse or death: Gray's test"),
    ("heterogeneity:autoc", "heterogeneity test (AUTOC)"),
    ("subgroups:any", "any subgroup interaction (adjusted)"),
)

ACCURACY = ("benefit:relapse:rmse_ratio", "benefit:relapse:coverage", "benefit:relapse:spearman")


def design_sections(record, linked: dict) -> list[Section]:
    from relapse_ml.design.summary import read_table

    out = []
    path = record.file("tables/summary.csv")
    s = read_table(path) if path is not None else None
    if s is not None and len(s):
        rows = []
        for (scen, n), g in s.groupby(["scenario", "n"], sort=False):
            by = g.set_index("analysis")
            row = [str(scen), f"{int(n)}", f"{int(g['trials'].max())}"]
            for a, _ in SHOWN:
                if a in by.index and by.loc[a, "rejection_rate"] == by.loc[a, "rejection_rate"]:
                    r = by.loc[a]
                    row.append((pct(r["rejection_rate"], 0),
                                f"({pct(r['ci_low'], 0)}–{pct(r['ci_high'], 0)})"))
                else:
                    row.append("–")
            for acc in ACCURACY:
                v = by.loc[acc, "mean_estimate"] if acc in by.index else float("nan")
                row.append(f"{v:.2f}" if v == v else "–")
            rows.append(row)
        headers = ["scenario", "n", "trials", *[t for _, t in SHOWN],
                   "reported relapse benefit: RMSE ÷ trial average's",
                   "coverage of its 95% intervals", "Spearman with the true benefit"]
        alpha = record.param_float("alpha", 0.05)
        body = table(headers, rows, left=1)
        body += paragraph(
            f"Rejection rate at two-sided α = {alpha:g} with its 95% Clopper–Pearson interval: "
            "power where the scenario has an effect, type-I error under the null. Subgroup "
            "interactions are Holm- or BH-adjusted as configured. The last three columns "
            "(means over trials) score the individual benefit the trial would report against "
            "the simulated truth: an RMSE ratio below 1 means it beats giving every patient "
            "the trial's average effect.",
            "note",
        )
        out.append(
            Section(
                "design",
                "Operating characteristics",
                "How often each analysis would declare an effect if the trial were run many "
                "times in each simulated world: read power against the sample size, and the "
                "null rows for how often a finding appears by chance.",
                body=body,
            )
        )
    figs = [fig(p, f"Rejection rate against n, scenario {name.removeprefix('power_')} "
                   "(95% intervals; dotted: α, dashed: 80% power).")
            for name, p in record.figures_like("power_")]
    if figs:
        out.append(Section("design-figures", "Power against sample size",
                           "Each line is one analysis; the intervals shrink with more trials.",
                           figures=figs))
    return out
