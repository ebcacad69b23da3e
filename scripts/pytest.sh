#!/usr/bin/env bash
# Runs pytest and exits with the status pytest itself reported.
#
# A Python process that used a Temporal client can crash while the interpreter shuts
# down, after the tests have finished; its exit code would then hide a pass or a
# failure. tests/conftest.py writes pytest's own status to a file at session end.
set -u
cd "$(dirname "$0")/.."
status_file=$(mktemp)
trap 'rm -f "$status_file"' EXIT
PYTEST_STATUS_FILE="$status_file" .venv/bin/python -m pytest "$@"
process_status=$?
reported=$(cat "$status_file")
if [ -z "$reported" ]; then
    echo "pytest ended (exit $process_status) before reporting a result" >&2
    [ "$process_status" -ne 0 ] && exit "$process_status"
    exit 1
fi
if [ "$reported" != "$process_status" ]; then
    echo "note: pytest reported $reported; the interpreter exited with $process_status at shutdown" >&2
fi
exit "$reported"
