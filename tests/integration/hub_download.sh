#!/usr/bin/env bash
# Model ids end to end against a local stand-in for the Hugging Face hub and ModelScope (tests/integration/hub/
# hub_server.py over HTTPS with a certificate made here): listing and download into the cache, the cache layout,
# resume after a cut connection and after a killed process, checksum mismatch, unknown and gated models, offline
# mode, an unreachable hub, two concurrent downloads into one cache, and `tessera generate --model org/name`.
# Needs python3 (standard library only) and the openssl command.
set -euo pipefail

source "$(dirname "$0")/lib/checks.bash"

SERVER_SCRIPT="${TESSERA_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/integration/hub/hub_server.py"
FIXTURE="$TESSERA_FIXTURES_DIR/models/tiny-llama"
MODEL=tessera-test/tiny-llama
GATED=tessera-test/gated-llama
SERVER_PIDS=()

cleanup() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT

command -v python3 >/dev/null || { echo "FAIL: python3 is needed for the local hub" >&2; exit 1; }
command -v openssl >/dev/null || { echo "FAIL: the openssl command is needed for the test certificate" >&2; exit 1; }

# Only what each case sets reaches tessera: no token, mirror or offline switch from the caller's environment.
unset HF_TOKEN HUGGING_FACE_HUB_TOKEN HF_ENDPOINT HF_HUB_OFFLINE TESSERA_OFFLINE MODELSCOPE_DOMAIN \
  MODELSCOPE_API_TOKEN TESSERA_CACHE CURL_CA_BUNDLE REQUESTS_CA_BUNDLE SSL_CERT_FILE
export https_proxy="" HTTPS_PROXY="" http_proxy="" HTTP_PROXY="" no_proxy="127.0.0.1,localhost"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$WORK_DIR/key.pem" -out "$WORK_DIR/cert.pem" >/dev/null 2>&1
export TESSERA_CA_BUNDLE="$WORK_DIR/cert.pem"

# start_server NAME [hub_server.py switches...]: serves the fixture as $MODEL and $GATED; sets PORT, LOG and PID.
start_server() {
  local name="$1"
  shift
  LOG="$WORK_DIR/$name.log"
  rm -f "$WORK_DIR/$name.port"
  python3 "$SERVER_SCRIPT" --model "$MODEL=$FIXTURE" --model "$GATED=$FIXTURE" --cert "$WORK_DIR/cert.pem" \
    --key "$WORK_DIR/key.pem" --port-file "$WORK_DIR/$name.port" --log "$LOG" "$@" 2>"$WORK_DIR/$name.stderr" &
  PID=$!
  SERVER_PIDS+=("$PID")
  local i
  for i in $(seq 1 300); do
    [[ -s "$WORK_DIR/$name.port" ]] && break
    kill -0 "$PID" 2>/dev/null || { echo "FAIL: hub server $name died: $(cat "$WORK_DIR/$name.stderr")" >&2; exit 1; }
    sleep 0.1
  done
  [[ -s "$WORK_DIR/$name.port" ]] || { echo "FAIL: hub server $name did not start" >&2; exit 1; }
  PORT="$(cat "$WORK_DIR/$name.port")"
  touch "$LOG"
}

stop_server() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# hub_env CACHE: environment pointing tessera at the local hub (HTTPS) with the cache CACHE.
hub_env() {
  echo "HF_ENDPOINT=https://127.0.0.1:$PORT MODELSCOPE_DOMAIN=127.0.0.1:$PORT TESSERA_CACHE=$1"
}

