"""The careful statistician's peer on the same trials as a `benefit_individual.py` run (issue 9).

The issue's rank-correlation target compares the reported estimate with a careful
cross-fitted cause-specific Cox S-learner (arm × MRD, age, adverse cytogenetics, aGVHD).
`benefit_individual.py --lean` leaves that peer out to afford more trials; this script fits
it on exactly the trials (scenario, n, seed) recorded under the given tags, on the same
folds, so that every comparison is paired: per trial, Spearman ρ with the true benefit and
RMSE ÷ the trial average's, reported estimate beside the peer. Resumable (one JSON line per
trial in ``results/benefit_cox_peer_STEM.jsonl``); writes ``…_STEM.{json,md}``. The truth
is read here for evaluation only, after the peer is fitted.

    .venv/bin/python experiments/benefit_cox_peer.py --tags sum_rule_3000a sum_rule_3000c \\
        --scenarios cytogenetics_driven --stem stop24
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benefit_simulation import mean_range, read_records  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
OUTCOMES = ("relapse", "rfs")
KEY = ("scenario", "n", "seed")
PRIMARY = "s_fg"  # the default S-learner with the key arm interactions


def trials(tags, scenarios) -> list[dict]:
    """The recorded trials of ``tags`` (a trial recorded under two tags: the first tag's)."""
    out: dict = {}
    for tag in tags:
        recs = read_records(RESULTS / f"benefit_individual_{tag}.jsonl", KEY)
        for key, r in recs.items():
            if not scenarios or r["scenario"] in scenarios:
                out.setdefault(key, r)
    return list(out.values())


def run_peer(scenario: str, n: int, seed: int) -> dict:
    import warnings

    from benefit_individual import cox_peer, setup_trial

    from relapse_ml.benefit import run as R

    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    trial, _, cfg, data, folds = setup_trial(scenario, n, seed, n_boot=0)
    truth = R.align_truth(trial.truth, data.patient_id)  # evaluation only, after the fit
    peer = cox_peer(cfg, data, folds, truth)
    return {"scenario": scenario, "n": n, "seed": seed, **peer,
            "seconds": time.perf_counter() - start}


def paired(records: list[dict], peers: dict) -> tuple[dict, str]:
    """Per scenario × n × outcome: ρ and RMSE ratio of the reported estimate and of the peer
    over the same trials, the mean paired difference of ρ with its SE, and the count of
    trials the reported estimate ranks better; under the null, each one's excess over the
    trial average's RMSE."""
    cells: dict = {}
    nulls: dict = {}
    for r in records:
        p = peers.get((r["scenario"], r["n"], r["seed"]))
        if p is None or "failed" in p:
            continue
        if r["scenario"] == "null":  # benefit 0 for everyone: no ranking; the target is the
            for o in OUTCOMES:       # excess over the average's RMSE (≤ 0.005)
                rep, avg = r["reported"][o], r["reported"][o]["trial_average.truth_rmse"]
                c = nulls.setdefault((r["n"], o), {"seed": [], "reported": [], "cox": []})
                c["seed"].append(r["seed"])
                c["reported"].append(rep["reported.truth_rmse"] - avg)
                c["cox"].append(p["agreement"][o]["rmse"] - avg)
            continue
        for o in OUTCOMES:
            rep, avg = r["reported"][o], r["reported"][o]["trial_average.truth_rmse"]
            c = cells.setdefault((r["scenario"], r["n"], o), {k: [] for k in (
                "seed", "rho_reported", "rho_cox", "ratio_reported", "ratio_cox",
                "rho_primary", "ratio_primary")})
            c["seed"].append(r["seed"])
            c["rho_reported"].append(rep["reported.truth_spearman"])
            c["rho_cox"].append(p["agreement"][o]["spearman"])
            c["ratio_reported"].append(rep["reported.truth_rmse_ratio"])
            c["ratio_cox"].append(p["agreement"][o]["rmse"] / avg)
            own = r["learners"][o][PRIMARY]  # the learner alone, cross-fitted
            c["rho_primary"].append(own["spearman"])
            c["ratio_primary"].append(own["rmse"] / avg)
    lines = [
        "## Reported estimate beside the careful Cox S-learner, same trials (paired)",
        "",
        "Spearman ρ with each patient's true benefit and RMSE ÷ RMSE of the trial's "
        "Aalen–Johansen average, mean (min–max) over trials; Δρ = reported − careful Cox, "
        "mean ± its SE over trials; 'ahead': trials in which the reported estimate ranks "
        "better. A constant reported estimate has no ρ (its trials are left out of the ρ "
        f"columns and counted as behind). `{PRIMARY}` alone: the default key-interaction "
        "S-learner's own cross-fitted estimate on the same trials, before the reported rule "
        "(its gate) decides whether to use it.",
        "",
        "| scenario | n | outcome | trials (seeds) | ρ reported | ρ careful Cox | Δρ | ahead | "
        f"RMSE ratio reported | RMSE ratio careful Cox | ρ / RMSE ratio, {PRIMARY} alone |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    out = {}
    for (sc, n, o), c in sorted(cells.items()):
        rr = np.array([np.nan if v is None else v for v in c["rho_reported"]], float)
        rc = np.array(c["rho_cox"], float)
        d = rr - rc
        dd = d[np.isfinite(d)]
        se = float(dd.std(ddof=1) / np.sqrt(dd.size)) if dd.size > 1 else float("nan")
        ahead = int(np.sum(dd > 0))
        out[f"{sc}/{n}/{o}"] = {**c, "delta_rho": float(dd.mean()) if dd.size else None,
                                "delta_rho_se": se, "ahead": ahead}
        seeds = f"{min(c['seed'])}–{max(c['seed'])}"
        lines.append(
            f"| {sc} | {n:,} | {o} | {len(c['seed'])} ({seeds}) | {mean_range(rr)} | {mean_range(rc)} | "
            f"{dd.mean():+.2f} ± {se:.2f} | {ahead}/{len(c['seed'])} | "
            f"{mean_range(c['ratio_reported'], 3)} | {mean_range(c['ratio_cox'], 3)} | "
            f"{np.mean(c['rho_primary']):.2f} / {np.mean(c['ratio_primary']):.3f} |"
        )
    lines += [
        "",
        "Null (no benefit for anyone): RMSE minus the trial average's, worst over trials (trials "
        "above the target's 0.005).",
        "",
        "| n | outcome | trials (seeds) | reported: worst excess (> 0.005) | "
        "careful Cox: worst excess (> 0.005) | careful Cox: mean excess |",
        "|---|---|---|---|---|---|",
    ]
    for (n, o), c in sorted(nulls.items()):
        rep, cox = np.array(c["reported"]), np.array(c["cox"])
        out[f"null/{n}/{o}"] = c
        lines.append(
            f"| {n:,} | {o} | {len(rep)} ({min(c['seed'])}–{max(c['seed'])}) | "
            f"{rep.max():+.4f} ({int(np.sum(rep > 0.005))}) | "
            f"{cox.max():+.4f} ({int(np.sum(cox > 0.005))}) | {cox.mean():+.4f} |"
        )
    failed = sum("failed" in p for p in peers.values())
    lines += ["", f"The peer's fit did not converge in {failed} trial(s) (left out).", ""]
    return out, "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tags", nargs="+", required=True,
                    help="benefit_individual_TAG.jsonl files whose trials to pair with")
    ap.add_argument("--scenarios", nargs="*", default=None)
    ap.add_argument("--stem", required=True)
    ap.add_argument("--summarize", action="store_true", help="no new fits")
    args = ap.parse_args(argv)
    records = trials(args.tags, args.scenarios)
    path = RESULTS / f"benefit_cox_peer_{args.stem}.jsonl"
    peers = read_records(path, KEY)
    todo = [r for r in records if (r["scenario"], r["n"], r["seed"]) not in peers]
    if not args.summarize:
        print(f"{len(todo)} trials to fit ({len(records) - len(todo)} done)", flush=True)
        for k, r in enumerate(todo, 1):
            p = run_peer(r["scenario"], r["n"], r["seed"])
            peers[(p["scenario"], p["n"], p["seed"])] = p
            with path.open("a") as fh:
                fh.write(json.dumps(p, default=float) + "\n")
            print(f"  {k}/{len(todo)} {r['scenario']} {r['n']} {r['seed']} "
                  f"{p['seconds']:.0f} s", flush=True)
    summary, md = paired(records, peers)
    path.with_suffix(".json").write_text(json.dumps(summary, indent=1, default=float))
    path.with_suffix(".md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
