#!/usr/bin/env bash
# tessera-router in front of three real tessera-workers (tiny fixture model, CPU): two given with --workers, one
# joining with --register-with. A gRPC client gets the same greedy text from the router as from a worker directly;
# ListModels, health and /metrics (promtool) answer; every worker, the registered one included, serves requests;
# after a router restart on the same port the registered worker registers again.
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/router_lib.bash"

start_worker w1
start_worker w2
pass "workers w1 (${ADDRESS[w1]}) and w2 (${ADDRESS[w2]}) serving"
start_router router --workers "${ADDRESS[w1]},${ADDRESS[w2]}" --policy round-robin
ROUTER_PORT="${ADDRESS[router]##*:}"
start_worker w3 --register-with "${ADDRESS[router]}"
wait_for_metric router tessera_router_healthy_workers 3 60 ||
  die "the router never saw 3 healthy workers: $(scrape router | grep tessera_router_worker_healthy)"
pass "router on ${ADDRESS[router]} sees 3 healthy workers (w3 registered itself)"
grep -q "worker .* registered" "$WORK_DIR/router.log" && pass "router logged the registration" ||
  fail "router did not log the registration: $(cat "$WORK_DIR/router.log")"

# --- Health and ListModels through the router.
call "${ADDRESS[router]}" "$WORK_DIR/health" TESSERA_CALL_MODE=health
[[ "$(cat "$WORK_DIR/health")" == SERVING ]] && pass "grpc.health.v1: SERVING" ||
  fail "router health is $(cat "$WORK_DIR/health")"
call "${ADDRESS[router]}" "$WORK_DIR/models" TESSERA_CALL_MODE=list-models
[[ "$(cat "$WORK_DIR/models")" == "$MODEL" ]] && pass "ListModels lists $MODEL" ||
  fail "ListModels: $(cat "$WORK_DIR/models")"

# --- The same greedy text from the router and from a worker directly, for a chat and a text prompt.
printf 'You are terse.\tHello there, who are you?\nThe quick brown fox\n' >"$WORK_DIR/prompts"
call "${ADDRESS[w1]}" "$WORK_DIR/direct" TESSERA_CALL_PROMPTS="$WORK_DIR/prompts" || die "direct call failed"
call "${ADDRESS[router]}" "$WORK_DIR/routed" TESSERA_CALL_PROMPTS="$WORK_DIR/prompts" || die "routed call failed"
for row in 0 1; do
  direct_code="$(result_field "$WORK_DIR/direct" "$row" 2)"
  routed_code="$(result_field "$WORK_DIR/routed" "$row" 2)"
  direct_text="$(result_field "$WORK_DIR/direct" "$row" 4)"
  routed_text="$(result_field "$WORK_DIR/routed" "$row" 4)"
  if [[ "$direct_code" != OK || "$routed_code" != OK ]]; then
    fail "prompt $row: direct $direct_code, routed $routed_code: $(cat "$WORK_DIR/direct" "$WORK_DIR/routed")"
  elif [[ -z "$routed_text" || "$routed_text" != "$direct_text" ]]; then
    fail "prompt $row: router text \"$routed_text\" differs from the worker's \"$direct_text\""
  else
    pass "prompt $row: router and worker give the same greedy text \"$routed_text\""
  fi
done

# --- Round-robin spreads requests over all three workers, the registered one included; texts stay identical.
for ((i = 0; i < 6; i++)); do echo "The quick brown fox"; done >"$WORK_DIR/six"
call "${ADDRESS[router]}" "$WORK_DIR/spread" TESSERA_CALL_PROMPTS="$WORK_DIR/six" || die "spread calls failed"
if [[ "$(cut -f2 "$WORK_DIR/spread" | sort -u)" != OK || "$(cut -f4 "$WORK_DIR/spread" | sort -u)" != "$(result_field "$WORK_DIR/direct" 1 4)" ]]; then
  fail "six routed requests: not all OK with the same text: $(cat "$WORK_DIR/spread")"
fi
for w in w1 w2 w3; do
  served="$(scrape "$w" | grep '^tessera_request_success_total' | awk '{s += $NF} END {print s + 0}')"
  [[ "$served" -ge 1 ]] && pass "worker $w served $served request(s)" || fail "worker $w served no request"
done

# --- Router metrics: the exposition is valid and carries the router's series.
scrape router >"$WORK_DIR/router.prom"
if command -v promtool >/dev/null; then
  promtool check metrics <"$WORK_DIR/router.prom" >"$WORK_DIR/promtool.out" 2>&1 &&
    pass "promtool check metrics accepts the router's /metrics" ||
    fail "promtool: $(cat "$WORK_DIR/promtool.out")"
fi
for series in 'tessera_router_worker_in_flight_requests{worker="'"${ADDRESS[w3]}"'"}' \
  'tessera_router_worker_healthy{worker="'"${ADDRESS[w1]}"'"} 1' \
  'tessera_router_routing_decisions_total{policy="round-robin",outcome="round_robin"}' \
  'process_resident_memory_bytes'; do
  grep -qF -- "$series" "$WORK_DIR/router.prom" && pass "metrics carry $series" || fail "metrics lack $series"
done

# --- DNS discovery: a second router finds w1 as the A record of localhost; a bad flag fails cleanly.
W1_PORT="${ADDRESS[w1]##*:}"
start_router dns_router --discover-dns "localhost:$W1_PORT" --dns-refresh-seconds 1
wait_for_metric dns_router tessera_router_healthy_workers 1 60 &&
  pass "--discover-dns localhost:$W1_PORT finds w1" || fail "--discover-dns: $(scrape dns_router | grep healthy)"
call "${ADDRESS[dns_router]}" "$WORK_DIR/dns.out" TESSERA_CALL_PROMPTS="$WORK_DIR/prompts" || die "calls via DNS failed"
[[ "$(result_field "$WORK_DIR/dns.out" 1 4)" == "$(result_field "$WORK_DIR/direct" 1 4)" ]] &&
  pass "the DNS-discovered worker answers through the second router" || fail "via DNS: $(cat "$WORK_DIR/dns.out")"
stop_process dns_router
rc=0
"$TESSERA_ROUTER_BIN" --port 0 --policy random >"$WORK_DIR/bad.out" 2>&1 || rc=$?
if [[ "$rc" == 1 ]] && grep -q "unknown routing policy 'random'" "$WORK_DIR/bad.out"; then
  pass "--policy random is refused with a message"
else
  fail "--policy random: exit $rc: $(cat "$WORK_DIR/bad.out")"
fi

# --- A restarted router (same port) gets w3's registration again; SIGTERM stops it with exit 0.
kill -TERM "${PID[router]}"
router_rc=0
wait "${PID[router]}" || router_rc=$?
PID[router]=""
[[ "$router_rc" == 0 ]] && pass "router exits 0 on SIGTERM" || fail "router exited $router_rc on SIGTERM"
start_router router --workers "${ADDRESS[w1]},${ADDRESS[w2]}" --policy round-robin --port "$ROUTER_PORT"
wait_for_metric router tessera_router_healthy_workers 3 60 &&
  pass "after a router restart w3 registered again (3 healthy workers)" ||
  fail "after a router restart: $(scrape router | grep tessera_router_worker_healthy)"

finish router_basic