# run_download CACHE ARGS...: runs `tessera download ARGS` against the local hub; output in $OUT and $ERR, exit in $RC.
run_download() {
  local cache="$1"
  shift
  OUT="$WORK_DIR/out"
  ERR="$WORK_DIR/err"
  RC=0
  env $(hub_env "$cache") "$TESSERA_BIN" download "$@" >"$OUT" 2>"$ERR" || RC=$?
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

REPO_DIR_NAME=models--tessera-test--tiny-llama
DEFAULT_FILES=(config.json generation_config.json tokenizer.json tokenizer_config.json model.safetensors
  golden.safetensors)
MODEL_SHA="$(sha256_of "$FIXTURE/model.safetensors")"

# check_snapshot NAME DIR FILES...: every file in DIR equals the fixture's.
check_snapshot() {
  local name="$1" dir="$2" f
  shift 2
  for f in "$@"; do
    if ! cmp -s "$dir/$f" "$FIXTURE/$f"; then
      fail "$name: $dir/$f differs from the fixture or is missing"
      return
    fi
  done
  pass "$name: ${#} files equal the fixture"
}

# no_leftovers NAME CACHE: no .incomplete blob or temporary name anywhere in CACHE.
no_leftovers() {
  local found
  found="$(find "$2" -name '*.incomplete' -o -name '*.tmp-*' | head -n 3)"
  if [[ -n "$found" ]]; then fail "$1: left over in the cache: $found"; else pass "$1: no partial files left"; fi
}

start_server main
MAIN_PID=$PID
MAIN_PORT=$PORT

# --- Hugging Face layout: listing, download, cache layout -------------------------------------------------------
CACHE="$WORK_DIR/cache"
run_download "$CACHE" "$MODEL"
if [[ "$RC" != 0 ]]; then
  fail "download: exit $RC: $(cat "$ERR")"
else
  SNAPSHOT="$(cat "$OUT")"
  COMMIT="$(basename "$SNAPSHOT")"
  [[ "$SNAPSHOT" == "$CACHE/$REPO_DIR_NAME/snapshots/"* && "$COMMIT" =~ ^[0-9a-f]{40}$ ]] &&
    pass "download prints the snapshot folder ($SNAPSHOT)" || fail "download printed '$SNAPSHOT'"
  check_snapshot "download" "$SNAPSHOT" "${DEFAULT_FILES[@]}"
  [[ "$(cat "$CACHE/$REPO_DIR_NAME/refs/main")" == "$COMMIT" ]] && pass "refs/main names the commit" ||
    fail "refs/main: '$(cat "$CACHE/$REPO_DIR_NAME/refs/main" 2>/dev/null)' != $COMMIT"
  [[ "$(readlink "$SNAPSHOT/model.safetensors")" == "../../blobs/$MODEL_SHA" ]] &&
    pass "LFS files are blobs named by their sha256, linked from the snapshot" ||
    fail "model.safetensors links to '$(readlink "$SNAPSHOT/model.safetensors")', not ../../blobs/$MODEL_SHA"
  [[ ! -e "$SNAPSHOT/README.md" && ! -e "$SNAPSHOT/pytorch_model.bin" ]] || fail "non-model files were fetched"
  grep -q "Downloading $MODEL" "$ERR" && grep -q "100%" "$ERR" && grep -q "MiB/s\|KiB/s\|B/s" "$ERR" &&
    pass "progress bar on stderr ($(grep "100%" "$ERR" | tail -n 1))" || fail "no progress bar on stderr: $(cat "$ERR")"
  no_leftovers "download" "$CACHE"

  # A second run finds everything cached: one listing call, no file transfer.
  before="$(grep -c '/resolve/\|/cdn-lfs/' "$LOG" || true)"
  run_download "$CACHE" "$MODEL"
  after="$(grep -c '/resolve/\|/cdn-lfs/' "$LOG" || true)"
  [[ "$RC" == 0 && "$(cat "$OUT")" == "$SNAPSHOT" && "$before" == "$after" ]] &&
    pass "second download uses the cache (no file requests)" ||
    fail "second download: exit $RC, '$(cat "$OUT")', file requests $before -> $after"

  # By commit, and with allow patterns into a fresh cache.
  run_download "$CACHE" "$MODEL" --revision "$COMMIT"
  [[ "$RC" == 0 && "$(cat "$OUT")" == "$SNAPSHOT" ]] && pass "--revision COMMIT" || fail "--revision COMMIT: $(cat "$ERR")"
  run_download "$WORK_DIR/cache-json" "$MODEL" --allow-patterns '*.json'
  json_snapshot="$(cat "$OUT")"
  if [[ "$RC" == 0 && -f "$json_snapshot/config.json" && -f "$json_snapshot/tokenizer.json" &&
    ! -e "$json_snapshot/model.safetensors" ]]; then
    pass "--allow-patterns '*.json' fetches only JSON files"
  else
    fail "--allow-patterns: exit $RC: $(ls "$json_snapshot" 2>&1) $(cat "$ERR")"
  fi
  # --download-dir wins over TESSERA_CACHE.
  run_download "$WORK_DIR/ignored" "$MODEL" --download-dir "$WORK_DIR/dl-dir" --no-progress
  [[ "$RC" == 0 && "$(cat "$OUT")" == "$WORK_DIR/dl-dir/$REPO_DIR_NAME/snapshots/$COMMIT" && ! -e "$WORK_DIR/ignored" ]] &&
    pass "--download-dir" || fail "--download-dir: '$(cat "$OUT")' $(cat "$ERR")"
fi

# --- ModelScope layout -------------------------------------------------------------------------------------------
run_download "$WORK_DIR/cache-ms" "$MODEL" --hub modelscope
if [[ "$RC" == 0 && "$(cat "$OUT")" == "$WORK_DIR/cache-ms/modelscope/$REPO_DIR_NAME/snapshots/"* ]]; then
  check_snapshot "modelscope download" "$(cat "$OUT")" "${DEFAULT_FILES[@]}"
  grep -q '/api/v1/models/tessera-test/tiny-llama/repo/files?Revision=master&Recursive=true' "$LOG" &&
    grep -q '/api/v1/models/tessera-test/tiny-llama/repo?Revision=master&FilePath=model.safetensors' "$LOG" &&
    pass "modelscope: listing and file URLs" || fail "modelscope: unexpected URLs in $(cat "$LOG" | tail -n 5)"
else
  fail "modelscope download: exit $RC, '$(cat "$OUT")': $(cat "$ERR")"
fi

# --- Unknown model, unknown revision, bad ids --------------------------------------------------------------------
expect_hub_error() {
  local name="$1" cache="$2"
  shift 2
  local -a patterns=()
  while [[ "$1" != "--" ]]; do patterns+=("$1"); shift; done
  shift
  TESSERA_BIN_SAVED="$TESSERA_BIN"
  # expect_error runs $TESSERA_BIN; wrap it in env to pass the hub settings.
  local wrapper="$WORK_DIR/tessera-env"
  printf '#!/usr/bin/env bash\nexec env %s %s "$@"\n' "$(hub_env "$cache") ${EXTRA_ENV:-}" "$TESSERA_BIN_SAVED" >"$wrapper"
  chmod +x "$wrapper"
  TESSERA_BIN="$wrapper" expect_error "$name" "${patterns[@]}" -- "$@"
  TESSERA_BIN="$TESSERA_BIN_SAVED"
}

expect_hub_error "unknown model (404)" "$WORK_DIR/cache-404" "tessera-test/no-such-model" "not found" -- \
  download tessera-test/no-such-model
grep -q '"path": "/api/models/tessera-test/no-such-model/revision/main?blobs=true".*"status": 404' "$LOG" &&
  pass "the hub answered 404 to the unknown id" || fail "no 404 in the server log"
expect_hub_error "unknown model on modelscope (404)" "$WORK_DIR/cache-404" "not found" "ModelScope" -- \
  download tessera-test/no-such-model --hub modelscope
expect_hub_error "unknown revision" "$WORK_DIR/cache-404" "has no revision 'v9'" -- download "$MODEL" --revision v9
expect_hub_error "path traversal id" "$WORK_DIR/cache-404" "org/name" -- download "a/../../b"
expect_hub_error "path traversal revision" "$WORK_DIR/cache-404" "invalid revision" -- download "$MODEL" --revision ../x
expect_hub_error "unknown hub" "$WORK_DIR/cache-404" "unknown hub 'github'" -- download "$MODEL" --hub github
[[ ! -e "$WORK_DIR/cache-404/$REPO_DIR_NAME" ]] && pass "failed downloads leave no model folder" ||
  fail "a failed download created $WORK_DIR/cache-404/$REPO_DIR_NAME"

# --- Gated model: 401 without a token, 403 with a wrong one ------------------------------------------------------
stop_server "$MAIN_PID"
start_server gated --gated "$GATED" --token sekrit
GATED_PID=$PID
EXTRA_ENV="" expect_hub_error "gated model without token (401)" "$WORK_DIR/cache-gated" "gated" "HF_TOKEN" -- \
  download "$GATED"
grep -q '"status": 401' "$LOG" && pass "the hub answered 401" || fail "no 401 in the server log"
EXTRA_ENV="HF_TOKEN=wrong" expect_hub_error "gated model with a wrong token (403)" "$WORK_DIR/cache-gated" \
  "no access" -- download "$GATED"
grep -q '"status": 403' "$LOG" && pass "the hub answered 403" || fail "no 403 in the server log"
EXTRA_ENV="" expect_hub_error "gated model on modelscope without token" "$WORK_DIR/cache-gated" \
  "MODELSCOPE_API_TOKEN" -- download "$GATED" --hub modelscope
HF_TOKEN=sekrit run_download "$WORK_DIR/cache-gated" "$GATED" --no-progress
[[ "$RC" == 0 ]] && check_snapshot "gated model with HF_TOKEN" "$(cat "$OUT")" "${DEFAULT_FILES[@]}" ||
  fail "gated model with HF_TOKEN: $(cat "$ERR")"
MODELSCOPE_API_TOKEN=sekrit run_download "$WORK_DIR/cache-gated" "$GATED" --hub modelscope --no-progress
[[ "$RC" == 0 ]] && pass "gated model with MODELSCOPE_API_TOKEN" || fail "gated modelscope: $(cat "$ERR")"
stop_server "$GATED_PID"

# --- Resume after the server cuts the connection mid-file ---------------------------------------------------------
start_server cut --cut-once model.safetensors
run_download "$WORK_DIR/cache-cut" "$MODEL" --no-progress
if [[ "$RC" == 0 ]]; then
  check_snapshot "download across a cut connection" "$(cat "$OUT")" "${DEFAULT_FILES[@]}"
  resume_range="$(grep "/cdn-lfs/tessera-test/tiny-llama/$MODEL_SHA" "$LOG" | grep -o '"range": "bytes=[0-9]*-"' | head -n 1)"
  [[ "$resume_range" =~ bytes=([1-9][0-9]*)- ]] && pass "resumed with a Range request ($resume_range)" ||
    fail "no Range request after the cut: $(grep cdn-lfs "$LOG")"
else
  fail "download across a cut connection: exit $RC: $(cat "$ERR")"
fi
stop_server "$PID"

# --- A killed download leaves only an .incomplete blob, and the next run resumes it -------------------------------
start_server stall --stall model.safetensors
CACHE_KILL="$WORK_DIR/cache-kill"
env $(hub_env "$CACHE_KILL") "$TESSERA_BIN" download "$MODEL" --no-progress >/dev/null 2>"$WORK_DIR/killed.err" &
DOWNLOAD_PID=$!
INCOMPLETE="$CACHE_KILL/$REPO_DIR_NAME/blobs/$MODEL_SHA.incomplete"
for i in $(seq 1 600); do
  [[ -s "$INCOMPLETE" ]] && grep -q "cdn-lfs.*\"bytes\": [1-9]" "$LOG" && break
  sleep 0.1
done
kill -9 "$DOWNLOAD_PID" 2>/dev/null || true
wait "$DOWNLOAD_PID" 2>/dev/null || true
stop_server "$PID"
partial="$(stat -c %s "$INCOMPLETE" 2>/dev/null || echo 0)"
full="$(stat -c %s "$FIXTURE/model.safetensors")"
if [[ "$partial" -gt 0 && "$partial" -lt "$full" && ! -e "$CACHE_KILL/$REPO_DIR_NAME/blobs/$MODEL_SHA" ]] &&
  ! ls "$CACHE_KILL/$REPO_DIR_NAME/snapshots/"*/model.safetensors >/dev/null 2>&1; then
  pass "killed mid-file: only $MODEL_SHA.incomplete ($partial of $full bytes), nothing that looks complete"
else
  fail "after the kill: partial=$partial full=$full; $(find "$CACHE_KILL" | head -n 20)"
fi
start_server resume
run_download "$CACHE_KILL" "$MODEL" --no-progress
if [[ "$RC" == 0 ]]; then
  check_snapshot "download resumed after a kill" "$(cat "$OUT")" "${DEFAULT_FILES[@]}"
  grep "/cdn-lfs/" "$LOG" | grep -q "\"range\": \"bytes=$partial-\"" &&
    pass "the next run asked for bytes=$partial- only" || fail "no resume from $partial: $(grep cdn-lfs "$LOG")"
  no_leftovers "resumed download" "$CACHE_KILL"
else
  fail "resume after kill: exit $RC: $(cat "$ERR")"
fi
stop_server "$PID"

# --- Checksum mismatch -------------------------------------------------------------------------------------------
start_server badsha --bad-sha256 model.safetensors --bad-sha256 tokenizer.json
expect_hub_error "sha256 mismatch" "$WORK_DIR/cache-bad" "checksum mismatch for model.safetensors" "sha256" -- \
  download "$MODEL" --no-progress --allow-patterns '*.safetensors'
expect_hub_error "git blob sha1 mismatch" "$WORK_DIR/cache-bad" "checksum mismatch for tokenizer.json" -- \
  download "$MODEL" --no-progress --allow-patterns tokenizer.json
expect_hub_error "sha256 mismatch on modelscope" "$WORK_DIR/cache-bad" "checksum mismatch for tokenizer.json" -- \
  download "$MODEL" --no-progress --hub modelscope --allow-patterns tokenizer.json
if [[ ! -e "$WORK_DIR/cache-bad/$REPO_DIR_NAME/blobs/$MODEL_SHA" ]] &&
  ! ls "$WORK_DIR/cache-bad/$REPO_DIR_NAME/snapshots/"*/model.safetensors >/dev/null 2>&1; then
  pass "a mismatching download is discarded"
else
  fail "a mismatching download stayed in the cache: $(find "$WORK_DIR/cache-bad")"
fi
no_leftovers "checksum mismatch" "$WORK_DIR/cache-bad"
stop_server "$PID"

# --- Two processes download the same model into one cache at once --------------------------------------------------
start_server concurrent --rate 4000000
CACHE_SHARED="$WORK_DIR/cache-shared"
env $(hub_env "$CACHE_SHARED") "$TESSERA_BIN" download "$MODEL" --no-progress >"$WORK_DIR/c1.out" 2>"$WORK_DIR/c1.err" &
C1=$!
env $(hub_env "$CACHE_SHARED") "$TESSERA_BIN" download "$MODEL" --no-progress >"$WORK_DIR/c2.out" 2>"$WORK_DIR/c2.err" &
C2=$!
rc1=0 rc2=0
wait "$C1" || rc1=$?
wait "$C2" || rc2=$?
if [[ "$rc1" == 0 && "$rc2" == 0 && -s "$WORK_DIR/c1.out" && "$(cat "$WORK_DIR/c1.out")" == "$(cat "$WORK_DIR/c2.out")" ]]; then
  check_snapshot "two concurrent downloads" "$(cat "$WORK_DIR/c1.out")" "${DEFAULT_FILES[@]}"
  transfers="$(grep -c "\"path\": \"/cdn-lfs/tessera-test/tiny-llama/$MODEL_SHA" "$LOG" || true)"
  [[ "$transfers" == 1 ]] && pass "model.safetensors was transferred once for both processes" ||
    fail "model.safetensors was transferred $transfers times"
  no_leftovers "concurrent downloads" "$CACHE_SHARED"
