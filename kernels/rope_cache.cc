#include "kernels/rope_cache.h"

#include <cmath>
#include <numbers>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tessera::kernels {
namespace {

absl::Status Validate(const RopeParameters& p) {
  if (p.rotary_dim <= 0 || p.rotary_dim % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rope: rotary_dim must be a positive even number, got ", p.rotary_dim));
  }
  if (!(p.theta > 0.0) || !std::isfinite(p.theta)) {
    return absl::InvalidArgumentError(absl::StrCat("rope: rope_theta must be positive, got ", p.theta));
  }
  if (p.scaling_type == "default") return absl::OkStatus();
  if (p.scaling_type != "linear" && p.scaling_type != "llama3") {
    return absl::InvalidArgumentError(absl::StrCat("rope: unsupported rope_scaling type \"", p.scaling_type,
                                                   "\"; supported types are \"default\", \"linear\" and \"llama3\""));
  }
  if (!(p.factor > 0.0) || !std::isfinite(p.factor)) {
    return absl::InvalidArgumentError(
        absl::StrCat("rope: rope_scaling.factor must be positive for \"", p.scaling_type, "\", got ", p.factor));
  }
  if (p.scaling_type == "llama3") {
    if (p.original_max_position_embeddings <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("rope: llama3 scaling needs rope_scaling.original_max_position_embeddings > 0, got ",
                       p.original_max_position_embeddings));
    }
    if (!(p.low_freq_factor > 0.0) || !(p.high_freq_factor > p.low_freq_factor)) {
      return absl::InvalidArgumentError(
          absl::StrCat("rope: llama3 scaling needs 0 < low_freq_factor < high_freq_factor, got low_freq_factor ",
                       p.low_freq_factor, " and high_freq_factor ", p.high_freq_factor));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<float>> ComputeRopeInverseFrequencies(const RopeParameters& p) {
  if (absl::Status s = Validate(p); !s.ok()) return s;
  const int half = p.rotary_dim / 2;
  std::vector<float> inv_freq(half);
  // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), every step in float32.
  const float base = static_cast<float>(p.theta);
  const float dim = static_cast<float>(p.rotary_dim);
  for (int i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / dim;
    inv_freq[i] = 1.0f / std::pow(base, exponent);
  }
  if (p.scaling_type == "linear") {
    const float factor = static_cast<float>(p.factor);
    for (float& f : inv_freq) f /= factor;
  } else if (p.scaling_type == "llama3") {
    // transformers' _compute_llama3_parameters. Python scalars meet float32 tensors, so they are rounded to float32;
    // `scalar / tensor` is evaluated by torch as tensor.reciprocal() * scalar.
    const float factor = static_cast<float>(p.factor);
    const double old_context = p.original_max_position_embeddings;
    const float low_freq_wavelen = static_cast<float>(old_context / p.low_freq_factor);
    const float high_freq_wavelen = static_cast<float>(old_context / p.high_freq_factor);
    const float two_pi = static_cast<float>(2.0 * std::numbers::pi);
    const float low = static_cast<float>(p.low_freq_factor);
    const float factor_span = static_cast<float>(p.high_freq_factor - p.low_freq_factor);
    for (float& f : inv_freq) {
      const float wavelen = (1.0f / f) * two_pi;
      const float scaled = wavelen > low_freq_wavelen ? f / factor : f;
      const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
      if (medium) {
        const float smooth = ((1.0f / wavelen) * static_cast<float>(old_context) - low) / factor_span;
        f = (1.0f - smooth) * scaled / factor + smooth * scaled;
      } else {
        f = scaled;
      }
    }
  }
  return inv_freq;
}

absl::StatusOr<std::vector<float>> BuildRopeCosSinCache(const RopeParameters& p, int max_positions) {
  if (max_positions < 0) {
    return absl::InvalidArgumentError(absl::StrCat("rope: max_positions must not be negative, got ", max_positions));
  }
  absl::StatusOr<std::vector<float>> inv_freq = ComputeRopeInverseFrequencies(p);
  if (!inv_freq.ok()) return inv_freq.status();
  const int half = p.rotary_dim / 2;
  std::vector<float> table(static_cast<size_t>(max_positions) * p.rotary_dim);
  for (int pos = 0; pos < max_positions; ++pos) {
    float* row = table.data() + static_cast<size_t>(pos) * p.rotary_dim;
    for (int i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos) * (*inv_freq)[i];
      row[i] = std::cos(angle);
      row[half + i] = std::sin(angle);
    }
  }
  return table;
}

}  // namespace tessera::kernels
