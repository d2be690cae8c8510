// What the engine reports about a request after a step, shaped like vLLM's RequestOutput: the prompt (with its
// logprobs when asked), one CompletionOutput per returned sequence (n of them), cache and timing facts.
// Outputs are cumulative: every report carries all tokens so far, and num_new_tokens says how many are new.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "services/worker/engine/request.h"
#include "services/worker/engine/sampler.h"

namespace tessera::engine {

struct CompletionOutput {
  int index = 0;                   // which of the request's n sequences
  std::string text;                // filled by the layer that detokenizes
  std::vector<int32_t> token_ids;  // every generated token so far
  int num_new_tokens = 0;          // how many of token_ids arrived in this step
  std::optional<double> cumulative_logprob;  // when logprobs were requested
  std::vector<TokenLogprobs> logprobs;       // one entry per token when logprobs were requested
  FinishReason finish_reason = FinishReason::kNone;
  std::optional<int32_t> stop_token;  // the EOS or stop_token_ids entry that ended the sequence
  std::string stop_string;            // the stop string that ended it (set by the detokenizing layer)
  bool finished() const { return finish_reason != FinishReason::kNone; }
};

struct RequestMetrics {
  std::chrono::steady_clock::time_point arrival_time;
  std::optional<std::chrono::steady_clock::time_point> first_scheduled_time;
  std::optional<std::chrono::steady_clock::time_point> first_token_time;
  std::optional<std::chrono::steady_clock::time_point> last_token_time;
  std::optional<std::chrono::steady_clock::time_point> finished_time;
};

struct RequestOutput {
  std::string request_id;
  std::vector<int32_t> prompt_token_ids;
  // One entry per prompt token (the first is always empty, as in vLLM) when prompt_logprobs were requested.
  std::optional<std::vector<std::optional<TokenLogprobs>>> prompt_logprobs;
  std::vector<CompletionOutput> outputs;
  bool finished = false;
  int num_cached_tokens = 0;  // prompt tokens served from the prefix cache
  int num_preemptions = 0;
  RequestMetrics metrics;
};

}  // namespace tessera::engine
