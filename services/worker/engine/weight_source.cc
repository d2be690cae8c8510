#include "services/worker/engine/weight_source.h"

#include <cmath>
#include <functional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace tessera::engine {

int64_t HostWeight::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string ShapeToString(const std::vector<int64_t>& shape) { return absl::StrCat("[", absl::StrJoin(shape, ", "), "]"); }

absl::StatusOr<std::unique_ptr<SafetensorsWeightSource>> SafetensorsWeightSource::Open(const std::string& model_dir) {
  ASSIGN_OR_RETURN(auto files, WeightFiles::Open(model_dir));
  return std::unique_ptr<SafetensorsWeightSource>(new SafetensorsWeightSource(std::move(files)));
}

bool SafetensorsWeightSource::Contains(std::string_view name) const { return files_->Contains(name); }

absl::StatusOr<HostWeight> SafetensorsWeightSource::Load(std::string_view name,
                                                         const std::vector<int64_t>& expected_shape) const {
  ASSIGN_OR_RETURN(SafetensorsTensor tensor, files_->Get(name));
  if (tensor.dtype != DType::kF32 && tensor.dtype != DType::kBF16 && tensor.dtype != DType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", std::string(name), "' in ", tensor.file, " has dtype ",
                                                   std::string(DTypeName(tensor.dtype)), "; weights must be F32, BF16 or F16"));
  }
  if (tensor.shape != expected_shape) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", std::string(name), "' in ", tensor.file, " has shape ",
                                                   ShapeToString(tensor.shape), " but config.json implies ",
                                                   ShapeToString(expected_shape)));
  }
  HostWeight weight;
  weight.dtype = tensor.dtype;
  weight.shape = tensor.shape;
  weight.data = tensor.data;
  return weight;
}

DummyWeightSource::DummyWeightSource(const ModelConfig& config, uint64_t seed)
    : tie_word_embeddings_(config.tie_word_embeddings),
      stddev_(config.raw.contains("initializer_range") && config.raw["initializer_range"].is_number()
                  ? config.raw["initializer_range"].get<double>()
                  : 0.02),
      seed_(seed) {}

bool DummyWeightSource::Contains(std::string_view name) const {
  return !(tie_word_embeddings_ && name == "lm_head.weight");
}

namespace {
// SplitMix64: a counter-based generator, so that every element can be computed independently and in parallel.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

absl::StatusOr<HostWeight> DummyWeightSource::Load(std::string_view name,
                                                   const std::vector<int64_t>& expected_shape) const {
  if (!Contains(name)) return absl::NotFoundError(absl::StrCat("tensor '", std::string(name), "' not in the dummy model"));
  HostWeight weight;
  weight.dtype = DType::kF32;
  weight.shape = expected_shape;
  const int64_t n = weight.numel();
  weight.storage.resize(static_cast<size_t>(n) * sizeof(float));
  float* values = reinterpret_cast<float*>(weight.storage.data());
  if (absl::EndsWith(absl::string_view(name.data(), name.size()), "norm.weight")) {
    for (int64_t i = 0; i < n; ++i) values[i] = 1.0f;
  } else {
    const uint64_t stream = SplitMix64(seed_ ^ std::hash<std::string_view>{}(name));
    // Uniform on [-a, a] has standard deviation a / sqrt(3).
    const float amplitude = static_cast<float>(stddev_ * std::sqrt(3.0));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      const double unit = static_cast<double>(SplitMix64(stream + static_cast<uint64_t>(i)) >> 11) * 0x1.0p-53;
      values[i] = static_cast<float>((2.0 * unit - 1.0) * amplitude);
    }
  }
  weight.data = weight.storage.data();
  return weight;
}

}  // namespace tessera::engine
