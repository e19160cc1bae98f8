"""The report's sections, each with a one-sentence reading guide: the shared ones here (run,
cohort, screening flow, incidence with numbers at risk, limitations), the rest per kind of
run in ``sections_train`` / ``sections_benefit`` / ``sections_tune``.

A section appears when the run holds what it shows (a figure, a table, a metric); the
cohort sections need the run's own cohort, checked by fingerprint in `build.check_cohort`.
"""

from __future__ import annotations

import html

import numpy as np

from relapse_ml.report.html import (
    Figure,
    Section,
    consort_html,
    date_text,
    fig,
    key_values,
    num,
    paragraph,
    pct,
    table,
)
from relapse_ml.report.sections_benefit import benefit_sections, subgroup_sections
from relapse_ml.report.sections_design import design_sections
from relapse_ml.report.sections_train import train_sections
from relapse_ml.report.sections_tune import tune_sections


def build_sections(record, cohort, linked: dict, notes: list[str]) -> list[Section]:
    """All sections for ``record`` (a `build.RunRecord`), in reading order."""
    L = record.param_float("landmark.landmark_day", 60.0)
    H = record.param_float("landmark.horizon_days", 730.0)
    view = None
    if cohort is not None:
        from relapse_ml.report.cohort import cohort_view

        view = cohort_view(cohort, L, H)
    out = [overview(record, view, linked)]
    out += [
        s
        for s in (cohort_counts(record, view), consort(cohort, view), incidence(record, view))
        if s is not None
    ]
    kind = {
        "train": train_sections,
        "benefit": benefit_sections,
        "subgroups": subgroup_sections,
        "tune": tune_sections,
        "design": design_sections,
    }[record.kind]
    out += kind(record, linked)
    out.append(limitations(record, view))
    return out


# -- shared sections ------------------------------------------------------------------------
def overview(record, view, linked: dict) -> Section:
    t = record.tags
    L = record.param_float("landmark.landmark_day")
    H = record.param_float("landmark.horizon_days")
    model = {
        "train": t.get("relapse_ml.final_model"),
        "benefit": t.get("relapse_ml.primary_learner"),
        "tune": t.get("best.model"),
        "subgroups": "Aalen–Johansen and Cox by subgroup",
        "design": "simulated trials (relapse-ml design)",
    }
    pairs = [
        ("run id", record.run_id),
        ("run name", record.name),
        ("kind", record.kind),
        ("started", date_text(record.start_time)),
        ("status", record.status),
        ("experiment", record.experiment),
        ("git commit", t.get("relapse_ml.git_commit", "unknown")),
        ("data", t.get("relapse_ml.data_name", "unknown")),
        ("data fingerprint (SHA-256)", record.fingerprint or "not recorded"),
        ("model" if record.kind != "benefit" else "primary learner", model.get(record.kind) or "–"),
    ]
    if record.model_versions:
        pairs.append(("registered as", ", ".join(record.model_versions)))
    if L is not None and H is not None:
        pairs.append(
            (
                "landmark",
                f"day {L:g} after transplant; outcomes counted from the "
                f"landmark up to {H:g} days later",
            )
        )
    tau = t.get("relapse_ml.tau_days")
    if tau:
        pairs.append(
            (
                "τ (horizon read at)",
                f"{float(tau):g} days after the landmark (the data "
                "are censored at exactly the horizon)",
            )
        )
    pairs.append(
        (
            "cohort checked",
            f"yes: {view.name}, same fingerprint"
            if view is not None
            else "no (see the note above)",
        )
    )
    for kind, rid in ((k, r.run_id) for k, r in linked.items()):
        pairs.append(
            (f"{kind} run shown too", f"{rid} (same data fingerprint, landmark and horizon)")
        )
    return Section(
        "overview",
        "Run",
        "Which run this report describes, on which data and code: the data "
        "fingerprint and git commit identify exactly what was analysed, without revealing any "
        "patient.",
        body=key_values(pairs),
    )


