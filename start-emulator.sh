#!/usr/bin/env bash
# Sets up a fresh machine and starts the Firebase emulators (Auth, Functions, Firestore,
# Pub/Sub, Storage, Hosting with the console, and the Emulator UI when it can be had) for
# demo-imagegen with the seeded data from initial_data/. Ctrl-C stops everything it started.
#
#   ./start-emulator.sh                    # start with the seed data; changes are discarded
#   ./start-emulator.sh --export-on-exit   # also save the data to emulator-data/ on exit
#   ./start-emulator.sh --import emulator-data --export-on-exit   # resume saved data
set -euo pipefail

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }

IMPORT_DIR=""
EXPORT_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --import) IMPORT_DIR="${2:?--import needs a directory}"; shift 2 ;;
    --export-on-exit) if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then EXPORT_DIR="$2"; shift 2;
                      else EXPORT_DIR="emulator-data"; shift; fi ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/setup.sh
source "$(dirname "$0")/scripts/setup.sh"
setup_all
cd "$ROOT"

IMPORT_DIR="${IMPORT_DIR:-initial_data}"
[ -d "$IMPORT_DIR" ] || die "no data to import at $IMPORT_DIR"
ARGS=(emulators:start --project "$PROJECT_ID" --import "$IMPORT_DIR" "${FIREBASE_CONFIG_ARGS[@]}")
[ -n "$EXPORT_DIR" ] && ARGS+=(--export-on-exit "$EXPORT_DIR")

# Prints the endpoints once the functions answer; runs beside firebase and ends by itself.
announce_when_ready() {
  local base="http://127.0.0.1:5001/$PROJECT_ID/us-central1" i
  for i in $(seq 1 240); do
    if curl -fsS -o /dev/null "$base/health" 2>/dev/null; then
      cat <<BANNER

==================================================================================
 Emulators ready for $PROJECT_ID (seeded: testUser1 = 100 credits, testUser2 = 10)
   Console    http://127.0.0.1:5000  (sign in: testuser1@example.com or admin@example.com,
              password "password"; demo reports: functions/venv/bin/python scripts/demo_data.py)
   Functions  $base/<name>
              createGenerationRequest (POST)   getUserCredits (GET)
              getGenerationRequest (GET)       listGenerationRequests (GET)
              health (GET)   admin: grantCredits auditLedger recoverPendingRequests
                             generateWeeklyReport (see docs/operations.md)
              getGenerationImage (GET ?id=, the PNG of a completed request)
              callables (Firebase SDKs): generateImage getCredits getGeneration
                                         listGenerations cancelGeneration
   Firestore  127.0.0.1:8080    Auth 127.0.0.1:9099    Pub/Sub 127.0.0.1:8085
   Storage    127.0.0.1:9199 ($( [ -n "${STORAGE_FALLBACK:-}" ] && echo "gcp-storage-emulator" || echo "Firebase Storage emulator" )), bucket $PROJECT_ID.appspot.com
   Emulator UI $( [ -n "${EMULATOR_UI_DISABLED:-}" ] && echo "disabled (could not be downloaded)" || echo "http://127.0.0.1:4000" )
 Try:
   curl -s "$base/getUserCredits?userId=testUser1"
   curl -s -X POST "$base/createGenerationRequest" -H 'Content-Type: application/json' \\
     -d '{"userId":"testUser1","model":"model-a","style":"anime","color":"neon","size":"512x512","prompt":"a cat"}'
 Ctrl-C stops the emulators.
==================================================================================
BANNER
      return 0
    fi
    sleep 1
  done
  echo "[start-emulator] the functions did not answer within 240 s; see the log above." >&2
}

announce_when_ready &
ANNOUNCER=$!
trap 'kill "$ANNOUNCER" 2>/dev/null || true' EXIT
run_firebase "${ARGS[@]}"
