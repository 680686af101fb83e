#!/usr/bin/env bash
# The emulator tests, run inside the emulators by ./run-tests.sh (firebase emulators:exec):
# first the client tests with the official Firebase JS SDK (node --test), then pytest -m
# emulator, whose session ends by auditing every user's books, the JS tests' users included.
# Both always run; the exit status is non-zero if either failed. Arguments go to pytest; a run
# that selects no emulator test (exit 5: the arguments name unit tests only) is not a failure.
set -u
cd "$(dirname "$0")/.."
echo "[run-tests] Firebase JS SDK client tests (node --test tests/js)"
node --test --test-reporter=spec tests/js/
js=$?
echo "[run-tests] pytest -m emulator"
functions/venv/bin/python -m pytest -m emulator "$@"
py=$?
[ "$py" -ne 5 ] || py=0
[ "$js" -eq 0 ] || echo "[run-tests] the JS SDK client tests failed" >&2
exit $(( js != 0 || py != 0 ))