def cohort_counts(record, view) -> Section | None:
    guide = (
        "Who entered the analysis and what happened to them: patients alive and "
        "relapse-free at the landmark (at risk), by arm, and their first event within the "
        "horizon; every later figure describes these patients."
    )
    if view is not None:
        from relapse_ml.report.cohort import outcome_counts

        c = outcome_counts(view)
        rows = [
            [
                r.arm,
                r.patients,
                r.at_risk,
                r.relapse,
                r.nrm,
                r.censored,
                r.event_free_at_horizon,
                num(r.median_followup, 0),
            ]
            for r in c.itertuples()
        ]
        body = table(
            [
                "arm",
                "patients",
                f"at risk at day {view.landmark_day:g}",
                "relapses",
                "non-relapse deaths",
                "censored before horizon",
                "event-free at horizon",
                "median follow-up (days)",
            ],
            rows,
            ["final" if r.arm == "total" else "" for r in c.itertuples()],
        )
        body += paragraph(
            f"Events within {view.horizon_days:g} days of the landmark; median "
            "follow-up from the landmark by reverse Kaplan–Meier (capped at the "
            "horizon).",
            "note",
        )
        return Section("cohort", "Cohort", guide, body=body)
    m = record.metrics
    if record.kind == "train" and "n_rows" in m:
        rows = [
            [
                "all",
                int(m.get("n_patients", np.nan)),
                int(m["n_rows"]),
                int(m.get("n_relapse", 0)),
                int(m.get("n_nrm", 0)),
                int(m.get("n_censored", 0)),
            ]
        ]
        body = table(
            [
                "arm",
                "patients",
                "rows at risk",
                "relapses",
                "non-relapse deaths",
                "censored or event-free at horizon",
            ],
            rows,
        )
        return Section(
            "cohort",
            "Cohort",
            guide,
            body=body
            + paragraph("From the run's metrics (no cohort given, so no split by arm).", "note"),
        )
    summary = record.json("tables/benefit_summary.json")
    if summary and summary.get("arms"):
        rows = [[arm, c["patients"], c["relapses"], c["nrm"]] for arm, c in summary["arms"].items()]
        body = table(["arm", "randomized patients at risk", "relapses", "non-relapse deaths"], rows)
        if summary.get("not_randomized_left_out"):
            body += paragraph(
                f"{summary['not_randomized_left_out']} patients without an arm were left out.",
                "note",
            )
        return Section(
            "cohort",
            "Cohort",
            guide,
            body=body + paragraph("From the run's summary (no cohort given).", "note"),
        )
    return None


def consort(cohort, view) -> Section | None:
    if view is None:
        return None
    from relapse_ml.report.cohort import consort_flow

    flow = consort_flow(cohort, view)
    return Section(
        "consort",
        "Screening and patient flow (CONSORT-style)",
        "Read top to bottom: how many patients the trial's criteria (as code) would screen out "
        "and why, how many were in each arm, and how many were still alive and relapse-free at "
        "the landmark, where every analysis starts.",
        body=consort_html(flow, view.name, view.landmark_day, view.horizon_days),
    )


def incidence(record, view) -> Section | None:
    guide = (
        "Solid lines: cumulative incidence of relapse, dashed: of death without relapse, by "
        "arm and counted from the landmark (Aalen–Johansen, each event a competing risk of "
        "the other, never 1 − Kaplan–Meier); the numbers at risk below say how many patients "
        "each part of the curve rests on."
    )
    if view is not None:
        from relapse_ml.report.figures import (
            figure_bytes,
            incidence_at,
            plot_incidence_with_risk_table,
            png_data_uri,
        )

        chart = plot_incidence_with_risk_table(
            view.time,
            view.event,
            view.arm,
            view.horizon_days,
            title=f"Relapse and non-relapse death from day {view.landmark_day:g}, by arm",
        )
        horizons = sorted({min(365.0, view.horizon_days), view.horizon_days})
        inc = incidence_at(view.time, view.event, view.arm, horizons)
        rows = [
            [r.group, f"{r.horizon:g}", r.n, pct(r.relapse), pct(r.nrm)] for r in inc.itertuples()
        ]
        return Section(
            "incidence",
            "Cumulative incidence by arm",
            guide,
            figures=[
                Figure(
                    png_data_uri(figure_bytes(chart)),
                    "Aalen–Johansen cumulative incidence from the landmark, "
                    "numbers at risk at each tick.",
                )
            ],
            after=table(
                [
                    "arm",
                    "days after landmark",
                    "at risk at landmark",
                    "relapse",
                    "non-relapse death",
                ],
                rows,
            ),
        )
    path = record.figure("cif_by_arm")
    if path is None:
        return None
    return Section(
        "incidence",
        "Cumulative incidence by arm",
        guide,
        body=paragraph(
            "Drawn at training time; the numbers at risk need the run's "
            "cohort (pass it with --data).",
            "note",
        ),
        figures=[
            fig(
                path,
                "Aalen–Johansen cumulative incidence from the landmark (from the run's artifacts).",
            )
        ],
    )


def limitations(record, view) -> Section:
    data = record.tags.get("relapse_ml.data_name", "")
    lines = []
    if data.startswith("sim"):
        lines.append(
            "The data are simulated: the results describe the simulator's assumptions, "
            "not patients, and show what the methods can recover when those assumptions hold."
        )
    if record.kind in ("train", "tune"):
        lines.append(
            "Metrics are cross-validated within one cohort: they estimate performance in "
            "similar patients and are no substitute for external validation in another "
            "centre or period."
        )
        lines.append(
            "The model predicts risk from data recorded by the landmark; it does not "
            "apply before the landmark, to patients outside its training ranges, or to "
            "the effect of changing a treatment."
        )
    if record.kind in ("benefit", "subgroups"):
        lines.append(
            "Benefit estimates rest on the randomized comparison; individual estimates "
            "are noisy (wide intervals), and subgroup findings are hypotheses unless an "
            "interaction test survives the multiplicity correction."
        )
    lines.append(
        "Feature importances and SHAP values describe what the model does with each "
        "feature, not what the feature does to the patient: they are not causal effects."
    )
    lines.append(
        "The curves and calibration grow unreliable where few patients remain at risk; "
        "read the numbers at risk and the intervals before the point estimates."
    )
    body = "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"
    return Section(
        "limitations",
        "Limitations",
        "What this report cannot tell you: read it before acting on any number above.",
        body=body,
    )
