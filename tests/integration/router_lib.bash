# Shared by the router_*.sh integration scripts: start tessera-worker and tessera-router processes on loopback (free
# ports, addresses read from their logs), call them through the generation call tool (a C++ gRPC client built as the
# test program services_router_generation_call_tool_test), read Prometheus series, and stop everything on exit.
# Source it after `set -euo pipefail` and tests/integration/lib/checks.bash.

: "${TESSERA_WORKER_BIN:?set TESSERA_WORKER_BIN to the tessera-worker binary}"
: "${TESSERA_ROUTER_BIN:?set TESSERA_ROUTER_BIN to the tessera-router binary}"
command -v curl >/dev/null || { echo "FAIL: curl is not installed (tools/install-deps.sh installs it)" >&2; exit 1; }

# The call tool sits with the other test programs of the build tree, unless TESSERA_CALL_TOOL names it.
CALL_TOOL="${TESSERA_CALL_TOOL:-$(dirname "$TESSERA_ROUTER_BIN")/../../tests/services_router_generation_call_tool_test}"
[[ -x "$CALL_TOOL" ]] || {
  echo "FAIL: the call tool $CALL_TOOL is missing (build the target services_router_generation_call_tool_test)" >&2
  exit 1
}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

MODEL="$TESSERA_FIXTURES_DIR/models/tiny-qwen3"
declare -A PID=() ADDRESS=() METRICS_PORT=()
# A small KV cache keeps start-up fast on a shared CI machine.
KV_FLAGS=(--kv-cache-memory 16777216)

stop_process() {
  local name="$1" signal="${2:-TERM}" pid="${PID[$1]:-}"
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$signal" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  PID[$name]=""
}

router_cleanup() {
  local name
  for name in "${!PID[@]}"; do stop_process "$name"; done
  rm -rf "$WORK_DIR"
}
trap router_cleanup EXIT

die() {
  echo "FAIL: $*" >&2
  local log
  for log in "$WORK_DIR"/*.log; do
    [[ -f "$log" ]] && { echo "--- $(basename "$log"):" >&2; tail -n 15 "$log" >&2; }
  done
  exit 1
}

# start_worker NAME [FLAGS...]: a tessera-worker for the tiny model on 127.0.0.1 (--port 0 unless FLAGS set one),
# with a metrics endpoint; sets PID, ADDRESS and METRICS_PORT for NAME.
start_worker() {
  local name="$1" port=0
  shift
  local -a extra=("$@")
  local i
  for ((i = 0; i < ${#extra[@]}; i++)); do [[ "${extra[$i]}" == --port ]] && port="${extra[$((i + 1))]}"; done
  local -a args=(--model "$MODEL" --host 127.0.0.1 --metrics-port 0 "${KV_FLAGS[@]}")
  [[ "$port" == 0 ]] && args+=(--port 0)
  : >"$WORK_DIR/$name.log"
  "$TESSERA_WORKER_BIN" "${args[@]}" "${extra[@]}" >>"$WORK_DIR/$name.log" 2>&1 &
  PID[$name]=$!
  wait_for_log "$WORK_DIR/$name.log" "metrics at http://[^ ]+:[0-9]+/metrics" 60 "${PID[$name]}" ||
    die "worker $name did not start"
  ADDRESS[$name]="$(grep -oE "serving '.*' on [^ ]+:[0-9]+" "$WORK_DIR/$name.log" | tail -n 1 | sed -E 's/.* on //')"
  METRICS_PORT[$name]="$(grep -oE "metrics at http://[^ ]+:[0-9]+/metrics" "$WORK_DIR/$name.log" | tail -n 1 |
    sed -E 's|.*:([0-9]+)/metrics|\1|')"
}

# start_router NAME [FLAGS...]: tessera-router on 127.0.0.1 (--port 0 unless FLAGS set one) with metrics; sets PID,
# ADDRESS and METRICS_PORT for NAME.
start_router() {
  local name="$1" port=0
  shift
  local -a extra=("$@")
  local i
  for ((i = 0; i < ${#extra[@]}; i++)); do [[ "${extra[$i]}" == --port ]] && port="${extra[$((i + 1))]}"; done
  local -a args=(--host 127.0.0.1 --metrics-port 0)
  [[ "$port" == 0 ]] && args+=(--port 0)
  : >"$WORK_DIR/$name.log"
  "$TESSERA_ROUTER_BIN" "${args[@]}" "${extra[@]}" >>"$WORK_DIR/$name.log" 2>&1 &
  PID[$name]=$!
  wait_for_log "$WORK_DIR/$name.log" "metrics at http://[^ ]+:[0-9]+/metrics" 30 "${PID[$name]}" ||
    die "router $name did not start"
  ADDRESS[$name]="$(grep -oE "routing with [^ ]+ on [^ ]+:[0-9]+" "$WORK_DIR/$name.log" | tail -n 1 | sed -E 's/.* on //')"
  METRICS_PORT[$name]="$(grep -oE "metrics at http://[^ ]+:[0-9]+/metrics" "$WORK_DIR/$name.log" | tail -n 1 |
    sed -E 's|.*:([0-9]+)/metrics|\1|')"
}

# scrape NAME: the process's /metrics text.
scrape() {
  curl -sS --max-time 10 "http://127.0.0.1:${METRICS_PORT[$1]}/metrics"
}

# metric_value NAME SERIES: the value of the sample whose name plus labels is exactly SERIES, or 0.
metric_value() {
  local value
  value="$(scrape "$1" | awk -v series="$2" '$1 == series { print $2; exit }')" || true
  echo "${value:-0}"
}

# wait_for_metric NAME SERIES VALUE SECONDS: polls until SERIES equals VALUE.
wait_for_metric() {
  local name="$1" series="$2" want="$3" seconds="$4" i
  for ((i = 0; i < seconds * 5; i++)); do
    [[ "$(metric_value "$name" "$series")" == "$want" ]] && return 0
    sleep 0.2
  done
  return 1
}

# call TARGET OUTPUT [VAR=VALUE...]: runs the call tool against TARGET with TESSERA_CALL_* settings; the results are
# in OUTPUT (see tests/unit/services/router/generation_call_tool_test.cc).
call() {
  local target="$1" output="$2"
  shift 2
  env TESSERA_CALL_TARGET="$target" TESSERA_CALL_OUTPUT="$output" "$@" "$CALL_TOOL" \
    --gtest_filter=GenerationCallTool.Run >"$output.gtest" 2>&1 ||
    { cat "$output.gtest" >&2; return 1; }
}

# The status code, response count and text of result line $2 (0-based) in file $1.
result_field() { awk -F '\t' -v row="$2" -v col="$3" '$1 == row { print $col }' "$1"; }
