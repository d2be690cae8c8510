// Rotary position embedding tables: the inverse frequencies of each RoPE scaling type, computed with the same
// float32 arithmetic as Hugging Face transformers so that positions line up bit for bit with reference models,
// and the [position, cos | sin] table the Rope op reads.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::kernels {

// The RoPE part of a model config (config.json's rope_theta, rope_scaling and head_dim * partial_rotary_factor).
struct RopeParameters {
  int rotary_dim = 0;
  double theta = 10000.0;
  std::string scaling_type = "default";  // "default", "linear" or "llama3" (rope_scaling.rope_type)
  double factor = 1.0;
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3 only
  int original_max_position_embeddings = 0;              // llama3 only
};

// inv_freq[i] for i in [0, rotary_dim / 2), as transformers' ROPE_INIT_FUNCTIONS compute it: 1 / theta^(2i/dim),
// divided by `factor` for "linear", and for "llama3" divided by `factor` at long wavelengths, kept at short ones and
// smoothly interpolated in between. An unsupported type or inconsistent parameters are InvalidArgument.
absl::StatusOr<std::vector<float>> ComputeRopeInverseFrequencies(const RopeParameters& p);

// [max_positions, rotary_dim] float32, row-major: row p holds cos(p * inv_freq[i]) for i < rotary_dim / 2, then
// sin of the same angles. The angle is the float32 product, as torch computes it.
absl::StatusOr<std::vector<float>> BuildRopeCosSinCache(const RopeParameters& p, int max_positions);

}  // namespace tessera::kernels
