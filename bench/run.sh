#!/usr/bin/env bash
# Starts the emulators (same set-up as ./run-tests.sh), runs the benchmarks, stops them.
# Arguments go to bench_api.py, e.g. ./bench/run.sh --quick; ./bench/run.sh --reports runs
# bench_reports.py instead (arguments after it go there).
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
setup_all
cd "$ROOT"
SCRIPT=bench/bench_api.py
if [ "${1:-}" = "--reports" ]; then SCRIPT=bench/bench_reports.py; shift; fi
CMD="$VENV/bin/python $SCRIPT"
for arg in "$@"; do CMD+=" $(printf '%q' "$arg")"; done
run_firebase emulators:exec --project "$PROJECT_ID" --import initial_data \
  "${FIREBASE_CONFIG_ARGS[@]}" "$CMD"
