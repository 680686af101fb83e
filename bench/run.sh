#!/usr/bin/env bash
# Starts the emulators (same set-up as ./run-tests.sh), runs the benchmarks, stops them.
# Arguments go to bench_api.py, e.g. ./bench/run.sh --quick
set -euo pipefail
source "$(dirname "$0")/../scripts/setup.sh"
setup_all
cd "$ROOT"
CMD="$VENV/bin/python bench/bench_api.py"
for arg in "$@"; do CMD+=" $(printf '%q' "$arg")"; done
run_firebase emulators:exec --project "$PROJECT_ID" --import initial_data \
  "${FIREBASE_CONFIG_ARGS[@]}" "$CMD"
