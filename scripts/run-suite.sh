#!/usr/bin/env bash
# The emulator tests, run inside the emulators by ./run-tests.sh (firebase emulators:exec):
# 1. pytest -m emulator in TEST_PROCESSES processes (pytest-xdist) for the tests that can share
#    the emulators (each acts on users, requests and catalog entries of its own), while the
#    client tests with the official Firebase JS SDK (node --test) run beside them;
# 2. the `serial` tests, one at a time and alone: they change or sweep what every test shares
#    (config/generation, every user's pending or deleted requests, every request document);
#    then the `bulk_data` tests in parallel (weeks of report data, some of it pending, which
#    the sweeps must not find);
# 3. the `browser` tests, last: the Firestore emulator keeps re-running every listener a page
#    opened on each later write, which slows every write after them;
# 4. the books, once: the ledger audit over every user (the JS tests' users included) and the
#    independent check of every user the pytest sessions touched (tests/emulator/books_after_suite.py).
# All run; the exit status is non-zero if any failed. Arguments go to the pytest sessions; a
# session that selects no test (exit 5: the arguments name other tests) is not a failure.
set -u
cd "$(dirname "$0")/.."
PYTEST=(functions/venv/bin/python -m pytest)
PROCESSES="${TEST_PROCESSES:-4}"
mkdir -p .emulators
export BOOKS_TOUCHED_USERS_FILE="$PWD/.emulators/touched-users.txt"
: >"$BOOKS_TOUCHED_USERS_FILE"
JS_LOG=.emulators/js-tests.log
failed=()

# Runs pytest "$@"; a session that selected no test is not a failure.
run_pytest() {
  local what="$1" status
  shift
  "${PYTEST[@]}" "$@"
  status=$?
  [ "$status" -eq 0 ] || [ "$status" -eq 5 ] || failed+=("$what")
}

echo "[run-tests] Firebase JS SDK client tests (node --test tests/js), beside the first pytest session (output after it)"
node --test --test-reporter=spec tests/js/ >"$JS_LOG" 2>&1 &
JS_PID=$!

echo "[run-tests] pytest -m emulator, $PROCESSES processes: the tests that share the emulators"
run_pytest "emulator tests (parallel)" \
  -m "emulator and not serial and not browser and not bulk_data" -n "$PROCESSES" "$@"

js=0
wait "$JS_PID" || js=$?
echo "[run-tests] Firebase JS SDK client tests (node --test tests/js)"
cat "$JS_LOG"
[ "$js" -eq 0 ] || failed+=("JS SDK client tests")

# Without arguments, the later sessions collect only the files that hold their tests.
serial_args=("$@") bulk_args=("$@") browser_args=("$@")
if [ "$#" -eq 0 ]; then
  mapfile -t serial_args < <(grep -rl --include='test_*.py' 'pytest.mark.serial' tests/emulator)
  mapfile -t bulk_args < <(grep -rl --include='test_*.py' 'pytest.mark.bulk_data' tests/emulator)
  mapfile -t browser_args < <(grep -rl --include='test_*.py' 'pytest.mark.browser' tests/emulator)
fi

echo "[run-tests] pytest -m 'emulator and serial': the tests that run alone"
run_pytest "emulator tests (serial)" -m "emulator and serial and not browser" "${serial_args[@]}"

echo "[run-tests] pytest -m 'emulator and bulk_data', $PROCESSES processes: weeks of report data"
run_pytest "report data tests (parallel)" -m "emulator and bulk_data and not serial and not browser" \
  -n "$PROCESSES" "${bulk_args[@]}"

echo "[run-tests] pytest -m 'emulator and browser': the console in Chromium"
run_pytest "browser tests" -m "emulator and browser" "${browser_args[@]}"

echo "[run-tests] the books after every test: the ledger audit and the touched users' check"
run_pytest "the books after the suite" tests/emulator/books_after_suite.py -q

[ "${#failed[@]}" -eq 0 ] && exit 0
echo "[run-tests] failed: ${failed[*]}" >&2
exit 1
