"""Where a training run spends its threads' time: a py-spy profile summarised by function.

cProfile (`bench_train.py --profile`) sees only the main thread, which mostly waits on the
joblib threads doing the fits and bootstrap replicates. py-spy (a sampling profiler; not a
project dependency — install it apart, e.g. ``pip install --target /tmp/pyspy py-spy``)
samples every thread. Record the default training on a simulated cohort, then summarise:

    /tmp/pyspy/bin/py-spy record --format raw --rate 50 -o /tmp/prof.txt -- \\
        .venv/bin/python experiments/profile_threads.py train 20000
    .venv/bin/python experiments/profile_threads.py summarize /tmp/prof.txt \\
        --out experiments/results/profile_train_20000_pyspy.txt --note "commit 1012f36"

The summary: inclusive thread-seconds per function (a thread waiting on the GIL counts), the
top ``--top``; what fraction of the run a function takes is its seconds ÷ the total.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"(.*) \((.*?)(?::\d+)?\)$")


def train(n: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_train import config

    from relapse_ml.data import read_cohort
    from relapse_ml.simulate import simulate_trial
    from relapse_ml.train import run_training

    with tempfile.TemporaryDirectory() as tmp:
        cohort = read_cohort(simulate_trial(n, seed=0).write(Path(tmp) / "c"))
        t0, c0 = time.perf_counter(), time.process_time()
        run_training(config("default", None), cohort, track=False,
                     progress=lambda m: print(round(time.perf_counter() - t0, 1), m, flush=True))
        print(f"total {time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} CPU s")


def summarize(raw: Path, rate: int, top: int, note: str) -> str:
    inclusive: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        names = set()
        for frame in stack.split(";"):
            m = FRAME.match(frame)
            names.add(f"{m.group(1)} {m.group(2).split('/')[-1]}" if m else frame)
        for name in names:
            inclusive[name] += n
    lines = [
        f"# relapse-ml train, default config; {note}",
        f"# py-spy `record --format raw --rate {rate}` over every thread (joblib workers included);",
        f"# inclusive seconds of thread time per function (a thread waiting on the GIL counts), top {top};",
        f"# {total} samples = {total / rate:.0f} thread-seconds",
    ]
    lines += [f"{v / rate:8.1f}  {k}" for k, v in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    t = sub.add_parser("train")
    t.add_argument("n", type=int)
    s = sub.add_parser("summarize")
    s.add_argument("raw", type=Path)
    s.add_argument("--rate", type=int, default=50)
    s.add_argument("--top", type=int, default=60)
    s.add_argument("--note", default="")
    s.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.step == "train":
        train(args.n)
        return
    text = summarize(args.raw, args.rate, args.top, args.note)
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
