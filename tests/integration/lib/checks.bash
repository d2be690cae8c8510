# Shared by the integration scripts: a scratch folder removed on exit, pass/fail bookkeeping, a check that a tessera
# command fails cleanly with a message, waiting for a service's log line, and the final verdict. Source it after `set -euo pipefail`.

: "${TESSERA_BIN:?set TESSERA_BIN to the tessera binary}"
: "${TESSERA_FIXTURES_DIR:?set TESSERA_FIXTURES_DIR to tests/fixtures}"

WORK_DIR="$(mktemp -d)"
trap 'rm -rf "$WORK_DIR"' EXIT
FAILURES=0

fail() {
  echo "FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}

pass() {
  echo "ok: $*"
}

# Runs tessera and expects a clean failure: non-zero exit (not a crash) and stderr containing every pattern.
# Usage: expect_error NAME PATTERN... -- TESSERA_ARGS...
expect_error() {
  local name="$1"
  shift
  local -a patterns=()
  while [[ "$1" != "--" ]]; do
    patterns+=("$1")
    shift
  done
  shift
  local rc=0
  "$TESSERA_BIN" "$@" >"$WORK_DIR/stdout" 2>"$WORK_DIR/stderr" || rc=$?
  if [[ "$rc" == 0 ]]; then
    fail "$name: exited 0, expected an error ($(cat "$WORK_DIR/stdout"))"
    return
  fi
  if grep -qi "segmentation\|core dumped\|terminate called" "$WORK_DIR/stderr" || [[ "$rc" -ge 128 ]]; then
    fail "$name: crashed (exit $rc): $(cat "$WORK_DIR/stderr")"
    return
  fi
  local pattern
  for pattern in "${patterns[@]}"; do
    if ! grep -qF -- "$pattern" "$WORK_DIR/stderr"; then
      fail "$name: stderr lacks '$pattern': $(cat "$WORK_DIR/stderr")"
      return
    fi
  done
  pass "$name (exit $rc: $(tail -n 1 "$WORK_DIR/stderr"))"
}

# Waits up to $3 seconds for the log file $1 to contain a line matching the regex $2, while process $4 lives.
wait_for_log() {
  local log="$1" pattern="$2" seconds="$3" pid="$4" i
  for ((i = 0; i < seconds * 10; i++)); do
    grep -qE "$pattern" "$log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Exits with the verdict; $1 names the script's checks.
finish() {
  if [[ "$FAILURES" -gt 0 ]]; then
    echo "$FAILURES check(s) failed" >&2
    exit 1
  fi
  echo "all $1 checks passed"
}
