#!/usr/bin/env bash
# The whole test suite, run inside the emulators by ./run-tests.sh (firebase emulators:exec):
# first the client tests with the official Firebase JS SDK (node --test), then pytest, whose
# session ends by auditing every user's books, the JS tests' users included. Both always run;
# the exit status is non-zero if either failed. Arguments go to pytest.
set -u
cd "$(dirname "$0")/.."
echo "[run-tests] Firebase JS SDK client tests (node --test tests/js)"
node --test --test-reporter=spec tests/js/
js=$?
echo "[run-tests] pytest"
functions/venv/bin/python -m pytest "$@"
py=$?
[ "$js" -eq 0 ] || echo "[run-tests] the JS SDK client tests failed" >&2
exit $(( js != 0 || py != 0 ))
