// Picks the next token of one sequence from its logits row on the host, with vLLM v1's sampler semantics: masks,
// biases and penalties, then greedy or a temperature / min-p / top-k / top-p draw from the sequence's own generator,
// plus the logprobs a request asked for. Also computes prompt logprobs from raw logits.
//
// Order of operations (vLLM v1 Sampler.forward):
//   1. logprobs of the raw logits are taken now when LogprobsMode::kRawLogprobs (vLLM v1's default);
//   2. allowed_token_ids (everything else -inf), 3. bad words, 4. min_tokens (EOS and stop_token_ids -inf while
//   fewer than min_tokens tokens exist), 5. logit_bias (clamped to [-100, 100]), 6. repetition, frequency and
//   presence penalties;
//   7. greedy (temperature < kSamplingEps): the arg-max, lowest id on ties; otherwise logits / temperature, min_p,
//   top_k, top_p, and an inverse-CDF draw over the surviving tokens in id order;
//   8. with LogprobsMode::kProcessedLogprobs the logprobs are those of the final distribution instead (after step 6
//   for greedy requests, after top_p for sampled ones; filtered tokens have -inf).
//
// Seeding: a sampled (non-greedy) step consumes exactly one 64-bit output of the generator, drawn before the logits
// are looked at, and greedy steps consume none, so a sequence's generator position depends only on its own step
// count; the engine gives every sequence its own generator, so a seed reproduces the same tokens in any batch.
//
// Cost per step: one copy of the row into thread-local scratch plus O(vocab) passes; penalties touch only tokens the
// sequence has seen; top_p sorts only as much of the vocabulary as its nucleus needs. No allocation once warm.
//
// Engine usage, per sequence:
//   SequenceSamplingState state(prompt_token_ids);        // once, when the request is added
//   Sampler sampler(eos_token_ids);                       // once per engine
//   SampledToken t = sampler.Sample(row, params, state, rng);
//   state.Append(t.token_id);                             // then the engine's own stop checks
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/worker/engine/sampling_params.h"

namespace tessera::engine {

// Which distribution logprobs describe (vLLM's --logprobs-mode). vLLM v1 defaults to the raw model output.
enum class LogprobsMode {
  kRawLogprobs,        // log_softmax of the model's logits, before any mask, penalty or temperature
  kProcessedLogprobs,  // log_softmax of the distribution the token was actually drawn from
};

struct TopLogprob {
  int32_t token_id = 0;
  float logprob = 0.0f;
};

// The logprobs of one position: the chosen (or prompt) token with its 1-based rank, i.e. the number of vocabulary
// entries whose logprob is >= its own (vLLM counts ties that way), and the `top` most likely entries, most likely
// first, lower id first on ties. The chosen token is reported separately even when it is also in `top`.
struct TokenLogprobs {
  int32_t token_id = 0;
  float logprob = 0.0f;
  int32_t rank = 0;
  std::vector<TopLogprob> top;
};

struct SampledToken {
  int32_t token_id = 0;
  std::optional<TokenLogprobs> logprobs;  // present iff params.logprobs is set
};

// What the sampler needs to remember about one sequence: the distinct prompt ids (repetition penalty), the generated
// ids (bad words, min_tokens) and how often each was generated (frequency/presence penalties). Survives preemption,
// since it describes tokens, not KV cache. One per sequence (n > 1 sequences of a request have one each).
class SequenceSamplingState {
 public:
  SequenceSamplingState() = default;
  explicit SequenceSamplingState(std::span<const int32_t> prompt_token_ids);

  // Records a generated token. Call after each Sample (also for tokens that finish the sequence).
  void Append(int32_t token_id);

  const std::vector<int32_t>& output_token_ids() const { return output_token_ids_; }
  int num_output_tokens() const { return static_cast<int>(output_token_ids_.size()); }
  // Sorted, without duplicates.
  const std::vector<int32_t>& prompt_token_set() const { return prompt_token_set_; }
  bool PromptContains(int32_t token_id) const;
  int OutputCount(int32_t token_id) const;
  const absl::flat_hash_map<int32_t, int32_t>& output_token_counts() const { return output_counts_; }

 private:
  std::vector<int32_t> prompt_token_set_;
  std::vector<int32_t> output_token_ids_;
  absl::flat_hash_map<int32_t, int32_t> output_counts_;
};

class Sampler {
 public:
  // `eos_token_ids` are masked while min_tokens is not reached (also with ignore_eos, as vLLM does).
  explicit Sampler(std::vector<int32_t> eos_token_ids = {}, LogprobsMode logprobs_mode = LogprobsMode::kRawLogprobs);

  // Picks the next token from one row of logits (the vocabulary is logits.size()). `params` must have passed
  // Validate; ids outside the row are ignored rather than trusted. Never fails: if every token is masked, the
  // highest raw logit is taken. Does not modify `state`: Append the result.
  SampledToken Sample(std::span<const float> logits, const SamplingParams& params,
                      const SequenceSamplingState& state, std::mt19937_64& rng) const;

  LogprobsMode logprobs_mode() const { return logprobs_mode_; }
  const std::vector<int32_t>& eos_token_ids() const { return eos_token_ids_; }

 private:
  std::vector<int32_t> eos_token_ids_;
  LogprobsMode logprobs_mode_;
};

// Steps 2-6 above in place on one row: allowed_token_ids, bad words, min_tokens masking of `eos_token_ids` and
// stop_token_ids, logit_bias, penalties. Sample() runs it first; exposed for backends that sample elsewhere.
void ProcessLogits(std::span<float> logits, const SamplingParams& params, const SequenceSamplingState& state,
                   std::span<const int32_t> eos_token_ids);

// Logprobs of `token_id` under log_softmax(logits), with the `num_top` most likely entries (-1 = all). This is what
// prompt_logprobs report for each prompt position (vLLM computes them from the raw logits).
TokenLogprobs ComputeTokenLogprobs(std::span<const float> logits, int32_t token_id, int num_top);

// Index of the largest logit; the lowest index wins ties, as torch.argmax does.
int32_t ArgMax(const float* logits, int vocab_size);

// The engine-core entry point kept for compatibility: Sample() with no eos ids, an empty sequence state (so no
// min_tokens, penalties or bad words relative to history) and without logprobs.
int32_t SampleToken(const float* logits, int vocab_size, const SamplingParams& params, std::mt19937_64& rng);

}  // namespace tessera::engine
