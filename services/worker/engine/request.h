// One generation request as the engine tracks it: its tokens, how many of them are in the KV cache, the blocks
// holding them, and why it finished. Owned by the engine; the scheduler and runner work on pointers to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "services/worker/engine/sampling_params.h"

namespace tessera::engine {

enum class RequestStatus { kWaiting, kRunning, kFinished };
enum class FinishReason { kNone, kStop, kLength, kAbort };

std::string_view FinishReasonName(FinishReason reason);

struct Request {
  std::string id;
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> output_token_ids;
  SamplingParams params;
  RequestStatus status = RequestStatus::kWaiting;
  FinishReason finish_reason = FinishReason::kNone;
  std::optional<int32_t> stop_token;    // the stop or EOS token that ended it

  // Tokens whose K/V are in the cache. After a preemption this drops to 0 and everything is recomputed.
  int num_computed_tokens = 0;
  std::vector<int32_t> block_ids;       // the request's block table
  std::vector<uint64_t> block_hashes;   // prefix-cache hash chain of the full blocks, filled lazily
  int num_cached_blocks = 0;            // leading blocks already registered in (or taken from) the prefix cache
  int num_cached_tokens = 0;            // prompt tokens served from the prefix cache at admission
  int num_preemptions = 0;
  // Keep the logits of every computed position, not only the last (prompt logprobs, fidelity checks).
  bool keep_all_logits = false;
  uint64_t arrival_order = 0;
  int priority = 0;                     // lower runs first under the priority policy; ties go by arrival
  std::mt19937_64 rng;

  std::chrono::steady_clock::time_point arrival_time;
  std::optional<std::chrono::steady_clock::time_point> first_token_time;
  std::optional<std::chrono::steady_clock::time_point> finish_time;

  int num_tokens() const { return static_cast<int>(prompt_token_ids.size() + output_token_ids.size()); }
  int32_t token_at(int i) const {
    const int prompt_len = static_cast<int>(prompt_token_ids.size());
    return i < prompt_len ? prompt_token_ids[i] : output_token_ids[i - prompt_len];
  }
  bool is_finished() const { return status == RequestStatus::kFinished; }
};

}  // namespace tessera::engine
