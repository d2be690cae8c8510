// The reference backend: float32 activations and KV cache in host memory, weights in float32, bfloat16 or float16
// (converted tile by tile as they are used), matrix products through BLAS and the other ops through OpenMP loops.
// It runs everywhere and is what the GPU backend is checked against.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/ops.h"

namespace tessera::kernels {

// Host memory aligned to 64 bytes (one cache line, the widest SIMD load).
class CpuMemory : public DeviceMemory {
 public:
  static absl::StatusOr<std::unique_ptr<CpuMemory>> Create(size_t bytes);
  ~CpuMemory() override;
  CpuMemory(const CpuMemory&) = delete;
  CpuMemory& operator=(const CpuMemory&) = delete;

  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  CpuMemory(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  void* data_;
  size_t bytes_;
};

// Ops run synchronously on the calling thread (parallelised inside with OpenMP). Ops return nothing, so an op
// given inconsistent arguments skips its work and records the error; the next Synchronize or CopyToHost reports
// it, as a GPU backend reports an asynchronous launch failure.
class CpuBackend : public Backend {
 public:
  CpuBackend() = default;

  std::string_view name() const override { return "cpu"; }
  DType activation_dtype() const override { return DType::kF32; }
  bool SupportsWeightDType(DType dtype) const override;
  DeviceInfo Info() const override;

  absl::StatusOr<std::unique_ptr<DeviceMemory>> Allocate(size_t bytes) override;
  void CopyToDevice(void* device_dst, const void* host_src, size_t bytes) override;
  absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;
  absl::Status Synchronize() override;

  void Embedding(const Tensor& ids, const Tensor& table, Tensor& out) override;
  void RmsNorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) override;
  void AddRmsNorm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out) override;
  void HeadRmsNorm(Tensor& x, const Tensor& weight, float eps) override;
  void Gemm(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) override;
  void Rope(const Tensor& positions, Tensor& q, Tensor& k, const Tensor& cos_sin, int rotary_dim) override;
  void WriteKvCache(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache,
                    Tensor& v_cache) override;
  void PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionMetadata& meta,
                      float scale, Tensor& out) override;
  void SiluMul(const Tensor& gate_up, Tensor& out) override;
  void Add(const Tensor& x, Tensor& inout) override;
  void GatherRows(const Tensor& x, const Tensor& indices, Tensor& out) override;

 private:
  // Keeps the first error since the last report; returns `ok` so that ops can `if (!Check(...)) return;`. The
  // message is built only on failure, keeping the checks off the per-token cost.
  template <typename MessageFn>
  bool Check(bool ok, std::string_view op, MessageFn&& message) {
    if (!ok) RecordError(absl::InvalidArgumentError(absl::StrCat("CPU backend ", std::string(op), ": ", message())));
    return ok;
  }
  void RecordError(absl::Status status);
  absl::Status TakeError();

  std::mutex error_mutex_;
  absl::Status pending_error_;
};

}  // namespace tessera::kernels
