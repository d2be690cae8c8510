#!/usr/bin/env bash
# The official OpenAI Node SDK (tests/e2e, pinned in its package-lock.json) against the real serving chain on
# loopback: tessera-worker serving the fixture tiny-qwen3, tessera-router when it is built, and tessera-gateway with
# an API key; a second gateway splits reasoning with --reasoning-parser deepseek_r1. `node --test` runs
# tests/e2e/*.test.mjs, which compare the answers with `tessera generate`.
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/lib/serving.bash"

: "${TESSERA_SOURCE_DIR:?set TESSERA_SOURCE_DIR to the source tree}"
E2E_DIR="$TESSERA_SOURCE_DIR/tests/e2e"
command -v node >/dev/null || die "node is not installed (tools/install-deps.sh installs it)"
if [[ ! -d "$E2E_DIR/node_modules/openai" ]]; then
  command -v npm >/dev/null || die "npm is not installed (tools/install-deps.sh installs it)"
  (cd "$E2E_DIR" && npm ci --no-audit --no-fund) >"$WORK_DIR/npm.log" 2>&1 || die "npm ci failed: $(tail -n 20 "$WORK_DIR/npm.log")"
  pass "npm ci installed the pinned SDK"
fi

API_KEY="sk-e2e-$RANDOM$RANDOM"
start_serving_chain --api-key "$API_KEY"
MAIN_GATEWAY_URL="$GATEWAY_URL"
start_gateway gateway-reasoning --api-key "$API_KEY" --reasoning-parser deepseek_r1

rc=0
TESSERA_GATEWAY_URL="$MAIN_GATEWAY_URL" TESSERA_REASONING_GATEWAY_URL="$GATEWAY_URL" TESSERA_API_KEY="$API_KEY" \
  TESSERA_MODEL="$MODEL" TESSERA_KV_CACHE_MEMORY="${KV_FLAGS[1]}" \
  node --test --test-reporter=spec "$E2E_DIR"/*.test.mjs || rc=$?
[[ "$rc" == 0 ]] && pass "node --test: every SDK test passed" || fail "node --test exited $rc"

finish openai_sdk
