// Picks the next token of a request from its logits row on the host: greedy at temperature 0, otherwise a draw from
// the temperature-scaled softmax with the request's own generator (so seeded requests repeat exactly).
#pragma once

#include <cstdint>
#include <random>

#include "services/worker/engine/sampling_params.h"

namespace tessera::engine {

// Index of the largest logit; the lowest index wins ties, as torch.argmax does.
int32_t ArgMax(const float* logits, int vocab_size);
int32_t SampleToken(const float* logits, int vocab_size, const SamplingParams& params, std::mt19937_64& rng);

}  // namespace tessera::engine
