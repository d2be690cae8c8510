#!/usr/bin/env bash
# Builds Tessera, writes a small random-weight Qwen3-architecture model folder if there is none yet (with a real
# byte-level BPE tokenizer and Qwen3's chat template), and serves it on loopback on the CPU backend:
# tessera-worker, tessera-router (when built) and the OpenAI-compatible tessera-gateway run in the background, with
# their pids and logs in .quickstart/. Once the gateway is healthy, one chat completion is sent with curl and
# printed. The weights are random, so the text is gibberish; the serving path is the real one.
#   bash tools/quickstart.sh          build, start (restarting what a previous run left), ask once
#   bash tools/quickstart.sh --stop   stop the services
# TESSERA_QUICKSTART_PORT (default 8000) is the gateway's port; TESSERA_QUICKSTART_MODEL the model folder;
# TESSERA_QUICKSTART_TP (default 1) splits the model over that many worker processes (tensor parallelism).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR=.quickstart
GATEWAY_PORT="${TESSERA_QUICKSTART_PORT:-8000}"
MODEL_DIR="${TESSERA_QUICKSTART_MODEL:-build/models/tiny-qwen3}"
SERVED_MODEL=tiny-qwen3
TENSOR_PARALLEL_SIZE="${TESSERA_QUICKSTART_TP:-1}"

# Stops what a previous run started (gateway first, so that no request arrives while the others go).
stop_services() {
  local name pid i
  for name in gateway router worker; do
    [[ -f "$STATE_DIR/$name.pid" ]] || continue
    pid="$(cat "$STATE_DIR/$name.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 400; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -0 "$pid" 2>/dev/null && { echo "quickstart: $name (pid $pid) did not stop; sending SIGKILL" >&2; kill -KILL "$pid"; }
      echo "quickstart: stopped $name (pid $pid)"
    fi
    rm -f "$STATE_DIR/$name.pid"
  done
}

case "${1:-}" in
  --stop)
    stop_services
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: bash tools/quickstart.sh [--stop]" >&2
    exit 2
    ;;
esac

# Prints the last lines of every log and exits.
die() {
  echo "quickstart: $*" >&2
  local log
  for log in "$STATE_DIR"/*.log; do
    [[ -f "$log" ]] && { echo "--- $log:" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}

# Runs a service detached from this shell (it outlives the script), logging to $STATE_DIR/NAME.log.
start_service() {
  local name="$1"
  shift
  setsid nohup "$@" >"$STATE_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/$name.pid"
}

# Waits up to $3 seconds for the regex $2 in the log of service $1.
wait_for_log() {
  local name="$1" pattern="$2" seconds="$3" i
  for ((i = 0; i < seconds * 10; i++)); do
    grep -qE "$pattern" "$STATE_DIR/$name.log" 2>/dev/null && return 0
    kill -0 "$(cat "$STATE_DIR/$name.pid")" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

bash tools/build.sh
if [[ ! -f "$MODEL_DIR/config.json" ]]; then
  ./build/tools/tessera make-model --preset tiny-qwen3 --tokenizer-from tests/fixtures/tiny-tokenizer --out "$MODEL_DIR"
fi

stop_services
mkdir -p "$STATE_DIR"
rm -f "$STATE_DIR"/*.log

start_service worker ./build/services/worker/tessera-worker --model "$MODEL_DIR" --served-model-name "$SERVED_MODEL" \
  --host 127.0.0.1 --port 0 --metrics-port 0 --tensor-parallel-size "$TENSOR_PARALLEL_SIZE"
wait_for_log worker "metrics at http://[^ ]+:[0-9]+/metrics" 120 || die "the worker did not start"
worker_address="$(grep -oE "serving '.*' on [^ ]+:[0-9]+" "$STATE_DIR/worker.log" | head -n 1 | sed -E 's/.* on //')"
worker_metrics="$(grep -oE "http://[^ ]+:[0-9]+/metrics" "$STATE_DIR/worker.log" | head -n 1)"
backend="$worker_address"

if [[ -x ./build/services/router/tessera-router ]]; then
  start_service router ./build/services/router/tessera-router --host 127.0.0.1 --port 0 --workers "$worker_address" \
    --metrics-port 0
  wait_for_log router "metrics at http://[^ ]+:[0-9]+/metrics" 60 || die "the router did not start"
  backend="$(grep -oE "routing with [^ ]+ on [^ ]+:[0-9]+" "$STATE_DIR/router.log" | head -n 1 | sed -E 's/.* on //')"
fi

start_service gateway ./build/services/gateway/tessera-gateway --router "$backend" --host 127.0.0.1 \
  --port "$GATEWAY_PORT"
healthy=0
for ((i = 0; i < 1200; i++)); do
  if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$GATEWAY_PORT/health")" == 200 ]]; then
    healthy=1
    break
  fi
  for name in worker router gateway; do
    [[ -f "$STATE_DIR/$name.pid" ]] || continue
    kill -0 "$(cat "$STATE_DIR/$name.pid")" 2>/dev/null || die "the $name exited"
  done
  sleep 0.1
done
[[ "$healthy" == 1 ]] || die "http://127.0.0.1:$GATEWAY_PORT/health never turned 200"

echo
echo "Serving $SERVED_MODEL: gateway http://127.0.0.1:$GATEWAY_PORT$([[ "$backend" != "$worker_address" ]] &&
  echo " → router $backend") → worker $worker_address (metrics $worker_metrics); logs and pids in $STATE_DIR/"
echo
request='{"model": "'"$SERVED_MODEL"'", "messages": [{"role": "user", "content": "Write a haiku about tensors."}],
  "max_tokens": 32, "chat_template_kwargs": {"enable_thinking": false}}'
echo "\$ curl http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions -H 'Content-Type: application/json' -d '$request'"
curl -sS --fail-with-body --max-time 120 "http://127.0.0.1:$GATEWAY_PORT/v1/chat/completions" \
  -H 'Content-Type: application/json' -d "$request"
echo
echo
echo "Stop the services with: bash tools/quickstart.sh --stop"
