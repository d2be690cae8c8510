#include "services/worker/engine/sampler.h"

#include <cmath>
#include <vector>

namespace tessera::engine {

int32_t ArgMax(const float* logits, int vocab_size) {
  int32_t best = 0;
  for (int32_t i = 1; i < vocab_size; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

int32_t SampleToken(const float* logits, int vocab_size, const SamplingParams& params, std::mt19937_64& rng) {
  if (params.temperature == 0.0f) return ArgMax(logits, vocab_size);
  const float max_logit = logits[ArgMax(logits, vocab_size)];
  thread_local std::vector<double> weights;
  weights.resize(vocab_size);
  double total = 0.0;
  for (int i = 0; i < vocab_size; ++i) {
    weights[i] = std::exp(static_cast<double>(logits[i] - max_logit) / params.temperature);
    total += weights[i];
  }
  // Inverse-CDF draw with 53-bit uniform so that results do not depend on the standard library's distributions.
  const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * total;
  double acc = 0.0;
  for (int i = 0; i < vocab_size; ++i) {
    acc += weights[i];
    if (u < acc) return i;
  }
  return ArgMax(logits, vocab_size);
}

}  // namespace tessera::engine
