// Launchers of the CUDA backend's own kernels (everything but attention and matrix products): plain functions over
// raw device pointers that enqueue on `stream` and return the launch status. Activations are bfloat16; small
// weights (norm scales, embedding tables, biases) may be float32, bfloat16 or float16. Strides are in elements.
// Kernels that index memory with device-side values report bad values through `errors` instead of reading out of
// bounds.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "common/dtype.h"
#include "kernels/cuda/device_errors.h"

namespace tessera::kernels::cuda {

// out[t, :] = table[ids[t], :] converted to bfloat16.
cudaError_t LaunchEmbedding(const int32_t* ids, int64_t tokens, const void* table, DType table_dtype, int64_t vocab,
                            int64_t table_stride, int64_t hidden, void* out, int64_t out_stride,
                            DeviceErrorRecord* errors, cudaStream_t stream);

// Without `residual`: out = x / rms(x) * weight. With it: residual += x (rounded to bfloat16), then
// out = residual / rms(residual) * weight. Sums of squares in float32.
cudaError_t LaunchRmsNorm(void* residual, int64_t residual_stride, const void* x, int64_t x_stride,
                          const void* weight, DType weight_dtype, float eps, int64_t rows, int64_t hidden, void* out,
                          int64_t out_stride, cudaStream_t stream);

// Per-head RMSNorm in place: x [rows, heads, head_dim] with rows `row_stride` apart.
cudaError_t LaunchHeadRmsNorm(void* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t row_stride,
                              const void* weight, DType weight_dtype, float eps, cudaStream_t stream);

// Neox rotary embedding in place on q [tokens, q_heads, head_dim] and k [tokens, k_heads, head_dim];
// cos_sin [max_positions, cos_sin_stride] float32 with cos in the first rotary_dim / 2 columns, sin in the next.
cudaError_t LaunchRope(const int32_t* positions, int64_t tokens, void* q, int64_t q_heads, int64_t q_stride, void* k,
                       int64_t k_heads, int64_t k_stride, int64_t head_dim, const float* cos_sin,
                       int64_t max_positions, int64_t cos_sin_stride, int rotary_dim, DeviceErrorRecord* errors,
                       cudaStream_t stream);

// k_cache[slots[t]] = k[t], v_cache[slots[t]] = v[t] for every t with slots[t] >= 0; rows of `row_elements`.
cudaError_t LaunchWriteKvCache(const void* k, int64_t k_stride, const void* v, int64_t v_stride, const int32_t* slots,
                               int64_t tokens, int64_t row_elements, void* k_cache, int64_t k_cache_stride,
                               void* v_cache, int64_t v_cache_stride, int64_t num_slots, DeviceErrorRecord* errors,
                               cudaStream_t stream);

// out = silu(gate) * up with gate_up [rows, 2 * inter].
cudaError_t LaunchSiluMul(const void* gate_up, int64_t gate_up_stride, int64_t rows, int64_t inter, void* out,
                          int64_t out_stride, cudaStream_t stream);

// inout += x.
cudaError_t LaunchAdd(const void* x, int64_t x_stride, void* inout, int64_t inout_stride, int64_t rows, int64_t width,
                      cudaStream_t stream);

// out[i] = x[indices[i]] for rows of `row_bytes` bytes (any element type); strides in bytes.
cudaError_t LaunchGatherRows(const void* x, int64_t x_stride_bytes, int64_t x_rows, const int32_t* indices,
                             int64_t count, int64_t row_bytes, void* out, int64_t out_stride_bytes,
                             DeviceErrorRecord* errors, cudaStream_t stream);

// y[r, :] += bias for y float32 or bfloat16 (used where the matrix product's epilogue cannot add the bias).
cudaError_t LaunchAddBias(void* y, DType y_dtype, int64_t rows, int64_t n, int64_t y_stride, const void* bias,
                          DType bias_dtype, cudaStream_t stream);

// Causal varlen attention over the paged cache, one block per (query row, head), online softmax in float32. It is
// the straightforward reference the tuned attention kernels are checked against; the backend uses it for shapes
// they do not cover. Rows past query_start_loc[num_seqs] are written as zeros.
cudaError_t LaunchReferencePagedAttention(const void* q, int64_t q_stride, int64_t tokens, int q_heads, int kv_heads,
                                          int head_dim, const void* k_cache, int64_t k_cache_stride,
                                          const void* v_cache, int64_t v_cache_stride, int64_t num_slots,
                                          const int32_t* query_start_loc, const int32_t* seq_lens,
                                          const int32_t* block_tables, int64_t block_table_stride, int num_seqs,
                                          int block_size, float scale, void* out, int64_t out_stride,
                                          DeviceErrorRecord* errors, cudaStream_t stream);

}  // namespace tessera::kernels::cuda
