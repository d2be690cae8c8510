#!/usr/bin/env bash
# Builds Tessera, writes a small random-weight Qwen3-architecture model folder (with a real byte-level BPE tokenizer
# and Qwen3's chat template), and generates from it on the CPU backend: a text prompt, a chat, and a token-id batch.
# The weights are random, so the text is gibberish; the pipeline is the real one.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
model_dir="${TESSERA_QUICKSTART_MODEL:-build/models/tiny-qwen3}"
./build/tools/tessera make-model --preset tiny-qwen3 --tokenizer-from tests/fixtures/tiny-tokenizer --out "$model_dir"
tessera=(./build/tools/tessera generate --model "$model_dir" --max-tokens 24 --temperature 0 --json)
"${tessera[@]}" --prompt "The capital of France is"
printf '%s\n' '{"messages": [{"role": "user", "content": "Write a haiku about tensors."}]}' > build/quickstart-chat.jsonl
"${tessera[@]}" --chat build/quickstart-chat.jsonl --chat-template-kwargs '{"enable_thinking": false}'
printf '{"prompt_token_ids": [1, 2, 3, 4]}\n{"prompt": "Hello"}\n{"prompt_token_ids": [11]}\n' > build/quickstart-batch.jsonl
"${tessera[@]}" --input build/quickstart-batch.jsonl
