#!/usr/bin/env bash
# Builds Tessera, writes a small random-weight Llama model folder, and generates from it on the CPU backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
model_dir="${TESSERA_QUICKSTART_MODEL:-build/models/tiny-llama}"
./build/tools/tessera make-model --preset tiny-llama --out "$model_dir" >/dev/null
printf '{"prompt_token_ids": [1, 2, 3, 4]}\n{"prompt_token_ids": [5, 6, 7, 8, 9, 10]}\n{"prompt_token_ids": [11]}\n' \
  > build/quickstart-prompts.jsonl
./build/tools/tessera generate --model "$model_dir" --input build/quickstart-prompts.jsonl --max-tokens 16 --json
