// Per-request generation settings with vLLM's SamplingParams semantics and validation: how many sequences, how to
// pick each token (temperature, top-k/top-p/min-p, penalties, biases, masks), when to stop, and what to report.
// The sampler (sampler.h) applies the token-picking fields; the engine and the detokenizing layer apply the rest.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/generation_config.h"

namespace tessera::engine {

// Below this temperature a request is greedy (vLLM's _SAMPLING_EPS).
inline constexpr float kSamplingEps = 1e-5f;
// vLLM's default --max-logprobs: the most top-k logprobs a request may ask for, per token or per prompt position.
inline constexpr int kDefaultMaxLogprobs = 20;
// OpenAI clamps each logit_bias value into this range instead of rejecting it.
inline constexpr float kMaxAbsLogitBias = 100.0f;
// `max_tokens` value meaning "none given": generate until a stop condition or max_model_len (vLLM's None).
// A plain int keeps `output_len >= max_tokens` checks correct without unwrapping an optional.
inline constexpr int kMaxTokensUnbounded = std::numeric_limits<int>::max();

// Field by field the meaning of vllm.SamplingParams. Fields that are "off" by default cost nothing in the sampler.
// The first five fields keep their historical order and meaning.
struct SamplingParams {
  // Most tokens to generate; kMaxTokensUnbounded = up to max_model_len (see ResolveMaxTokens).
  int max_tokens = 16;
  // 0 (anything below kSamplingEps) selects greedy decoding. Note: vLLM's SamplingParams defaults to 1.0; requests
  // built from DefaultSamplingParams() get 1.0, a bare SamplingParams{} stays greedy as the engine has always done.
  float temperature = 0.0f;
  // Seeds the request's own generator; the same seed gives the same tokens whatever else is in the batch.
  // (vLLM's seed=-1 means "no seed": map it to nullopt at the API edge.)
  std::optional<uint64_t> seed;
  // Keep generating past EOS (stop_token_ids still stop).
  bool ignore_eos = false;
  // Token ids that finish the sequence like EOS does; the stop id is not part of the text.
  std::vector<int32_t> stop_token_ids;

  // Sequences returned for the prompt; best_of (>= n) are generated and the n with the best cumulative logprob kept.
  int n = 1;
  std::optional<int> best_of;
  // Nucleus: keep the most likely tokens whose mass before them is < top_p (the boundary token is kept). (0, 1].
  float top_p = 1.0f;
  // Keep the top_k most likely tokens (ties with the k-th are kept); 0 or -1 disables.
  int top_k = 0;
  // Drop tokens whose probability is below min_p times the most likely token's. [0, 1].
  float min_p = 0.0f;
  // OpenAI penalties on the generated tokens: logit -= presence * [count > 0] + frequency * count. [-2, 2].
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // HF/CTRL penalty on every token seen in prompt or output: positive logits divided, negative multiplied. > 0.
  float repetition_penalty = 1.0f;
  // Added to the logit of a token id before sampling; values are clamped to [-100, 100] when applied.
  std::map<int32_t, float> logit_bias;
  // When set, only these ids can be generated (must be non-empty).
  std::optional<std::vector<int32_t>> allowed_token_ids;
  // Words never to generate. The worker fills bad_words_token_ids by tokenizing each word (vLLM tokenizes it with
  // and without a leading space); the sampler bans the last id of a sequence whose other ids end the output.
  std::vector<std::string> bad_words;
  std::vector<std::vector<int32_t>> bad_words_token_ids;
  // Stop strings, matched on the detokenized text by the worker; not in the output unless
  // include_stop_str_in_output.
  std::vector<std::string> stop;
  bool include_stop_str_in_output = false;
  // EOS and stop_token_ids cannot be generated before this many output tokens.
  int min_tokens = 0;
  // Report the logprob and rank of each generated token plus the `logprobs` most likely alternatives
  // (0 = the chosen token only, -1 = the whole vocabulary, nullopt = none).
  std::optional<int> logprobs;
  // The same for each prompt position (raw model distribution), computed at prefill.
  std::optional<int> prompt_logprobs;
  // Detokenization options honoured by the worker.
  bool skip_special_tokens = true;
  bool spaces_between_special_tokens = true;
  // Keep only the last k prompt tokens (-1 = max_model_len, as vLLM); nullopt keeps the whole prompt.
  std::optional<int> truncate_prompt_tokens;
  // Scheduling priority; lower values are served first, ties in arrival order (vLLM's priority scheduling).
  int priority = 0;

  bool is_greedy() const { return temperature < kSamplingEps; }
  bool has_max_tokens() const { return max_tokens != kMaxTokensUnbounded; }
  bool has_penalties() const {
    return presence_penalty != 0.0f || frequency_penalty != 0.0f || repetition_penalty != 1.0f;
  }
  // The number of sequences to generate (best_of when given, else n).
  int num_sequences() const { return best_of.value_or(n); }

  // vLLM's _verify_args (+ its greedy and logprobs-limit checks): rejects values no model could honour, with an
  // InvalidArgument message that names the field. `max_logprobs` is the server's --max-logprobs.
  absl::Status Validate(int max_logprobs = kDefaultMaxLogprobs) const;
};

// Checks that depend on the model: every id in logit_bias, allowed_token_ids, stop_token_ids and
// bad_words_token_ids is inside [0, vocab_size), top_k is not above vocab_size, and logprobs / prompt_logprobs
// (with -1 meaning the whole vocabulary) do not exceed max_logprobs. Messages name the field and the id.
absl::Status ValidateAgainstModel(const SamplingParams& params, int vocab_size,
                                  int max_logprobs = kDefaultMaxLogprobs);

// Rejects a request whose prompt plus max_tokens would not fit into max_model_len (the OpenAI server's check), and
// one whose prompt leaves no room for a single token. Unbounded max_tokens only needs that one token of room.
absl::Status ValidateLength(const SamplingParams& params, int prompt_len, int max_model_len);

// The number of tokens the request may still generate: max_tokens, capped by what max_model_len leaves after the
// prompt (never negative).
int ResolveMaxTokens(const SamplingParams& params, int prompt_len, int max_model_len);

// The request defaults a model ships, as vLLM's get_diff_sampling_param + the OpenAI server's defaults:
// temperature 1.0, top_p 1.0, top_k 0, min_p 0, repetition_penalty 1.0 and unbounded max_tokens, each replaced by
// generation_config.json's temperature / top_p / top_k / min_p / repetition_penalty / max_new_tokens when present.
// do_sample is ignored, as vLLM does. Fields the request sets explicitly are then assigned over these:
//   SamplingParams p = DefaultSamplingParams(gen);  if (req.has_temperature()) p.temperature = req.temperature();
SamplingParams DefaultSamplingParams(const GenerationConfig& config);

}  // namespace tessera::engine
