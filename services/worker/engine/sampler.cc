#include "services/worker/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

namespace tessera::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// How many of the most likely tokens top_p sorts first; most nuclei are far smaller than the vocabulary.
constexpr size_t kTopPInitialSortSize = 64;

// Per-thread buffers reused across steps so that sampling allocates nothing once warm.
struct Scratch {
  std::vector<float> processed;  // the row after masks, penalties and temperature
  std::vector<double> weights;   // exp(processed - max) of the surviving tokens
  std::vector<int32_t> ids;      // candidate ids for top_p ordering
  std::vector<float> values;     // candidate values for the top_k threshold
  std::vector<int32_t> ranked;   // index order for top logprobs
};

Scratch& ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

bool InVocab(int32_t id, size_t vocab_size) { return id >= 0 && static_cast<size_t>(id) < vocab_size; }

float MaxFinite(std::span<const float> values) {
  float best = kNegInf;
  for (float v : values)
    if (v > best) best = v;  // NaN never compares greater, so it is skipped
  return best;
}

void ApplyBadWords(const SamplingParams& params, const SequenceSamplingState& state, std::span<float> x) {
  const std::vector<int32_t>& output = state.output_token_ids();
  for (const std::vector<int32_t>& word : params.bad_words_token_ids) {
    if (word.empty()) continue;
    const size_t prefix_len = word.size() - 1;
    if (prefix_len > output.size()) continue;
    // The word's leading ids must be the last ids generated, so that the last id would complete it.
    if (!std::equal(word.begin(), word.end() - 1, output.end() - static_cast<std::ptrdiff_t>(prefix_len))) continue;
    if (InVocab(word.back(), x.size())) x[word.back()] = kNegInf;
  }
}

void ApplyPenalties(const SamplingParams& params, const SequenceSamplingState& state, std::span<float> x) {
  if (params.repetition_penalty != 1.0f) {
    const float penalty = params.repetition_penalty;
    auto penalize = [&](int32_t id) {
      if (!InVocab(id, x.size())) return;
      x[id] = x[id] > 0.0f ? x[id] / penalty : x[id] * penalty;
    };
    for (int32_t id : state.prompt_token_set()) penalize(id);
    for (const auto& [id, count] : state.output_token_counts())
      if (!state.PromptContains(id)) penalize(id);  // each seen token is penalized once
  }
  if (params.frequency_penalty != 0.0f || params.presence_penalty != 0.0f) {
    for (const auto& [id, count] : state.output_token_counts()) {
      if (!InVocab(id, x.size()) || count <= 0) continue;
      x[id] -= params.frequency_penalty * static_cast<float>(count);
      x[id] -= params.presence_penalty;
    }
  }
}

// Keeps the tokens at least as likely as the k-th most likely one (so ties with it survive, as in vLLM).
void ApplyTopK(int top_k, std::span<float> x, Scratch& scratch) {
  std::vector<float>& values = scratch.values;
  values.clear();
  for (float v : x)
    if (v > kNegInf) values.push_back(v);
  if (top_k <= 0 || static_cast<size_t>(top_k) >= values.size()) return;
  std::nth_element(values.begin(), values.begin() + (top_k - 1), values.end(), std::greater<float>());
  const float threshold = values[top_k - 1];
  for (float& v : x)
    if (v < threshold) v = kNegInf;
}

// Keeps the smallest set of most likely tokens whose probability mass reaches top_p: a token survives when the mass
// of the tokens ranked before it is below top_p, so the token that crosses the boundary is kept (vLLM's rule).
void ApplyTopP(float top_p, float max_value, std::span<float> x, Scratch& scratch) {
  std::vector<int32_t>& ids = scratch.ids;
  ids.clear();
  double total = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] > kNegInf) {
      ids.push_back(static_cast<int32_t>(i));
      total += std::exp(static_cast<double>(x[i]) - max_value);
    }
  }
  const double mass_limit = static_cast<double>(top_p) * total;
  auto more_likely = [&](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
  size_t sorted = std::min(ids.size(), kTopPInitialSortSize);
  size_t keep = ids.size();
  while (true) {
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(sorted), ids.end(), more_likely);
    double mass_before = 0.0;
    bool found = false;
    for (size_t j = 0; j < sorted; ++j) {
      if (mass_before >= mass_limit) {
        keep = j;
        found = true;
        break;
      }
      mass_before += std::exp(static_cast<double>(x[ids[j]]) - max_value);
    }
    if (found || sorted == ids.size()) break;
    sorted = std::min(ids.size(), sorted * 4);
  }
  for (size_t j = keep; j < ids.size(); ++j) x[ids[j]] = kNegInf;
}