else
  fail "concurrent downloads: exit $rc1/$rc2: $(cat "$WORK_DIR/c1.err" "$WORK_DIR/c2.err")"
fi

# --- Offline mode and an unreachable hub --------------------------------------------------------------------------
before="$(wc -l <"$LOG")"
OUT_OFFLINE="$(env $(hub_env "$CACHE_SHARED") TESSERA_OFFLINE=1 "$TESSERA_BIN" download "$MODEL" 2>"$WORK_DIR/err")" || true
[[ "$OUT_OFFLINE" == "$(cat "$WORK_DIR/c1.out")" && "$(wc -l <"$LOG")" == "$before" ]] &&
  pass "TESSERA_OFFLINE=1 answers from the cache without a request" || fail "offline: '$OUT_OFFLINE' $(cat "$WORK_DIR/err")"
stop_server "$PID"
EXTRA_ENV="HF_HUB_OFFLINE=1" expect_hub_error "HF_HUB_OFFLINE=1 with an empty cache" "$WORK_DIR/cache-empty" \
  "not in the cache" "offline" -- download "$MODEL"
# The server is gone: its port now refuses connections.
EXTRA_ENV="" expect_hub_error "network down, empty cache" "$WORK_DIR/cache-empty" "cannot fetch" "127.0.0.1:$PORT" -- \
  download "$MODEL"
