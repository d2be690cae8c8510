#include "services/worker/engine/sampling_params.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera::engine {
namespace {

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

bool IsFinite(float value) { return std::isfinite(value); }

absl::Status CheckLogprobsCount(const char* field, const std::optional<int>& count) {
  if (count && *count != -1 && *count < 0) {
    return Invalid(absl::StrCat(field, " must be non-negative or -1, got ", *count, "."));
  }
  return absl::OkStatus();
}

// vLLM words this check "Requested sample logprobs" / "Requested prompt logprobs"; we add the field name.
absl::Status CheckLogprobsLimit(const char* field, const char* what, const std::optional<int>& count,
                                int vocab_size, int max_logprobs) {
  if (!count || *count == 0) return absl::OkStatus();
  const int64_t limit = max_logprobs == -1 ? vocab_size : max_logprobs;
  const int64_t requested = *count == -1 ? vocab_size : *count;
  if (requested > limit) {
    return Invalid(absl::StrCat(field, ": requested ", what, " logprobs of ", requested,
                                ", which is greater than max allowed: ", limit));
  }
  return absl::OkStatus();
}

absl::Status CheckIdsInVocab(const char* field, const std::vector<int32_t>& ids, int vocab_size) {
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size) {
      return Invalid(absl::StrCat(field, " contains token id ", id, ", which is outside the vocabulary [0, ",
                                  vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SamplingParams::Validate(int max_logprobs) const {
  if (n < 1) return Invalid(absl::StrCat("n must be at least 1, got ", n, "."));
  if (best_of) {
    if (*best_of < 1) return Invalid(absl::StrCat("best_of must be at least 1, got ", *best_of, "."));
    if (*best_of < n) {
      return Invalid(absl::StrCat("best_of must be greater than or equal to n, got n=", n, " and best_of=", *best_of,
                                  "."));
    }
  }
  if (!IsFinite(presence_penalty) || presence_penalty < -2.0f || presence_penalty > 2.0f) {
    return Invalid(absl::StrCat("presence_penalty must be in [-2, 2], got ", presence_penalty, "."));
  }
  if (!IsFinite(frequency_penalty) || frequency_penalty < -2.0f || frequency_penalty > 2.0f) {
    return Invalid(absl::StrCat("frequency_penalty must be in [-2, 2], got ", frequency_penalty, "."));
  }
  if (!IsFinite(repetition_penalty) || repetition_penalty <= 0.0f) {
    return Invalid(absl::StrCat("repetition_penalty must be greater than zero, got ", repetition_penalty, "."));
  }
  if (!IsFinite(temperature) || temperature < 0.0f) {
    return Invalid(absl::StrCat("temperature must be non-negative, got ", temperature, "."));
  }
  if (!(top_p > 0.0f && top_p <= 1.0f)) return Invalid(absl::StrCat("top_p must be in (0, 1], got ", top_p, "."));
  if (top_k < -1) return Invalid(absl::StrCat("top_k must be 0 (disable), or at least 1, got ", top_k, "."));
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return Invalid(absl::StrCat("min_p must be in [0, 1], got ", min_p, "."));
  if (max_tokens < 1) return Invalid(absl::StrCat("max_tokens must be at least 1, got ", max_tokens, "."));
  if (min_tokens < 0) {
    return Invalid(absl::StrCat("min_tokens must be greater than or equal to 0, got ", min_tokens, "."));
  }
  if (has_max_tokens() && min_tokens > max_tokens) {
    return Invalid(absl::StrCat("min_tokens must be less than or equal to max_tokens=", max_tokens, ", got ",
                                min_tokens, "."));
  }
  if (absl::Status s = CheckLogprobsCount("logprobs", logprobs); !s.ok()) return s;
  if (absl::Status s = CheckLogprobsCount("prompt_logprobs", prompt_logprobs); !s.ok()) return s;
  // -1 (whole vocabulary) needs the vocabulary size; ValidateAgainstModel checks it.
  if (logprobs && *logprobs != -1 && max_logprobs != -1 && *logprobs > max_logprobs) {
    return Invalid(absl::StrCat("logprobs: requested sample logprobs of ", *logprobs,
                                ", which is greater than max allowed: ", max_logprobs));
  }
  if (prompt_logprobs && *prompt_logprobs != -1 && max_logprobs != -1 && *prompt_logprobs > max_logprobs) {
    return Invalid(absl::StrCat("prompt_logprobs: requested prompt logprobs of ", *prompt_logprobs,
                                ", which is greater than max allowed: ", max_logprobs));
  }
  if (truncate_prompt_tokens && (*truncate_prompt_tokens == 0 || *truncate_prompt_tokens < -1)) {
    return Invalid(absl::StrCat("truncate_prompt_tokens must be an integer >= 1 or -1, got ", *truncate_prompt_tokens,
                                "."));
  }
  for (int32_t id : stop_token_ids) {
    if (id < 0) return Invalid(absl::StrCat("stop_token_ids must contain only non-negative token ids, got ", id, "."));
  }
  if (std::any_of(stop.begin(), stop.end(), [](const std::string& s) { return s.empty(); })) {
    return Invalid("stop cannot contain an empty string.");
  }
  if (std::any_of(bad_words.begin(), bad_words.end(), [](const std::string& s) { return s.empty(); })) {
    return Invalid("bad_words cannot contain an empty string.");
  }
  for (const std::vector<int32_t>& word : bad_words_token_ids) {
    if (word.empty()) return Invalid("bad_words_token_ids cannot contain an empty token sequence.");
  }
  for (const auto& [id, bias] : logit_bias) {
    if (std::isnan(bias)) return Invalid(absl::StrCat("logit_bias for token id ", id, " must be a number, got nan."));
  }
  if (allowed_token_ids && allowed_token_ids->empty()) {
    return Invalid("allowed_token_ids must not be empty when given.");
  }
  // Greedy decoding has a single answer, so several sequences would all be identical.
  if (is_greedy() && n > 1) return Invalid(absl::StrCat("n must be 1 when using greedy sampling, got ", n, "."));
  return absl::OkStatus();
}

absl::Status ValidateAgainstModel(const SamplingParams& params, int vocab_size, int max_logprobs) {
  for (const auto& [id, bias] : params.logit_bias) {
    if (id < 0 || id >= vocab_size) {
      return Invalid(absl::StrCat("logit_bias contains token id ", id, ", which is outside the vocabulary [0, ",
                                  vocab_size, ")"));
    }
  }
  if (params.allowed_token_ids) {
    if (params.allowed_token_ids->empty()) return Invalid("allowed_token_ids must not be empty when given.");
    if (absl::Status s = CheckIdsInVocab("allowed_token_ids", *params.allowed_token_ids, vocab_size); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckIdsInVocab("stop_token_ids", params.stop_token_ids, vocab_size); !s.ok()) return s;
  for (const std::vector<int32_t>& word : params.bad_words_token_ids) {
    if (absl::Status s = CheckIdsInVocab("bad_words_token_ids", word, vocab_size); !s.ok()) return s;
  }
  if (params.top_k > vocab_size) {
    return Invalid(absl::StrCat("top_k cannot be greater than the vocabulary size (", vocab_size, "), got ",
                                params.top_k, "."));
  }
  if (absl::Status s = CheckLogprobsLimit("logprobs", "sample", params.logprobs, vocab_size, max_logprobs); !s.ok()) {
    return s;
  }
  return CheckLogprobsLimit("prompt_logprobs", "prompt", params.prompt_logprobs, vocab_size, max_logprobs);
}

absl::Status ValidateLength(const SamplingParams& params, int prompt_len, int max_model_len) {
  if (prompt_len >= max_model_len) {
    return Invalid(absl::StrCat("the prompt has ", prompt_len, " tokens, but this model's maximum context length is ",
                                max_model_len, " tokens and at least one token must be generated"));
  }
  if (params.has_max_tokens() && static_cast<int64_t>(prompt_len) + params.max_tokens > max_model_len) {
    return Invalid(absl::StrCat("max_tokens is too large: this model's maximum context length is ", max_model_len,
                                " tokens. However, you requested ",
                                static_cast<int64_t>(prompt_len) + params.max_tokens, " tokens (", prompt_len,
                                " in the prompt, ", params.max_tokens,
                                " in the completion). Please reduce the length of the prompt or completion."));
  }
  return absl::OkStatus();
}

int ResolveMaxTokens(const SamplingParams& params, int prompt_len, int max_model_len) {
  const int room = std::max(0, max_model_len - prompt_len);
  return std::min(params.max_tokens, room);
}

SamplingParams DefaultSamplingParams(const GenerationConfig& config) {
  SamplingParams params;
  params.temperature = 1.0f;
  params.max_tokens = kMaxTokensUnbounded;
  if (config.temperature) params.temperature = static_cast<float>(*config.temperature);
  if (config.top_p) params.top_p = static_cast<float>(*config.top_p);
  if (config.top_k) params.top_k = *config.top_k;
  if (config.repetition_penalty) params.repetition_penalty = static_cast<float>(*config.repetition_penalty);
  if (config.max_new_tokens) params.max_tokens = *config.max_new_tokens;
  // min_p has no typed field in GenerationConfig; vLLM reads it from the file like the others.
  if (config.raw.is_object()) {
    auto it = config.raw.find("min_p");
    if (it != config.raw.end() && it->is_number()) params.min_p = it->get<float>();
  }
  return params;
}

}  // namespace tessera::engine
