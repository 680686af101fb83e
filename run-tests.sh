#!/usr/bin/env bash
# Sets up a fresh machine (same steps as start-emulator.sh), lints, then runs the whole test
# suite (the Firebase JS SDK client tests, then pytest) against real emulators started from
# initial_data/ and stopped afterwards. Extra arguments go to pytest, e.g. ./run-tests.sh -k ledger -x
set -euo pipefail
source "$(dirname "$0")/scripts/setup.sh"
setup_all
cd "$ROOT"

echo "[run-tests] ruff check + format check"
LINT_PATHS=(functions/main.py functions/imagegen tests seed_config.py scripts bench)
"$VENV/bin/ruff" check "${LINT_PATHS[@]}"
"$VENV/bin/ruff" format --check --quiet "${LINT_PATHS[@]}"
echo "[run-tests] mypy"
"$VENV/bin/mypy" --no-error-summary

SUITE_CMD="$ROOT/scripts/run-suite.sh"
for arg in "$@"; do SUITE_CMD+=" $(printf '%q' "$arg")"; done

echo "[run-tests] starting the emulators and running the JS SDK tests and pytest"
run_firebase emulators:exec --project "$PROJECT_ID" --import initial_data \
  "${FIREBASE_CONFIG_ARGS[@]}" "$SUITE_CMD"