OUT_DOWN="$(env $(hub_env "$CACHE_SHARED") "$TESSERA_BIN" download "$MODEL" 2>"$WORK_DIR/err")" || true
[[ "$OUT_DOWN" == "$(cat "$WORK_DIR/c1.out")" ]] && grep -q "using the cached snapshot" "$WORK_DIR/err" &&
  pass "network down: falls back to the cached snapshot" || fail "network down with a cache: '$OUT_DOWN' $(cat "$WORK_DIR/err")"

# --- tessera generate --model org/name ----------------------------------------------------------------------------
GEN_FLAGS=(--kv-cache-memory 16777216 --temperature 0 --prompt-ids 1,2,3,4 --max-tokens 6 --json)
expected="$("$TESSERA_BIN" generate --model "$FIXTURE" "${GEN_FLAGS[@]}" 2>/dev/null)"
got="$(env $(hub_env "$CACHE_SHARED") TESSERA_OFFLINE=1 "$TESSERA_BIN" generate --model "$MODEL" "${GEN_FLAGS[@]}" \
  2>"$WORK_DIR/gen.err")" || true
[[ -n "$expected" && "$got" == "$expected" ]] && pass "generate --model $MODEL runs offline from the cache" ||
  fail "generate from the cache: '$got' vs '$expected': $(cat "$WORK_DIR/gen.err")"
start_server generate
got="$(env $(hub_env "$WORK_DIR/cache-generate") "$TESSERA_BIN" generate --model "$MODEL" --hub modelscope \
  "${GEN_FLAGS[@]}" 2>"$WORK_DIR/gen.err")" || true
[[ "$got" == "$expected" ]] && pass "generate --model $MODEL --hub modelscope downloads, then runs" ||
  fail "generate with download: '$got': $(cat "$WORK_DIR/gen.err")"
EXTRA_ENV="" expect_hub_error "generate with an unknown id" "$WORK_DIR/cache-generate" "not found" -- \
  generate --model tessera-test/no-such-model "${GEN_FLAGS[@]}"
stop_server "$PID"

finish "hub download"
