#!/usr/bin/env bash
# A worker killed (SIGKILL) in the middle of a stream: the client's stream ends with UNAVAILABLE naming the worker
# (never silently), the router marks the worker unhealthy, later requests go to the survivor, and the worker
# restarted on its port rejoins and serves again.
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/router_lib.bash"

# Room for four 4000-token sequences, so that the long request below runs for seconds without preemption.
KV_FLAGS=(--kv-cache-memory 67108864)
start_worker w1
start_worker w2
start_router router --workers "${ADDRESS[w1]},${ADDRESS[w2]}" --policy least-load
wait_for_metric router tessera_router_healthy_workers 2 60 || die "the router never saw 2 healthy workers"
pass "router ${ADDRESS[router]} with workers ${ADDRESS[w1]} and ${ADDRESS[w2]}"

# --- A long request (4 sequences of 4000 tokens); once its first response arrived, kill the worker running it.
echo "Once upon a time" >"$WORK_DIR/long"
call "${ADDRESS[router]}" "$WORK_DIR/long.out" TESSERA_CALL_PROMPTS="$WORK_DIR/long" TESSERA_CALL_MAX_TOKENS=4000 \
  TESSERA_CALL_IGNORE_EOS=1 TESSERA_CALL_N=4 TESSERA_CALL_TEMPERATURE=1 TESSERA_CALL_FIRST_RESPONSE_FILE="$WORK_DIR/first" &
CALL_PID=$!
for ((i = 0; i < 600; i++)); do
  [[ -f "$WORK_DIR/first" ]] && break
  kill -0 "$CALL_PID" 2>/dev/null || break
  sleep 0.1
done
[[ -f "$WORK_DIR/first" ]] ||
  die "the long request never got its first response: $(cat "$WORK_DIR/long.out" "$WORK_DIR/long.out.gtest" 2>/dev/null)"
victim=""
for w in w1 w2; do
  [[ "$(metric_value router "tessera_router_worker_in_flight_requests{worker=\"${ADDRESS[$w]}\"}")" == 1 ]] && victim="$w"
done
[[ -n "$victim" ]] || die "no worker has the long request in flight: $(scrape router | grep in_flight)"
survivor=w1
[[ "$victim" == w1 ]] && survivor=w2
VICTIM_PORT="${ADDRESS[$victim]##*:}"
stop_process "$victim" KILL
pass "killed $victim (${ADDRESS[$victim]}) mid-stream"
wait "$CALL_PID" || die "the call tool failed: $(cat "$WORK_DIR/long.out.gtest")"
code="$(result_field "$WORK_DIR/long.out" 0 2)"
responses="$(result_field "$WORK_DIR/long.out" 0 3)"
message="$(result_field "$WORK_DIR/long.out" 0 5)"
if [[ "$code" == UNAVAILABLE && "$responses" -ge 1 && "$message" == *"${ADDRESS[$victim]}"* ]]; then
  pass "the stream ended with UNAVAILABLE after $responses responses: $message"
else
  fail "expected UNAVAILABLE naming ${ADDRESS[$victim]} after some responses, got: $(cat "$WORK_DIR/long.out")"
fi

# --- Later requests succeed at once (a request that picks the dead worker first is retried before its first
# response) and all land on the survivor.
for ((i = 0; i < 4; i++)); do echo "The quick brown fox"; done >"$WORK_DIR/short"
before="$(scrape "$survivor" | grep '^tessera_request_success_total' | awk '{s += $NF} END {print s + 0}')"
call "${ADDRESS[router]}" "$WORK_DIR/short.out" TESSERA_CALL_PROMPTS="$WORK_DIR/short" || die "short calls failed"
after="$(scrape "$survivor" | grep '^tessera_request_success_total' | awk '{s += $NF} END {print s + 0}')"
if [[ "$(cut -f2 "$WORK_DIR/short.out" | sort -u)" == OK && "$((after - before))" == 4 ]]; then
  pass "4 later requests succeeded on the survivor $survivor"
else
  fail "later requests: $(cat "$WORK_DIR/short.out"); survivor served $((after - before))"
fi
wait_for_metric router "tessera_router_worker_healthy{worker=\"${ADDRESS[$victim]}\"}" 0 30 &&
  pass "the router marks $victim unhealthy" || fail "$victim is still healthy for the router"
grep -q "worker ${ADDRESS[$victim]} is unhealthy" "$WORK_DIR/router.log" && pass "the router logged it" ||
  fail "no unhealthy log line for $victim"

# --- The killed worker restarted on its port rejoins and takes requests again.
start_worker "$victim" --port "$VICTIM_PORT"
wait_for_metric router tessera_router_healthy_workers 2 60 && pass "$victim rejoined after its restart" ||
  die "$victim did not rejoin: $(scrape router | grep tessera_router_worker_healthy)"
for ((i = 0; i < 8; i++)); do echo "The quick brown fox"; done >"$WORK_DIR/again"
call "${ADDRESS[router]}" "$WORK_DIR/again.out" TESSERA_CALL_PROMPTS="$WORK_DIR/again" TESSERA_CALL_CONCURRENCY=4 ||
  die "calls after the rejoin failed"
served="$(scrape "$victim" | grep '^tessera_request_success_total' | awk '{s += $NF} END {print s + 0}')"
if [[ "$(cut -f2 "$WORK_DIR/again.out" | sort -u)" == OK && "$served" -ge 1 ]]; then
  pass "after the rejoin $victim served $served of 8 requests"
else
  fail "after the rejoin: $(cat "$WORK_DIR/again.out"); $victim served $served"
fi

finish router_failover