// Drops tokens whose probability is below min_p times the top token's: p_i / p_max = exp(x_i - x_max).
// Compared in log space (x_i - x_max < log min_p) to spare an exp per token.
void ApplyMinP(float min_p, float max_value, std::span<float> x) {
  const double log_min_p = std::log(static_cast<double>(min_p));
  for (float& v : x)
    if (static_cast<double>(v) - max_value < log_min_p) v = kNegInf;
}

// Inverse-CDF draw over the finite entries of x in id order with a 53-bit uniform from `bits`; returns -1 when
// nothing survived.
int32_t DrawFromLogits(std::span<const float> x, float max_value, uint64_t bits, Scratch& scratch) {
  std::vector<double>& weights = scratch.weights;
  weights.resize(x.size());
  double total = 0.0;
  int32_t last_finite = -1;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] > kNegInf) {
      weights[i] = std::exp(static_cast<double>(x[i]) - max_value);
      last_finite = static_cast<int32_t>(i);
    } else {
      weights[i] = 0.0;
    }
    total += weights[i];
  }
  if (last_finite < 0) return -1;
  const double target = static_cast<double>(bits >> 11) * 0x1.0p-53 * total;
  double cumulative = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    cumulative += weights[i];
    if (weights[i] > 0.0 && target < cumulative) return static_cast<int32_t>(i);
  }
  return last_finite;  // rounding left target at the very top
}

// `allowed_applied` lets Sample() build the allowed-only row straight from the model's logits.
void ProcessLogitsImpl(std::span<float> x, const SamplingParams& params, const SequenceSamplingState& state,
                       std::span<const int32_t> eos_token_ids, bool allowed_applied) {
  if (params.allowed_token_ids && !allowed_applied) {
    std::vector<float>& kept = ThreadScratch().values;
    kept.clear();
    for (int32_t id : *params.allowed_token_ids) kept.push_back(InVocab(id, x.size()) ? x[id] : kNegInf);
    std::fill(x.begin(), x.end(), kNegInf);
    for (size_t i = 0; i < kept.size(); ++i) {
      const int32_t id = (*params.allowed_token_ids)[i];
      if (InVocab(id, x.size())) x[id] = kept[i];
    }
  }
  ApplyBadWords(params, state, x);
  if (state.num_output_tokens() < params.min_tokens) {
    for (int32_t id : eos_token_ids)
      if (InVocab(id, x.size())) x[id] = kNegInf;
    for (int32_t id : params.stop_token_ids)
      if (InVocab(id, x.size())) x[id] = kNegInf;
  }
  for (const auto& [id, bias] : params.logit_bias)
    if (InVocab(id, x.size())) x[id] += std::clamp(bias, -kMaxAbsLogitBias, kMaxAbsLogitBias);
  if (params.has_penalties()) ApplyPenalties(params, state, x);
}

}  // namespace

void ProcessLogits(std::span<float> logits, const SamplingParams& params, const SequenceSamplingState& state,
                   std::span<const int32_t> eos_token_ids) {
  ProcessLogitsImpl(logits, params, state, eos_token_ids, /*allowed_applied=*/false);
}

SequenceSamplingState::SequenceSamplingState(std::span<const int32_t> prompt_token_ids)
    : prompt_token_set_(prompt_token_ids.begin(), prompt_token_ids.end()) {
  std::sort(prompt_token_set_.begin(), prompt_token_set_.end());
  prompt_token_set_.erase(std::unique(prompt_token_set_.begin(), prompt_token_set_.end()), prompt_token_set_.end());
}

void SequenceSamplingState::Append(int32_t token_id) {
  output_token_ids_.push_back(token_id);
  ++output_counts_[token_id];
}

bool SequenceSamplingState::PromptContains(int32_t token_id) const {
  return std::binary_search(prompt_token_set_.begin(), prompt_token_set_.end(), token_id);
}

int SequenceSamplingState::OutputCount(int32_t token_id) const {
  auto it = output_counts_.find(token_id);
  return it == output_counts_.end() ? 0 : it->second;
}

Sampler::Sampler(std::vector<int32_t> eos_token_ids, LogprobsMode logprobs_mode)
    : eos_token_ids_(std::move(eos_token_ids)), logprobs_mode_(logprobs_mode) {}

