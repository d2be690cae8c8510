#!/usr/bin/env bash
# Times Qwen3 encoding, single thread, with Tessera's tokenizer and with Hugging Face `tokenizers` (Rust, via
# Python) on exactly the same inputs and tokenizer.json, and prints both in MB/s (10^6 input bytes per second).
# Builds nothing: give it a built tokenizer_bench (cmake -DTESSERA_BUILD_BENCH=ON; ninja tokenizer_bench).
#
# Usage: tools/bench/tokenizer_side_by_side.sh BUILD_DIR/tools/tokenizer_bench [PYTHON]
# Needs: python3 with `tokenizers` installed (pip install tokenizers), tar, xz.
set -euo pipefail

BENCH="${1:?usage: $0 PATH/TO/tokenizer_bench [PYTHON]}"
PYTHON="${2:-python3}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK_DIR="$(mktemp -d)"
trap 'rm -rf "$WORK_DIR"' EXIT

tar -xJf "$ROOT/tests/fixtures/tokenizers.tar.xz" -C "$WORK_DIR" tokenizers/qwen3
TOKENIZER_DIR="$WORK_DIR/tokenizers/qwen3"
"$BENCH" --dump_inputs="$WORK_DIR/inputs"

echo "== machine"
echo "$(uname -srm); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
"$PYTHON" -c 'import tokenizers, sys; print("python", sys.version.split()[0], "tokenizers", tokenizers.__version__)'

echo "== tessera (tokenizer_bench, one thread)"
# taskset pins both programs to one CPU so neither can spread work over several cores.
taskset -c 0 "$BENCH" --tokenizer_dir="$TOKENIZER_DIR" --benchmark_counters_tabular=true

echo "== Hugging Face tokenizers (one thread: RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false)"
RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false taskset -c 0 "$PYTHON" - "$TOKENIZER_DIR" "$WORK_DIR/inputs" <<'PY'
import sys, time
from tokenizers import Tokenizer

tokenizer = Tokenizer.from_file(sys.argv[1] + "/tokenizer.json")


def rate(run, nbytes, min_seconds=2.0):  # CPU seconds, as tokenizer_bench counts them
    run()  # warm-up
    runs, start = 0, time.process_time()
    while True:
        run()
        runs += 1
        elapsed = time.process_time() - start
        if elapsed >= min_seconds:
            return nbytes * runs / elapsed / 1e6, elapsed / runs


for name in ("english", "chinese"):
    with open(f"{sys.argv[2]}/{name}.txt", "rb") as f:
        data = f.read()
    text = data.decode("utf-8")
    lines = [line + "\n" for line in text.split("\n")[:-1]]  # the same calls as tokenizer_bench's EncodeLines
    tokens = len(tokenizer.encode(text, add_special_tokens=False).ids)
    whole, whole_s = rate(lambda: tokenizer.encode(text, add_special_tokens=False), len(data))
    per_line, line_s = rate(lambda: [tokenizer.encode(l, add_special_tokens=False) for l in lines], len(data))
    print(f"EncodeWhole/{name:8s} {whole_s * 1e3:9.1f} ms  {whole:6.2f} MB/s  ({len(data)} bytes, {tokens} tokens)")
    print(f"EncodeLines/{name:8s} {line_s * 1e3:9.1f} ms  {per_line:6.2f} MB/s  ({len(lines)} calls)")
PY
