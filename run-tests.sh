#!/usr/bin/env bash
# Sets up a fresh machine (same steps as start-emulator.sh), then runs every check against real
# emulators started from initial_data/ and stopped afterwards. What needs no emulator (ruff, the
# format check, mypy and the unit tests: every test not marked `emulator`) runs while the
# emulators start and the emulator tests run (the Firebase JS SDK client tests, then pytest
# -m emulator); its output follows theirs. The exit status is non-zero if anything failed.
# Extra arguments go to both pytest runs, e.g. ./run-tests.sh -k ledger -x
set -euo pipefail
# Python may cache compiled modules (and pytest its assertion-rewritten test modules): every
# Functions worker and every pytest process otherwise compiles them again.
unset PYTHONDONTWRITEBYTECODE
source "$(dirname "$0")/scripts/setup.sh"
setup_all
cd "$ROOT"

CHECKS_LOG="$STATE/checks.log"
echo "[run-tests] ruff, the format check, mypy and the unit tests run meanwhile (output at the end)"
setsid env -u FIRESTORE_EMULATOR_HOST "$ROOT/scripts/run-checks.sh" "$@" >"$CHECKS_LOG" 2>&1 </dev/null &
CHECKS_PID=$!
trap 'kill -TERM -- "-$CHECKS_PID" 2>/dev/null || true' EXIT

SUITE_CMD="$ROOT/scripts/run-suite.sh"
for arg in "$@"; do SUITE_CMD+=" $(printf '%q' "$arg")"; done

# The tests that change config/generation wait out its cache: 1 s in this run instead of 5 s
# (honoured only against the emulators, see imagegen.core.settings.controls_cache_seconds).
export CONTROLS_CACHE_SECONDS=1
echo "[run-tests] starting the emulators and running the JS SDK tests and pytest"
suite=0
run_firebase emulators:exec --project "$PROJECT_ID" --import initial_data \
  "${FIREBASE_CONFIG_ARGS[@]}" "$SUITE_CMD" || suite=$?

checks=0
wait "$CHECKS_PID" || checks=$?
trap - EXIT
cat "$CHECKS_LOG"
[ "$suite" -eq 0 ] || echo "[run-tests] FAILED: the emulator tests (exit $suite)" >&2
[ "$checks" -eq 0 ] || echo "[run-tests] FAILED: lint, mypy or the unit tests (see above)" >&2
exit $(( suite != 0 || checks != 0 ))
