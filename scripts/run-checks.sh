#!/usr/bin/env bash
# What ./run-tests.sh checks without the emulators, while they run: ruff, the format check,
# mypy, then the unit tests (pytest -m "not emulator"; arguments go to pytest). All run; the exit
# status is non-zero if any failed. A pytest run that selects no test (exit 5) is not a failure:
# the arguments may name emulator tests only.
set -u
cd "$(dirname "$0")/.."
VENV=functions/venv
LINT_PATHS=(functions/main.py functions/imagegen tests seed_config.py scripts bench)
failed=()
echo "[run-tests] ruff check + format check"
"$VENV/bin/ruff" check "${LINT_PATHS[@]}" || failed+=("ruff check")
"$VENV/bin/ruff" format --check --quiet "${LINT_PATHS[@]}" || failed+=("ruff format --check")
echo "[run-tests] mypy"
"$VENV/bin/mypy" --no-error-summary || failed+=(mypy)
echo "[run-tests] unit tests (pytest -m 'not emulator', no emulator needed)"
"$VENV/bin/python" -m pytest -m "not emulator" "$@"
status=$?
[ "$status" -eq 0 ] || [ "$status" -eq 5 ] || failed+=("unit tests")
[ "${#failed[@]}" -eq 0 ] && exit 0
echo "[run-tests] failed: ${failed[*]}" >&2
exit 1
