#!/usr/bin/env bash
# The prefix-affinity measurement: the same 36 chat requests, sharing 4 long system prompts, go through the router to
# 3 fresh workers once with --policy least-load and once with --policy prefix-affinity. The workers' prefix-cache hit
# rate (tessera_prefix_cache_hits_total / tessera_prefix_cache_queries_total, summed over the workers) must be
# clearly higher with prefix affinity, which sends each system prompt to the one worker that has it cached.
# Both rates are printed (BENCHMARKS.md, "Router prefix affinity").
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/router_lib.bash"

REQUESTS="${ROUTER_AFFINITY_REQUESTS:-36}"
CONCURRENCY="${ROUTER_AFFINITY_CONCURRENCY:-2}"
topics=(astronomy gardening accounting sailing)
for ((p = 0; p < ${#topics[@]}; p++)); do
  prompt="You are the ${topics[$p]} assistant of a large company."
  for ((s = 0; s < 12; s++)); do
    prompt+=" Rule $s for ${topics[$p]}: answer precisely, cite the ${topics[$p]} handbook section $((s * 7 + p)), and keep the tone friendly."
  done
  system_prompts[$p]="$prompt"
done
# Request i uses system prompt i mod 4, so that with 3 workers an unaware policy sends every prompt everywhere.
for ((i = 0; i < REQUESTS; i++)); do
  printf '%s\tQuestion %d: what is %d plus %d?\n' "${system_prompts[$((i % 4))]}" "$i" "$i" "$i"
done >"$WORK_DIR/prompts"

# measure POLICY: runs the requests on fresh workers; writes "hits queries" to $WORK_DIR/POLICY.rate.
measure() {
  local policy="$1" w hits=0 queries=0 h q
  for w in w1 w2 w3; do start_worker "$w"; done
  start_router router --workers "${ADDRESS[w1]},${ADDRESS[w2]},${ADDRESS[w3]}" --policy "$policy"
  wait_for_metric router tessera_router_healthy_workers 3 60 || die "$policy: the router never saw 3 healthy workers"
  call "${ADDRESS[router]}" "$WORK_DIR/$policy.out" TESSERA_CALL_PROMPTS="$WORK_DIR/prompts" \
    TESSERA_CALL_CONCURRENCY="$CONCURRENCY" TESSERA_CALL_MAX_TOKENS=4 || die "$policy: calls failed"
  [[ "$(cut -f2 "$WORK_DIR/$policy.out" | sort -u)" == OK ]] || fail "$policy: not every request succeeded"
  for w in w1 w2 w3; do
    h="$(scrape "$w" | grep '^tessera_prefix_cache_hits_total' | awk '{s += $NF} END {print s + 0}')"
    q="$(scrape "$w" | grep '^tessera_prefix_cache_queries_total' | awk '{s += $NF} END {print s + 0}')"
    echo "$policy: worker $w prefix cache hits $h of $q queried tokens" >&2
    hits=$((hits + ${h%.*}))
    queries=$((queries + ${q%.*}))
  done
  scrape router | grep '^tessera_router_routing_decisions_total' >&2 || true
  stop_process router
  for w in w1 w2 w3; do stop_process "$w"; done
  echo "$hits $queries" >"$WORK_DIR/$policy.rate"
}

measure least-load
measure prefix-affinity
read -r ll_hits ll_queries <"$WORK_DIR/least-load.rate"
read -r pa_hits pa_queries <"$WORK_DIR/prefix-affinity.rate"
[[ "$ll_queries" -gt 0 && "$pa_queries" -gt 0 ]] || die "the workers counted no prefix-cache queries"
ll_rate="$(awk -v h="$ll_hits" -v q="$ll_queries" 'BEGIN { printf "%.3f", h / q }')"
pa_rate="$(awk -v h="$pa_hits" -v q="$pa_queries" 'BEGIN { printf "%.3f", h / q }')"
echo "prefix-cache hit rate over 3 workers, $REQUESTS requests, 4 system prompts, concurrency $CONCURRENCY:"
echo "  least-load:      $ll_rate ($ll_hits / $ll_queries tokens)"
echo "  prefix-affinity: $pa_rate ($pa_hits / $pa_queries tokens)"
if awk -v a="$pa_rate" -v b="$ll_rate" 'BEGIN { exit !(a >= b + 0.1) }'; then
  pass "prefix affinity's hit rate $pa_rate is clearly above least-load's $ll_rate"
else
  fail "prefix affinity's hit rate $pa_rate is not at least 0.1 above least-load's $ll_rate"
fi

finish router_prefix_affinity
