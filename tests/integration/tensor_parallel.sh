#!/usr/bin/env bash
# Tensor parallelism with real processes on the CPU: a worker whose model is split over 2 ranks (followers spawned
# by the leader) and one split over 4 ranks (followers started by hand through --leader), each served through the
# gateway and the router. Greedy text must equal the whole model's (`tessera generate`). A follower killed
# mid-service makes the leader refuse requests with an error instead of hanging; bad sizes are startup errors.
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
: "${TESSERA_WORKER_BIN:?set TESSERA_WORKER_BIN}"
: "${TESSERA_GATEWAY_BIN:?set TESSERA_GATEWAY_BIN}"

KV_FLAGS=(--kv-cache-memory 8388608 --max-model-len 256)
PIDS=()
stop_all() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK_DIR"
}
trap stop_all EXIT

dump_logs() {
  local log
  for log in "$WORK_DIR"/*.log; do echo "--- $log" >&2; tail -n 15 "$log" >&2; done
}

# Waits up to $3 seconds for log $1 to match regex $2 while process $4 lives; prints the first match.
await_log() {
  local log="$1" pattern="$2" seconds="$3" pid="$4" i
  for ((i = 0; i < seconds * 10; i++)); do
    if grep -qE "$pattern" "$log" 2>/dev/null; then
      grep -oE "$pattern" "$log" | head -n 1
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

port_of() { sed -E 's/.*:([0-9]+)$/\1/' <<<"$1"; }

# Starts the serving path in front of worker address $1 under name $2: router (when built) then gateway; sets
# GATEWAY_URL.
start_front() {
  local worker="$1" name="$2" target="$1" line
  if [[ -n "${TESSERA_ROUTER_BIN:-}" ]]; then
    "$TESSERA_ROUTER_BIN" --host 127.0.0.1 --port 0 --workers "$worker" >"$WORK_DIR/$name-router.log" 2>&1 &
    PIDS+=($!)
    line="$(await_log "$WORK_DIR/$name-router.log" 'on [0-9.]+:[0-9]+' 60 $!)" || { dump_logs; return 1; }
    target="127.0.0.1:$(port_of "$line")"
  fi
  "$TESSERA_GATEWAY_BIN" --router "$target" --host 127.0.0.1 --port 0 >"$WORK_DIR/$name-gateway.log" 2>&1 &
  PIDS+=($!)
  line="$(await_log "$WORK_DIR/$name-gateway.log" 'listening on [0-9.]+:[0-9]+' 60 $!)" || { dump_logs; return 1; }
  GATEWAY_URL="http://127.0.0.1:$(port_of "$line")"
}

# Greedy completion through $GATEWAY_URL; prints the raw response.
complete() {
  curl -sS --max-time 120 -H 'Content-Type: application/json' "$GATEWAY_URL/v1/completions" \
    --data-binary "{\"prompt\":\"$1\",\"temperature\":0,\"max_tokens\":12}" || true
}
text_of() { grep -oE '"text":"([^"\\]|\\.)*"' <<<"$1" | head -n 1 | sed -E 's/^"text":"//; s/"$//' || true; }

expected_text() {
  local out
  out="$("$TESSERA_BIN" generate --model "$1" "${KV_FLAGS[@]}" --prompt "$2" --temperature 0 --max-tokens 12 \
    --json 2>"$WORK_DIR/cli.err")" || { fail "tessera generate: $(cat "$WORK_DIR/cli.err")"; return; }
  text_of "$out"
}

PROMPT="The quick brown fox"

# --- TP=2, followers spawned by the leader.
MODEL="$TESSERA_FIXTURES_DIR/models/tiny-llama"
"$TESSERA_WORKER_BIN" --model "$MODEL" "${KV_FLAGS[@]}" --host 127.0.0.1 --port 0 --tensor-parallel-size 2 \
  >"$WORK_DIR/tp2.log" 2>&1 &
TP2_PID=$!
PIDS+=($TP2_PID)
if line="$(await_log "$WORK_DIR/tp2.log" 'serving .* on [0-9.]+:[0-9]+' 120 $TP2_PID)"; then
  grep -q "tensor-parallel rank 1 of 2" "$WORK_DIR/tp2.log" && pass "TP=2: the spawned follower logged its shard" ||
    fail "TP=2: no per-rank log line from the follower"
  start_front "127.0.0.1:$(port_of "$line")" tp2
  want="$(expected_text "$MODEL" "$PROMPT")"
  got="$(text_of "$(complete "$PROMPT")")"
  [[ -n "$want" && "$got" == "$want" ]] && pass "TP=2 greedy text equals the whole model's (\"$got\")" ||
    fail "TP=2 text \"$got\" differs from the whole model's \"$want\""
else
  dump_logs
  fail "TP=2 worker did not start"
fi

# --- TP=4 with followers started by hand, joining through --leader.
MODEL="$TESSERA_FIXTURES_DIR/models/tiny-qwen3"
"$TESSERA_WORKER_BIN" --model "$MODEL" "${KV_FLAGS[@]}" --host 127.0.0.1 --port 0 --tensor-parallel-size 4 \
  --tp-followers external >"$WORK_DIR/tp4.log" 2>&1 &
TP4_PID=$!
PIDS+=($TP4_PID)
FOLLOWER_PIDS=()
if line="$(await_log "$WORK_DIR/tp4.log" 'rendezvous on port [0-9]+' 60 $TP4_PID)"; then
  rendezvous="${line##* }"
  for rank in 1 2 3; do
    "$TESSERA_WORKER_BIN" --model "$MODEL" "${KV_FLAGS[@]}" --tensor-parallel-size 4 --tp-rank "$rank" \
      --leader "127.0.0.1:$rendezvous" >"$WORK_DIR/tp4-rank$rank.log" 2>&1 &
    FOLLOWER_PIDS+=($!)
    PIDS+=($!)
  done
fi
if line="$(await_log "$WORK_DIR/tp4.log" 'serving .* on [0-9.]+:[0-9]+' 120 $TP4_PID)"; then
  start_front "127.0.0.1:$(port_of "$line")" tp4
  want="$(expected_text "$MODEL" "$PROMPT")"
  got="$(text_of "$(complete "$PROMPT")")"
  [[ -n "$want" && "$got" == "$want" ]] && pass "TP=4 greedy text equals the whole model's (\"$got\")" ||
    fail "TP=4 text \"$got\" differs from the whole model's \"$want\""

  # A follower dies: the leader notices within its heartbeat, fails for good, and every request gets an error.
  kill -KILL "${FOLLOWER_PIDS[1]}"
  if await_log "$WORK_DIR/tp4.log" 'engine failed for good' 60 $TP4_PID >/dev/null; then
    pass "leader noticed the dead follower without a request in flight"
  else
    fail "leader did not notice the dead follower within 60 s"
  fi
  response="$(complete "$PROMPT")"
  [[ "$response" == *'"error"'* ]] && pass "request after the follower died gets an error: ${response:0:160}" ||
    fail "request after the follower died did not get an error: $response"
  # The other followers end because their group broke, not by hanging.
  for rank in 0 2; do
    pid="${FOLLOWER_PIDS[$rank]}"
    for ((i = 0; i < 600 && $(kill -0 "$pid" 2>/dev/null && echo 1 || echo 0); i++)); do sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && fail "follower $((rank + 1)) still runs after its group broke" ||
      pass "follower $((rank + 1)) ended after its group broke"
  done
else
  dump_logs
  fail "TP=4 worker did not start"
fi

# --- Sizes that do not fit the model are clear startup errors.
rc=0
"$TESSERA_WORKER_BIN" --model "$TESSERA_FIXTURES_DIR/models/tiny-llama" "${KV_FLAGS[@]}" --host 127.0.0.1 --port 0 \
  --tensor-parallel-size 3 >"$WORK_DIR/tp3.log" 2>&1 || rc=$?
if [[ "$rc" != 0 ]] && grep -q "does not divide the model's 4 attention heads" "$WORK_DIR/tp3.log"; then
  pass "TP=3: exit $rc, $(grep -o "tensor-parallel size 3 does not divide.*" "$WORK_DIR/tp3.log" | head -n 1)"
else
  fail "TP=3: expected a clear error, got exit $rc: $(tail -n 3 "$WORK_DIR/tp3.log")"
fi
rc=0
"$TESSERA_WORKER_BIN" --model "$TESSERA_FIXTURES_DIR/models/tiny-llama" --tensor-parallel-size 2 --tp-rank 1 \
  >"$WORK_DIR/noleader.log" 2>&1 || rc=$?
[[ "$rc" != 0 ]] && grep -q "needs --leader" "$WORK_DIR/noleader.log" && pass "follower without --leader: clear error" ||
  fail "follower without --leader: exit $rc: $(cat "$WORK_DIR/noleader.log")"

finish "tensor-parallel"
