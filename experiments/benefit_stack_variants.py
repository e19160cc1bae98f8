"""Rules for the reported individual benefit, compared offline (issue 9, the null trial by trial).

Step 1, ``dump`` (the costly part, resumable): per simulated trial — the simulator, seeds and
config of `benefit_individual.py`, ``--n-boot 0`` — run the cross-fitting once and store in
``results/stack_variants/<scenario>_<n>_<seed>.npz`` (outside git): every learner's
out-of-fold benefit estimates, the DR pseudo-outcomes φ that judge them, the folds, every
learner's full-data estimate, the trial's Aalen–Johansen average, the outcome's event count
and — read only by the evaluation — the true benefit.

Step 2, ``evaluate`` (seconds): apply each rule of `RULES` to the dumps and write
``results/benefit_stack_variants.{md,json}``: per scenario × n, the RMSE of the rule's
estimate ÷ the RMSE of the trial average (mean, max), the null trials worse than the
average by more than 0.005, and Spearman's ρ with the truth. The rules never see the truth.

Scenario ``jm``: the joint-model simulator of issue 10 (`jm_simulator.py`; relapse truth only),
for the stack gate's study (`benefit_gate_rules.py`).

This script is also the rerunnable form of the former scratch pilot on the stack at n = 346
and on the nested cross-fitted test of the stack against the average (rules ``stack`` and
``honest_test`` at n = 346).

    nice -n 10 .venv/bin/python experiments/benefit_stack_variants.py dump --sizes 3000 \
        --scenarios null uniform mrd_driven harm_subgroup --stop-at 14:30
    .venv/bin/python experiments/benefit_stack_variants.py evaluate
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DUMPS = HERE / "results" / "stack_variants"
SCENARIOS = ("null", "uniform", "mrd_driven", "harm_subgroup")
SIZES = (346, 1000, 3000)
# the seeds of benefit_individual.jsonl: 1000-1015 (with intervals) and 2000-2019 (without)
SEEDS = tuple(range(1000, 1016)) + tuple(range(2000, 2020))
OUTCOMES = ("relapse", "rfs")


def dump_trial(scenario: str, n: int, seed: int, path: Path, stack_only: bool = False) -> float:
    """Cross-fit one trial and store what the rules need (and the truth) in ``path``;
    ``stack_only``: only the stack's candidates (enough where the outcome has ≥ 200 events:
    the select rule, which needs every learner, is then never applied)."""
    import warnings

    sys.path.insert(0, str(HERE))
    from benefit_simulation import lean_config

    from relapse_ml.benefit import run as R
    from relapse_ml.benefit.arm_stats import incidence_by_arm, outcome_for
    from relapse_ml.benefit.estimation import evaluation_targets
    from relapse_ml.benefit.learners import make_folds
    from relapse_ml.benefit.refit import fit_full
    from relapse_ml.benefit.reported import candidate_specs, outcome_events, stack_labels
    from relapse_ml.simulate import simulate_trial

    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    if scenario == "jm":  # issue 10's joint-model simulator (a common hazard ratio)
        from jm_simulator import simulate_jm

        trial = simulate_jm(n, seed)
    else:
        trial = simulate_trial(n=n, seed=seed, scenario=scenario, truth=True)
    cfg = lean_config(n_boot=100, interval_boot=0)
    data = R.benefit_data(trial.to_cohort(), cfg)
    folds = make_folds(data.arm, data.event, cfg.crossfit.n_folds, cfg.crossfit.seed)
    specs = candidate_specs(cfg)
    if stack_only:
        keep = stack_labels(specs)
        specs = [s for s in specs if s.display in keep]
    estimates, _, cache = R.cross_fit_learners(
        cfg, data, lambda *a: None, folds=folds, specs=specs
    )
    targets, _ = evaluation_targets(cfg, data, folds, cache)
    out = {"folds": np.asarray(folds), "labels": np.array(list(estimates))}
    for o in OUTCOMES:
        out[f"phi_{o}"] = targets[o]["phi"]
        out[f"events_{o}"] = outcome_events(data.time, data.event, data.tau, o)
        out[f"average_{o}"] = incidence_by_arm(
            data.time, outcome_for(data.event, o), data.arm, data.tau
        )["diff"]
        out[f"oof_{o}"] = np.column_stack([estimates[k].benefit[o] for k in estimates])
    full = {o: [] for o in OUTCOMES}
    for spec in specs:
        scales = estimates[spec.display].info.get("scale", {}) if spec.shrink else {}
        fitted = None if spec.shrink else fit_full(cfg, spec, data, folds).predict(data.X)
        for o in OUTCOMES:
            pred = fitted or fit_full(cfg, spec, data, folds, scales.get(o)).predict(data.X)
            full[o].append(pred[o])
    for o in OUTCOMES:
        out[f"full_{o}"] = np.column_stack(full[o])
    # ---- modelling ends here; the truth is stored for the evaluation only ----
    if scenario == "jm":  # its truth: the relapse benefit only (rfs: NaN, never scored)
        out["truth_relapse"] = trial.true_benefit(data.patient_id)
        out["truth_rfs"] = np.full(data.n, np.nan)
    else:
        truth = R.align_truth(trial.truth, data.patient_id)
        for o in OUTCOMES:
            out[f"truth_{o}"] = truth[R.TRUTH_COLUMNS[o]].to_numpy(float)
    assert list(out["labels"]) == [s.display for s in specs]
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **out)
    tmp.replace(path)
    return time.perf_counter() - start


def run_dumps(sizes, scenarios, seeds, stop=None, stack_only_from: int = 1000,
              out: Path = DUMPS) -> None:
    """Dump every missing (scenario, n, seed), seed by seed across the cells."""
    import datetime as dt

    out.mkdir(parents=True, exist_ok=True)
    tasks = [(sc, n, s) for s in seeds for n in sizes for sc in scenarios
             if not (out / f"{sc}_{n}_{s}.npz").exists()]
    print(f"{len(tasks)} trials to dump", flush=True)
    for k, (sc, n, s) in enumerate(tasks, 1):
        if stop is not None and dt.datetime.now(dt.UTC) >= stop:
            print("stopped at --stop-at", flush=True)
            break
        cpu = time.process_time()
        try:
            secs = dump_trial(sc, n, s, out / f"{sc}_{n}_{s}.npz", n >= stack_only_from)
        except Exception as err:  # a failed trial is reported, not fatal
            print(f"  {(sc, n, s)}: failed: {type(err).__name__}: {err}", flush=True)
            continue
        print(f"  {k}/{len(tasks)} {sc} {n} {s}: {secs:.0f} s wall, "
              f"{time.process_time() - cpu:.0f} s CPU", flush=True)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("dump", "evaluate"))
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    ap.add_argument("--stack-only-from", type=int, default=1000,
                    help="from this n on, cross-fit only the stack's candidates")
    ap.add_argument("--stop-at", default=None, help="UTC HH:MM: start no trial after it")
    ap.add_argument("--dumps", type=Path, default=DUMPS,
                    help="directory of the per-trial dumps (evaluate reads, dump writes)")
    ap.add_argument("--stem", default="benefit_stack_variants",
                    help="evaluate: write results/STEM.{jsonl,json,md}")
    ap.add_argument("--outcome", choices=OUTCOMES, default="relapse",
                    help="evaluate: the benefit judged (relapse, or relapse-or-death: rfs)")
    args = ap.parse_args(argv)
    if args.step == "dump":
        from benefit_simulation import stop_time

        run_dumps(args.sizes, args.scenarios, args.seeds, stop_time(args.stop_at),
                  args.stack_only_from,
                  args.dumps)
        return 0
    from benefit_stack_rules import evaluate_all, peer_rho

    peer = peer_rho(HERE / "results" / "benefit_individual.jsonl", args.outcome)
    print(evaluate_all(args.dumps, HERE / "results", args.outcome, sizes=args.sizes,
                       stem=args.stem, peer=peer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
