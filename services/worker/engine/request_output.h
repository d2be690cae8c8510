// What the engine reports about a request after a step, shaped like vLLM's RequestOutput: the prompt, the tokens
// generated so far (and those new in this step), and how it finished.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "services/worker/engine/request.h"

namespace tessera::engine {

struct RequestOutput {
  std::string request_id;
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> token_ids;  // every generated token so far
  int num_new_tokens = 0;          // how many of token_ids arrived in this step
  bool finished = false;
  FinishReason finish_reason = FinishReason::kNone;
  std::optional<int32_t> stop_token;  // the EOS or stop token that ended the request
  int num_preemptions = 0;
  int num_cached_tokens = 0;  // prompt tokens served from the prefix cache
  std::chrono::steady_clock::time_point arrival_time;
  std::optional<std::chrono::steady_clock::time_point> first_token_time;
  std::optional<std::chrono::steady_clock::time_point> finish_time;
};

}  // namespace tessera::engine
