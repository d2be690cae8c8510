// One sequence as the engine tracks it: its tokens, how many of them are in the KV cache, the blocks holding them,
// its sampler state, and why it finished. A request with n > 1 (or best_of) becomes several sequences that share a
// ParentRequest. Owned by the engine; the scheduler and runner work on pointers to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "services/worker/engine/sampler.h"
#include "services/worker/engine/sampling_params.h"

namespace tessera::engine {

enum class RequestStatus { kWaiting, kRunning, kFinished };
enum class FinishReason { kNone, kStop, kLength, kAbort };

std::string_view FinishReasonName(FinishReason reason);

struct ParentRequest;

struct Request {
  std::string id;
  int index = 0;                    // position among the parent's sequences
  ParentRequest* parent = nullptr;  // null for sequences driven by hand (tests)
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> output_token_ids;
  SamplingParams params;
  int max_tokens = 0;               // resolved against max_model_len
  RequestStatus status = RequestStatus::kWaiting;
  FinishReason finish_reason = FinishReason::kNone;
  std::optional<int32_t> stop_token;  // the stop or EOS token that ended it
  std::string stop_string;

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

  SequenceSamplingState sampling_state;
  std::mt19937_64 rng;
  double cumulative_logprob = 0.0;
  std::vector<TokenLogprobs> logprobs;
  int num_new_tokens = 0;               // tokens appended in the current step

  std::chrono::steady_clock::time_point arrival_time;
  std::optional<std::chrono::steady_clock::time_point> first_scheduled_time;
  std::optional<std::chrono::steady_clock::time_point> first_token_time;
  std::optional<std::chrono::steady_clock::time_point> last_token_time;
  std::optional<std::chrono::steady_clock::time_point> finish_time;

  int num_tokens() const { return static_cast<int>(prompt_token_ids.size() + output_token_ids.size()); }
  int32_t token_at(int i) const {
    const int prompt_len = static_cast<int>(prompt_token_ids.size());
    return i < prompt_len ? prompt_token_ids[i] : output_token_ids[i - prompt_len];
  }
  bool is_finished() const { return status == RequestStatus::kFinished; }
};

// The user's request: n (or best_of) sequences generated from one prompt, reported together.
struct ParentRequest {
  std::string id;
  std::vector<int32_t> prompt_token_ids;
  SamplingParams params;
  std::vector<std::unique_ptr<Request>> sequences;
  std::optional<std::vector<std::optional<TokenLogprobs>>> prompt_logprobs;
  int num_finished = 0;
  bool reported_final = false;

  bool finished() const { return num_finished == static_cast<int>(sequences.size()); }
};

}  // namespace tessera::engine
