// Where a model's weights come from: the memory-mapped safetensors of a Hugging Face folder, or random values
// generated from config.json alone (`--load-format dummy`, for benchmarks at real sizes without downloads).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "common/model_config.h"
#include "common/safetensors.h"

namespace tessera::engine {

// A weight in host memory: either a view into a mapped file or values the source owns.
struct HostWeight {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  std::vector<std::byte> storage;  // non-empty when the source generated the values

  int64_t numel() const;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual bool Contains(std::string_view name) const = 0;
  // Returns the named weight, checking that it has exactly `expected_shape` and a floating-point type.
  virtual absl::StatusOr<HostWeight> Load(std::string_view name, const std::vector<int64_t>& expected_shape) const = 0;
};

class SafetensorsWeightSource : public WeightSource {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsWeightSource>> Open(const std::string& model_dir);
  bool Contains(std::string_view name) const override;
  absl::StatusOr<HostWeight> Load(std::string_view name, const std::vector<int64_t>& expected_shape) const override;

 private:
  explicit SafetensorsWeightSource(std::unique_ptr<WeightFiles> files) : files_(std::move(files)) {}
  std::unique_ptr<WeightFiles> files_;
};

// Deterministic random weights: each tensor's values depend only on the seed and the tensor's name, so that runs
// and tensor-parallel ranks agree. Norm weights are ones; the rest are uniform with the config's
// initializer_range as standard deviation.
class DummyWeightSource : public WeightSource {
 public:
  DummyWeightSource(const ModelConfig& config, uint64_t seed);
  bool Contains(std::string_view name) const override;
  absl::StatusOr<HostWeight> Load(std::string_view name, const std::vector<int64_t>& expected_shape) const override;

 private:
  bool tie_word_embeddings_;
  double stddev_;
  uint64_t seed_;
};

std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace tessera::engine
