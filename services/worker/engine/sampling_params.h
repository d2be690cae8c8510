// Per-request generation settings. This is the subset the engine core honours today (greedy and plain
// temperature sampling, stop tokens, length limits); the remaining fields of vLLM's SamplingParams build on it.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"

namespace tessera::engine {

struct SamplingParams {
  int max_tokens = 16;
  float temperature = 0.0f;           // 0 selects greedy decoding
  std::optional<uint64_t> seed;
  bool ignore_eos = false;
  std::vector<int32_t> stop_token_ids;

  // Rejects values the engine cannot honour, naming the field.
  absl::Status Validate() const;
};

}  // namespace tessera::engine
