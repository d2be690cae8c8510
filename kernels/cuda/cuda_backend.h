// The GPU backend: one CUDA device and one stream, bfloat16 activations and KV cache with float32 accumulation,
// bfloat16 weights for matrix products (cuBLASLt), and the backend's own kernels for everything else. Ops are only
// enqueued; errors of launches and of device-side checks are kept and reported by the next Synchronize or
// CopyToHost, as the CPU backend reports argument errors.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_allocator.h"
#include "kernels/cuda/device_errors.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/pinned_staging.h"
#include "kernels/ops.h"

namespace tessera::kernels::cuda {

class CudaBackend : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(int device_index);
  ~CudaBackend() override;

  std::string_view name() const override { return "cuda"; }
  DType activation_dtype() const override { return DType::kBF16; }
  bool SupportsWeightDType(DType dtype) const override { return dtype == DType::kBF16; }
  DeviceInfo Info() const override;

  absl::StatusOr<std::unique_ptr<DeviceMemory>> Allocate(size_t bytes) override;
  void CopyToDevice(void* device_dst, const void* host_src, size_t bytes) override;
  absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;
  absl::Status Synchronize() override;
  // The cudaStream_t every op is enqueued on (for NCCL and other libraries ordering their work with ours).
  void* native_stream() override { return stream_; }

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
  explicit CudaBackend(int device) : device_(device) {}
  // Makes this backend's GPU current on the calling thread (the engine may run on another thread than the one
  // that created the backend).
  void UseDevice();
  template <typename MessageFn>
  bool Check(bool ok, std::string_view op, MessageFn&& message) {
    if (!ok) RecordError(absl::InvalidArgumentError(absl::StrCat("CUDA backend ", std::string(op), ": ", message())));
    return ok;
  }
  // Records a failed launch; returns whether it succeeded.
  bool CheckLaunch(cudaError_t error, std::string_view op);
  void RecordError(absl::Status status);
  // The first error since the last report: recorded on the host, or found by a kernel on the device. Call after
  // the stream has drained.
  absl::Status TakeError();
  // Scratch of at least `bytes` for the attention kernels' split partials.
  void* AttentionWorkspace(size_t bytes);

  const int device_;
  std::string device_name_;
  cudaStream_t stream_ = nullptr;
  std::shared_ptr<CachingAllocator> allocator_;
  std::unique_ptr<PinnedStaging> staging_;
  std::unique_ptr<DeviceMemory> gemm_workspace_;
  std::unique_ptr<CublasLtGemm> gemm_;
  std::unique_ptr<DeviceMemory> attention_workspace_;
  // The batch shape (num_seqs, max_seq_len) the workspace need was last computed for, and that need.
  std::pair<int, int> attention_workspace_key_{-1, -1};
  size_t attention_workspace_need_ = 0;
  DeviceErrorRecord* device_errors_host_ = nullptr;  // mapped pinned memory
  DeviceErrorRecord* device_errors_ = nullptr;       // its device address

  std::mutex error_mutex_;
  absl::Status pending_error_;
};

}  // namespace tessera::kernels::cuda
