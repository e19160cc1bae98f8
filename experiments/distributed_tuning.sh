#!/usr/bin/env bash
# Two `relapse-ml tune` workers at once against one study in PostgreSQL, then a check.
#
# Starts a private PostgreSQL server (installing the Debian package `postgresql` first when
# its binaries are missing), creates a database, launches two workers on one study, waits,
# finalizes the study once, and checks with optuna that the study holds the requested
# number of finished trials, from both workers, none duplicated. The server and its
# temporary directory are removed on exit. Exit status 0 only when every check passes.
#
#   experiments/distributed_tuning.sh            # TRIALS=6 by default
#   PG_URL=postgresql://u:pw@host:5432/db experiments/distributed_tuning.sh   # use a running server
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
TRIALS="${TRIALS:-6}"
STUDY="distributed-check"
say() { echo "[distributed_tuning] $*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/relapse-ml-pg.XXXXXX")"
chmod 755 "$WORK"
PG_BIN=""
AS_PG=()

cleanup() {
    local status=$?
    if [[ -n "$PG_BIN" && -f "$WORK/pgdata/postmaster.pid" ]]; then
        "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -m fast -w stop >/dev/null 2>&1 || true
    fi
    if [[ -n "${KEEP_WORK:-}" ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

find_pg_bin() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { echo "$d"; return 0; }
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

start_private_server() {
    if ! PG_BIN="$(find_pg_bin)"; then
        if [[ "$(id -u)" -ne 0 ]]; then
            say "PostgreSQL is not installed and this is not root: install the Debian package 'postgresql'"
            exit 1
        fi
        say "installing PostgreSQL (Debian package 'postgresql')"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends postgresql >&2
        PG_BIN="$(find_pg_bin)" || { say "PostgreSQL binaries not found after installing"; exit 1; }
    fi
    mkdir -p "$WORK/pgdata" "$WORK/sock"
    if [[ "$(id -u)" -eq 0 ]]; then
        # PostgreSQL refuses to run as root: the server runs as the 'postgres' system user
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$WORK" --shell /bin/sh postgres
        chown postgres "$WORK/pgdata" "$WORK/sock"
        if command -v runuser >/dev/null; then AS_PG=(runuser -u postgres --); else AS_PG=(su postgres -s /bin/sh -c); fi
    fi
    chmod 700 "$WORK/pgdata"
    local port
    port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    say "starting a private PostgreSQL ($PG_BIN) on 127.0.0.1:$port"
    run_pg "$PG_BIN/initdb" -D "$WORK/pgdata" -U tuner -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 \
        || { cat "$WORK/initdb.log" >&2; exit 1; }
    # fsync off: a throw-away server for a check, not for data anyone keeps
    run_pg "$PG_BIN/pg_ctl" -D "$WORK/pgdata" -l "$WORK/sock/server.log" -w -t 60 \
        -o "-p $port -k $WORK/sock -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null \
        || { cat "$WORK/sock/server.log" >&2; exit 1; }
    run_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U tuner optuna
    PG_URL="postgresql://tuner@127.0.0.1:$port/optuna"
}

run_pg() {
    if [[ ${#AS_PG[@]} -eq 0 ]]; then "$@"
    elif [[ "${AS_PG[0]}" == su ]]; then "${AS_PG[@]}" "$(printf '%q ' "$@")"
    else "${AS_PG[@]}" "$@"
    fi
}

if [[ -z "${PG_URL:-}" ]]; then start_private_server; fi

# a small cohort and a quick model: the point is the coordination, not the fit
"$PY" -m relapse_ml.cli simulate --n 300 --seed 11 --out "$WORK/cohort" >/dev/null
cat >"$WORK/tune.yaml" <<EOF
name: $STUDY
models:
  - name: xgb_cs
    params: {n_estimators: 150, early_stopping_rounds: null, n_jobs: 1}
    search_space:
      learning_rate: {type: float, low: 0.01, high: 0.3, log: true}
      max_depth: {type: int, low: 1, high: 4}
      subsample: {type: float, low: 0.5, high: 1.0}
evaluation: {n_splits: 3, n_boot: 20}
study: {n_trials: $TRIALS, pruner: none, sampler_startup_trials: 4, heartbeat_interval: 5, grace_period: 20}
EOF

say "two workers on study '$STUDY', $TRIALS trials in all"
pids=()
for w in 1 2; do
    (cd "$WORK" && exec timeout 600 "$PY" -m relapse_ml.cli tune --config tune.yaml --data cohort \
        --storage "$PG_URL" --study "$STUDY" --no-track --no-finalize >"worker$w.log" 2>&1) &
    pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        say "worker $((i + 1)) failed:"; cat "$WORK/worker$((i + 1)).log" >&2; failed=1
    fi
done
[[ $failed -eq 0 ]] || exit 1

say "finalizing once (runs no new trial: the study is full)"
(cd "$WORK" && timeout 600 "$PY" -m relapse_ml.cli tune --config tune.yaml --data cohort --storage "$PG_URL" \
    --study "$STUDY" --no-track --json >final.json 2>final.log) || { cat "$WORK/final.log" >&2; exit 1; }

if "$PY" - "$PG_URL" "$STUDY" "$TRIALS" "$WORK/final.json" <<'EOF'
import json, sys
import optuna
from optuna.trial import TrialState

url, name, n, final = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.load(open(sys.argv[4]))
optuna.logging.set_verbosity(optuna.logging.ERROR)
from relapse_ml.tuning.storage import driver_url
trials = optuna.load_study(study_name=name, storage=driver_url(url)).get_trials(deepcopy=False)
done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
workers = {t.user_attrs.get("worker") for t in done}
params = [tuple(sorted(t.params.items())) for t in done]
numbers = [t.number for t in trials]
problems = []
if len(done) != n:
    problems.append(f"{len(done)} finished trials, expected {n}")
if len(workers - {None}) < 2:
    problems.append(f"finished trials come from {len(workers)} worker(s): {sorted(map(str, workers))}")
if len(set(params)) != len(params):
    problems.append("two finished trials share their parameters")
if len(set(numbers)) != len(numbers):
    problems.append("a trial number appears twice")
if any(t.state == TrialState.RUNNING for t in trials):
    problems.append("a trial is still RUNNING after both workers exited")
if final.get("n_run_now") != 0 or not final.get("best") or not final.get("validation"):
    problems.append(f"the finalizing call ran {final.get('n_run_now')} trials or gave no validation")
by_worker = {w: sum(t.user_attrs.get("worker") == w for t in done) for w in workers}
print(json.dumps({"finished": len(done), "all_trials": len(trials), "by_worker": by_worker,
                  "best_trial": final.get("best", {}).get("number"), "problems": problems}))
sys.exit(1 if problems else 0)
EOF
then
    say "ok"
else
    for w in 1 2; do say "worker $w log:"; cat "$WORK/worker$w.log" >&2; done
    exit 1
fi
