#!/usr/bin/env bash
# Admission control with a real worker: one request in flight per worker (--max-inflight-per-worker 1) and one
# waiting (--max-queued-requests 1); of four requests sent at once two run (one after the other) and the rest are
# refused at once with RESOURCE_EXHAUSTED. A model nobody serves is NOT_FOUND.
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/router_lib.bash"

start_worker w1
start_router router --workers "${ADDRESS[w1]}" --max-inflight-per-worker 1 --max-queued-requests 1
wait_for_metric router tessera_router_healthy_workers 1 60 || die "the router never saw the worker healthy"

for ((i = 0; i < 4; i++)); do echo "Once upon a time $i"; done >"$WORK_DIR/four"
call "${ADDRESS[router]}" "$WORK_DIR/four.out" TESSERA_CALL_PROMPTS="$WORK_DIR/four" TESSERA_CALL_CONCURRENCY=4 \
  TESSERA_CALL_MAX_TOKENS=1500 TESSERA_CALL_IGNORE_EOS=1 || die "calls failed"
ok="$(cut -f2 "$WORK_DIR/four.out" | grep -c '^OK$' || true)"
exhausted="$(cut -f2 "$WORK_DIR/four.out" | grep -c '^RESOURCE_EXHAUSTED$' || true)"
if [[ "$ok" -ge 2 && "$exhausted" -ge 1 && "$((ok + exhausted))" == 4 ]]; then
  pass "$ok requests ran, $exhausted refused with RESOURCE_EXHAUSTED"
else
  fail "expected >= 2 OK and >= 1 RESOURCE_EXHAUSTED of 4: $(cat "$WORK_DIR/four.out")"
fi
if grep -P '\tRESOURCE_EXHAUSTED\t0\t\t' "$WORK_DIR/four.out" | grep -q "queue is full"; then
  pass "the refusal says the queue is full and carries no output"
else
  fail "refusal message: $(grep RESOURCE_EXHAUSTED "$WORK_DIR/four.out")"
fi
rejected="$(metric_value router 'tessera_router_requests_rejected_total{reason="queue_full"}')"
[[ "$rejected" == "$exhausted" ]] && pass "requests_rejected_total{reason=\"queue_full\"} = $rejected" ||
  fail "requests_rejected_total{reason=\"queue_full\"} is $rejected, expected $exhausted"

echo "hello" >"$WORK_DIR/one"
call "${ADDRESS[router]}" "$WORK_DIR/unknown.out" TESSERA_CALL_PROMPTS="$WORK_DIR/one" TESSERA_CALL_MODEL=no-such-model
[[ "$(result_field "$WORK_DIR/unknown.out" 0 2)" == NOT_FOUND ]] && pass "an unknown model is NOT_FOUND" ||
  fail "unknown model: $(cat "$WORK_DIR/unknown.out")"

finish router_admission
