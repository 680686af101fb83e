#!/usr/bin/env bash
# Regenerates initial_data/ (what the emulators import on start) from seed_config.py:
# starts empty Firestore and Auth emulators, seeds them, and exports on exit.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
setup_all
cd "$ROOT"
rm -rf initial_data.new
run_firebase emulators:exec --project "$PROJECT_ID" --only firestore,auth \
  "${FIREBASE_CONFIG_ARGS[@]}" --export-on-exit initial_data.new \
  "$VENV/bin/python seed_config.py --reset-users"
rm -rf initial_data
mv initial_data.new initial_data
echo "initial_data/ regenerated from seed_config.py"