SampledToken Sampler::Sample(std::span<const float> logits, const SamplingParams& params,
                             const SequenceSamplingState& state, std::mt19937_64& rng) const {
  SampledToken result;
  if (logits.empty()) return result;
  const bool greedy = params.is_greedy();
  // Drawn before anything looks at the logits: the generator advances by exactly one output per sampled step.
  const uint64_t random_bits = greedy ? 0 : rng();

  Scratch& scratch = ThreadScratch();
  scratch.processed.assign(logits.begin(), logits.end());
  std::span<float> x(scratch.processed);

  if (params.allowed_token_ids) {
    // Only allowed ids keep their logit; the rest of the row is overwritten below.
    std::fill(x.begin(), x.end(), kNegInf);
    for (int32_t id : *params.allowed_token_ids)
      if (InVocab(id, x.size())) x[id] = logits[id];
  }
  ProcessLogitsImpl(x, params, state, eos_token_ids_, /*allowed_applied=*/true);

  int32_t token = -1;
  if (greedy) {
    const int32_t best = ArgMax(x.data(), static_cast<int>(x.size()));
    if (x[best] > kNegInf) token = best;
  } else {
    for (float& v : x) v /= params.temperature;
    float max_value = MaxFinite(x);
    if (max_value > kNegInf) {
      // Each filter keeps the most likely token, so max_value stays the maximum of what survives.
      if (params.min_p > 0.0f) ApplyMinP(params.min_p, max_value, x);
      if (params.top_k > 0) ApplyTopK(params.top_k, x, scratch);
      if (params.top_p < 1.0f) ApplyTopP(params.top_p, max_value, x, scratch);
      token = DrawFromLogits(x, max_value, random_bits, scratch);
    }
  }
  // Every token masked (e.g. allowed_token_ids all banned as bad words): fall back to the model's own favourite
  // instead of failing the request.
  if (token < 0) token = ArgMax(logits.data(), static_cast<int>(logits.size()));
  result.token_id = token;

  if (params.logprobs) {
    const std::span<const float> source =
        logprobs_mode_ == LogprobsMode::kRawLogprobs ? logits : std::span<const float>(scratch.processed);
    result.logprobs = ComputeTokenLogprobs(source, token, *params.logprobs);
  }
  return result;
}

TokenLogprobs ComputeTokenLogprobs(std::span<const float> logits, int32_t token_id, int num_top) {
  TokenLogprobs out;
  out.token_id = token_id;
  const size_t vocab_size = logits.size();
  const float max_value = MaxFinite(logits);
  double log_normalizer = -std::numeric_limits<double>::infinity();
  if (max_value > kNegInf) {
    double sum = 0.0;
    for (float v : logits)
      if (v > kNegInf) sum += std::exp(static_cast<double>(v) - max_value);
    log_normalizer = max_value + std::log(sum);
  }
  auto logprob_of = [&](int32_t id) -> float {
    const float v = logits[id];
    if (!(v > kNegInf) || std::isinf(log_normalizer)) return kNegInf;
    return static_cast<float>(static_cast<double>(v) - log_normalizer);
  };

  if (InVocab(token_id, vocab_size)) {
    out.logprob = logprob_of(token_id);
    const float chosen = logits[token_id];
    int32_t rank = 0;
    for (float v : logits)
      if (v >= chosen) ++rank;
    out.rank = rank;
  } else {
    out.logprob = kNegInf;
    out.rank = static_cast<int32_t>(vocab_size);
  }

  const size_t count = num_top < 0 ? vocab_size : std::min(vocab_size, static_cast<size_t>(num_top));
  if (count == 0) return out;
  std::vector<int32_t>& ranked = ThreadScratch().ranked;
  ranked.resize(vocab_size);
  std::iota(ranked.begin(), ranked.end(), 0);
  auto key = [&](int32_t id) { return std::isnan(logits[id]) ? kNegInf : logits[id]; };
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(count), ranked.end(),
                    [&](int32_t a, int32_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); });
  out.top.reserve(count);
  for (size_t i = 0; i < count; ++i) out.top.push_back({ranked[i], logprob_of(ranked[i])});
  return out;
}

int32_t ArgMax(const float* logits, int vocab_size) {
  int32_t best = 0;
  for (int32_t i = 1; i < vocab_size; ++i)
    if (logits[i] > logits[best] || std::isnan(logits[best])) best = i;
  return best;
}

int32_t SampleToken(const float* logits, int vocab_size, const SamplingParams& params, std::mt19937_64& rng) {
  const Sampler sampler;
  const SequenceSamplingState no_history;
  const std::span<const float> row(logits, static_cast<size_t>(std::max(vocab_size, 0)));
  if (!params.logprobs) return sampler.Sample(row, params, no_history, rng).token_id;
  SamplingParams without_logprobs = params;  // callers of this entry point never read logprobs
  without_logprobs.logprobs.reset();
  return sampler.Sample(row, without_logprobs, no_history, rng).token_id;
}

}  // namespace tessera::engine
