// The op interface the engine runs its models through. A Backend owns a device (CPU memory or one GPU with its
// stream); tensors are non-owning views of memory that Backend::Allocate returned. Ops are enqueued in order on the
// backend's stream; only the copies to the host and Synchronize wait. The engine never knows which backend runs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/dtype.h"

namespace tessera::kernels {

// A view of up to three dimensions. Dimension 0 may be strided (row_stride, in elements) so that q, k and v can be
// read in place from one fused QKV projection; the inner dimensions are contiguous.
struct Tensor {
  void* data = nullptr;
  DType dtype = DType::kF32;
  std::array<int64_t, 3> shape{0, 1, 1};
  int rank = 1;
  int64_t row_stride = 0;  // elements between consecutive rows of dim 0; 0 means contiguous

  int64_t dim(int i) const { return shape[i]; }
  int64_t rows() const { return shape[0]; }
  int64_t row_elements() const { return rank == 1 ? 1 : shape[1] * (rank == 3 ? shape[2] : 1); }
  int64_t stride() const { return row_stride ? row_stride : row_elements(); }
  int64_t numel() const { return shape[0] * row_elements(); }
  template <typename T>
  T* as() const { return static_cast<T*>(data); }

  static Tensor Make1D(void* data, DType dtype, int64_t n) { return Tensor{data, dtype, {n, 1, 1}, 1, 0}; }
  static Tensor Make2D(void* data, DType dtype, int64_t rows, int64_t cols) {
    return Tensor{data, dtype, {rows, cols, 1}, 2, 0};
  }
  static Tensor Make3D(void* data, DType dtype, int64_t a, int64_t b, int64_t c) {
    return Tensor{data, dtype, {a, b, c}, 3, 0};
  }
  // Columns [col_begin, col_begin + cols) of a contiguous 2-D tensor, viewed as [rows, heads, head_dim].
  Tensor ColumnSlice(int64_t col_begin, int64_t heads, int64_t head_dim) const;
  // Rows [begin, begin + count) of this tensor.
  Tensor RowSlice(int64_t begin, int64_t count) const;
};

// Memory on the backend's device; freed when destroyed.
class DeviceMemory {
 public:
  virtual ~DeviceMemory() = default;
  virtual void* data() = 0;
  virtual size_t bytes() const = 0;
};

// Everything attention needs to know about a flat varlen batch. All tensors are int32 and live on the device.
// Sequence s owns query rows [query_start_loc[s], query_start_loc[s+1]); its context after this step holds
// seq_lens[s] tokens, so its query row i sits at position seq_lens[s] - query_len(s) + i and attends causally to
// positions 0..that position, all read from the paged cache through block_tables[s].
struct AttentionMetadata {
  Tensor query_start_loc;  // [num_seqs + 1]
  Tensor seq_lens;         // [num_seqs]
  Tensor block_tables;     // [num_seqs, max_blocks_per_seq]
  int num_seqs = 0;
  int max_query_len = 0;  // host copies of the maxima, for launch shapes
  int max_seq_len = 0;
  int block_size = 16;
};

// Host-visible facts a backend reports so that the engine can plan memory.
struct DeviceInfo {
  std::string_view name;
  size_t total_memory_bytes = 0;
  size_t free_memory_bytes = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string_view name() const = 0;
  // The type activations and the KV cache are kept in (float32 on the CPU, bfloat16 on GPUs).
  virtual DType activation_dtype() const = 0;
  // Whether Gemm accepts weights of this type directly.
  virtual bool SupportsWeightDType(DType dtype) const = 0;
  virtual DeviceInfo Info() const = 0;

  virtual absl::StatusOr<std::unique_ptr<DeviceMemory>> Allocate(size_t bytes) = 0;
  // Host → device copy, ordered with the ops; the host buffer must stay valid until the next Synchronize.
  virtual void CopyToDevice(void* device_dst, const void* host_src, size_t bytes) = 0;
  // Device → host copy; returns when the data is on the host.
  virtual absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) = 0;
  virtual absl::Status Synchronize() = 0;
  // The stream the ops are enqueued on (a cudaStream_t for CUDA), for libraries that must order their own device
  // work with the backend's, such as NCCL's collectives; null where ops run synchronously on the host.
  virtual void* native_stream() { return nullptr; }

  // out[t, :] = table[ids[t], :]. ids int32 [T]; table [V, H]; out [T, H]. An id of -1 gives a row of zeros: a
  // vocabulary-parallel shard looks up only its own ids and the all-reduce that follows fills in the rest.
  virtual void Embedding(const Tensor& ids, const Tensor& table, Tensor& out) = 0;
  // out = x / rms(x) * weight over the last dimension. x, out [T, H]; weight [H].
  virtual void RmsNorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;
  // residual += x, then out = RmsNorm(residual). Fused because every decoder layer does both in a row.
  virtual void AddRmsNorm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out) = 0;
  // Per-head RMSNorm in place (Qwen3's q_norm / k_norm). x [T, heads, head_dim] (row-strided); weight [head_dim].
  virtual void HeadRmsNorm(Tensor& x, const Tensor& weight, float eps) = 0;
  // y = x · wᵀ (+ bias). x [T, K]; w [N, K] (the Hugging Face layout); bias [N] or null; y [T, N]. y may be
  // float32 while activations are bfloat16 (logits).
  virtual void Gemm(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) = 0;
  // Rotary embedding in place, neox style (rotate_half: dimension i pairs with i + rotary_dim/2).
  // positions int32 [T]; q [T, Hq, D], k [T, Hk, D] (row-strided); cos_sin [max_positions, rotary_dim] float32
  // with cos in the first half of each row and sin in the second.
  virtual void Rope(const Tensor& positions, Tensor& q, Tensor& k, const Tensor& cos_sin, int rotary_dim) = 0;
  // k_cache[slot] = k[t], v_cache[slot] = v[t] for slot = slot_mapping[t] (int32 [T]; negative = skip).
  // k, v [T, Hk, D] (row-strided); caches [num_blocks * block_size, Hk, D].
  virtual void WriteKvCache(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache,
                            Tensor& v_cache) = 0;
  // Causal attention of a varlen batch over the paged cache (see AttentionMetadata); grouped-query heads map
  // q head h to kv head h / (Hq / Hk). q [T, Hq, D] (row-strided); out [T, Hq, D].
  virtual void PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                              const AttentionMetadata& meta, float scale, Tensor& out) = 0;
  // out = silu(gate) * up, where gate_up [T, 2I] holds gate in the first I columns and up in the last I.
  virtual void SiluMul(const Tensor& gate_up, Tensor& out) = 0;
  // inout += x, elementwise; same shapes.
  virtual void Add(const Tensor& x, Tensor& inout) = 0;
  // out[i, :] = x[indices[i], :]. indices int32 [N].
  virtual void GatherRows(const Tensor& x, const Tensor& indices, Tensor& out) = 0;
};

}  // namespace tessera::kernels
