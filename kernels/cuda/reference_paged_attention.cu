// A straightforward causal varlen attention over the paged KV cache: one block per (query row, head), its warps
// taking every fourth key with an online softmax in float32, merged at the end. Correct for any head_dim up to 256,
// any block size and GQA ratio; the tuned kernels are checked against it.
#include <cmath>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_utils.cuh"

namespace tessera::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kMaxPerLane = 8;  // head_dim up to 256

__global__ void __launch_bounds__(kWarps * 32)
    ReferencePagedAttentionKernel(const bf16* q, int64_t q_stride, int q_heads, int kv_heads, int head_dim,
                                  const bf16* k_cache, int64_t k_cache_stride, const bf16* v_cache,
                                  int64_t v_cache_stride, int64_t num_slots, const int32_t* query_start_loc,
                                  const int32_t* seq_lens, const int32_t* block_tables, int64_t block_table_stride,
                                  int num_seqs, int block_size, float scale, bf16* out, int64_t out_stride,
                                  DeviceErrorRecord* errors) {
  __shared__ float warp_max[kWarps];
  __shared__ float warp_sum[kWarps];
  __shared__ float warp_acc[kWarps][kMaxPerLane * 32];
  const int64_t token = blockIdx.x;
  const int head = blockIdx.y;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  bf16* o = out + token * out_stride + static_cast<int64_t>(head) * head_dim;
  auto write_zeros = [&] {
    for (int d = threadIdx.x; d < head_dim; d += blockDim.x) o[d] = FromFloat<bf16>(0.0f);
  };

  if (num_seqs <= 0 || token >= query_start_loc[num_seqs]) {  // a padding row that no sequence owns
    write_zeros();
    return;
  }
  int lo = 0, hi = num_seqs - 1;  // the last sequence whose first row is at or before `token`
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (query_start_loc[mid] <= token) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const int seq = lo;
  const int64_t begin = query_start_loc[seq];
  const int64_t end = query_start_loc[seq + 1];
  const int64_t context = seq_lens[seq];
  if (token < begin || token >= end) {
    if (threadIdx.x == 0) ReportDeviceError(errors, kAttentionBadQueryRange, seq, begin, end);
    write_zeros();
    return;
  }
  if (end - begin > context) {
    if (threadIdx.x == 0) ReportDeviceError(errors, kAttentionQueryExceedsContext, seq, end - begin, context);
    write_zeros();
    return;
  }
  const int64_t position = context - (end - begin) + (token - begin);
  const int kv_head = head / (q_heads / kv_heads);
  const int64_t num_blocks = num_slots / block_size;
  const int32_t* table = block_tables + seq * block_table_stride;

  float qv[kMaxPerLane];
  float acc[kMaxPerLane];
  const bf16* q_row = q + token * q_stride + static_cast<int64_t>(head) * head_dim;
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) {
    const int d = lane + 32 * j;
    qv[j] = d < head_dim ? ToFloat(q_row[d]) * scale : 0.0f;
    acc[j] = 0.0f;
  }
  float running_max = -INFINITY;
  float running_sum = 0.0f;
  bool bad_block = false;
  for (int64_t key = warp; key <= position; key += kWarps) {
    const int32_t block = table[key / block_size];
    if (block < 0 || block >= num_blocks) {
      if (lane == 0) ReportDeviceError(errors, kAttentionBlockOutOfRange, seq, block, num_blocks);
      bad_block = true;
      break;
    }
    const int64_t slot = static_cast<int64_t>(block) * block_size + key % block_size;
    const bf16* k_row = k_cache + slot * k_cache_stride + static_cast<int64_t>(kv_head) * head_dim;
    const bf16* v_row = v_cache + slot * v_cache_stride + static_cast<int64_t>(kv_head) * head_dim;
    float partial = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int d = lane + 32 * j;
      if (d < head_dim) partial += qv[j] * ToFloat(k_row[d]);
    }
    const float score = WarpSum(partial);
    const float new_max = fmaxf(running_max, score);
    const float correction = __expf(running_max - new_max);
    const float p = __expf(score - new_max);
    running_sum = running_sum * correction + p;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int d = lane + 32 * j;
      acc[j] = acc[j] * correction + (d < head_dim ? p * ToFloat(v_row[d]) : 0.0f);
    }
    running_max = new_max;
  }

  if (lane == 0) {
    warp_max[warp] = running_max;
    warp_sum[warp] = running_sum;
  }
#pragma unroll
  for (int j = 0; j < kMaxPerLane; ++j) warp_acc[warp][lane + 32 * j] = acc[j];
  const int any_bad = __syncthreads_or(bad_block ? 1 : 0);
  if (any_bad) {
    write_zeros();
    return;
  }
  float total_max = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) total_max = fmaxf(total_max, warp_max[w]);
  float weights[kWarps];
  float total_sum = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    weights[w] = warp_sum[w] > 0.0f ? __expf(warp_max[w] - total_max) : 0.0f;
    total_sum += warp_sum[w] * weights[w];
  }
  const float inv_sum = 1.0f / total_sum;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float value = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) value += warp_acc[w][d] * weights[w];
    o[d] = FromFloat<bf16>(value * inv_sum);
  }
}

}  // namespace

cudaError_t LaunchReferencePagedAttention(const void* q, int64_t q_stride, int64_t tokens, int q_heads, int kv_heads,
                                          int head_dim, const void* k_cache, int64_t k_cache_stride,
                                          const void* v_cache, int64_t v_cache_stride, int64_t num_slots,
                                          const int32_t* query_start_loc, const int32_t* seq_lens,
                                          const int32_t* block_tables, int64_t block_table_stride, int num_seqs,
                                          int block_size, float scale, void* out, int64_t out_stride,
                                          DeviceErrorRecord* errors, cudaStream_t stream) {
  if (tokens == 0 || q_heads == 0) return cudaSuccess;
  if (head_dim > kMaxPerLane * 32 || kv_heads <= 0 || q_heads % kv_heads != 0 || block_size <= 0) {
    return cudaErrorInvalidValue;
  }
  const dim3 grid(static_cast<unsigned>(tokens), static_cast<unsigned>(q_heads));
  ReferencePagedAttentionKernel<<<grid, kWarps * 32, 0, stream>>>(
      static_cast<const bf16*>(q), q_stride, q_heads, kv_heads, head_dim, static_cast<const bf16*>(k_cache),
      k_cache_stride, static_cast<const bf16*>(v_cache), v_cache_stride, num_slots, query_start_loc, seq_lens,
      block_tables, block_table_stride, num_seqs, block_size, scale, static_cast<bf16*>(out), out_stride, errors);
  return cudaGetLastError();
}

}  // namespace tessera::kernels::cuda
