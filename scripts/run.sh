#!/usr/bin/env bash
# `make run`: the Temporal dev server (persisted in var/temporal.db), the worker and the
# demo portfolio with simulated borrowers. Ctrl-C stops everything; running it again
# resumes the persisted cases instead of opening them twice.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var

server_pid=""
worker_pid=""
stop_all() {
    trap - INT TERM EXIT
    echo
    echo "stopping: worker, then Temporal server"
    # Background jobs of a script ignore Ctrl-C, so they are stopped explicitly.
    [ -n "$worker_pid" ] && kill -TERM "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    echo "stopped"
}
trap stop_all INT TERM EXIT

if "$BIN/temporal" operator cluster health --address localhost:7233 >/dev/null 2>&1; then
    echo "a Temporal server already listens on localhost:7233; using it"
else
    search_attributes=$("$BIN/python" -c \
        'from workflows.search_attributes import CLI_TYPES as t; print(" ".join(f"--search-attribute {k}={v}" for k, v in t.items()))')
    # shellcheck disable=SC2086
    "$BIN/temporal" server start-dev \
        --db-filename var/temporal.db --port 7233 --ui-port 8233 --http-port 7243 \
        --log-level warn $search_attributes >var/temporal.log 2>&1 &
    server_pid=$!
    for _ in $(seq 1 60); do
        "$BIN/temporal" operator cluster health --address localhost:7233 >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { echo "Temporal server failed; see var/temporal.log"; exit 1; }
        sleep 1
    done
fi

"$BIN/python" starter.py migrate
"$BIN/python" worker.py >>var/worker.log 2>&1 &
worker_pid=$!

cat <<'BANNER'

  Temporal UI:   http://localhost:8233   (cases are workflows named collection-<loan id>)
  HTTP API:      http://localhost:7243   gRPC: localhost:7233
  Logs:          var/worker.log, var/temporal.log
  Try:           .venv/bin/python starter.py list --stage legal
  Ctrl-C stops everything; `make run` again resumes the same cases.

BANNER
"$BIN/python" starter.py demo
# Every demo case has ended (paid or written off): keep the UI browsable until Ctrl-C.
echo "every demo case has ended; the UI stays up until Ctrl-C (make reset for a fresh demo)"
wait "$worker_pid"
