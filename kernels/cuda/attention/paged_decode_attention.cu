// Decode paged attention (one query row per sequence), flash-decoding style: a block takes one (sequence, kv head,
// slice of the context); its warps each stream their own 16-key steps of that slice through a private cp.async
// pipeline and multiply on bf16 tensor cores, with the G query heads of the kv head as the rows of one 16-row tile.
// When the context is split across blocks, each writes a normalized fp32 partial and its log-sum-exp, and a second
// kernel merges them.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "kernels/cuda/attention/attention_common.cuh"

namespace tessera::kernels::cuda::attention {
namespace {

constexpr int kDecodeWarps = 4;
constexpr int kDecodeStages = 3;  // per warp: two steps in flight while one is multiplied
constexpr int kStepKeys = 16;

template <int D>
struct DecodeTile {
  static constexpr int kThreads = kDecodeWarps * 32;
  static constexpr int kChunks = D / 8;
  static constexpr int kQBytes = 16 * D * 2;
  static constexpr int kStepBytes = kStepKeys * D * 2;  // K or V of one step
  static constexpr int kWarpBytes = kDecodeStages * 2 * kStepBytes;
  static constexpr int kReduceStride = D + 4;  // fp32 row stride of the cross-warp merge, padded against conflicts
  static constexpr int kReduceBytes = kDecodeWarps * 16 * (kReduceStride + 2) * 4;
  static constexpr int kPipelineBytes = kDecodeWarps * kWarpBytes;
  static constexpr int kSmemBytes = kQBytes + (kPipelineBytes > kReduceBytes ? kPipelineBytes : kReduceBytes);
};

template <int D>
__global__ void __launch_bounds__(kDecodeWarps * 32) PagedDecodeKernel(const AttentionParams p) {
  using Tile = DecodeTile<D>;
  extern __shared__ __align__(128) unsigned char smem[];

  const int seq = blockIdx.x;
  if (seq == p.num_seqs) {
    if (p.num_splits == 1 && blockIdx.y == 0 && blockIdx.z == 0) ZeroUnownedRows<D>(p);
    return;
  }
  const int q_row = p.query_start_loc[seq];
  if (p.query_start_loc[seq + 1] == q_row) return;  // no query this step
  const int context = p.seq_lens[seq];
  const int head_chunks = (p.group + 15) / 16;
  const int kv_head = blockIdx.y / head_chunks;
  const int chunk_first = (blockIdx.y % head_chunks) * 16;
  const int rows = min(16, p.group - chunk_first);
  const int first_head = kv_head * p.group + chunk_first;
  const int split = blockIdx.z;
  const int begin = split * p.split_tokens;
  const int end = min(context, begin + p.split_tokens);
  if (begin >= end) return;

  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const uint32_t q_smem = SmemAddress(smem);

  // The query heads of this chunk as the rows of a 16-row tile; missing rows are zero.
  for (int i = tid; i < 16 * Tile::kChunks; i += Tile::kThreads) {
    const int r = i / Tile::kChunks;
    const int c = i % Tile::kChunks;
    uint4 value = make_uint4(0, 0, 0, 0);
    if (r < rows) {
      value = __ldg(reinterpret_cast<const uint4*>(p.q + static_cast<int64_t>(q_row) * p.q_row_stride +
                                                   (first_head + r) * D + c * 8));
    }
    asm volatile("st.shared.v4.b32 [%0], {%1, %2, %3, %4};\n" ::"r"(q_smem + SwizzledOffset<D>(r, c)),
                 "r"(value.x), "r"(value.y), "r"(value.z), "r"(value.w));
  }
  __syncthreads();
  uint32_t q_frag[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const int r = (lane % 8) + ((lane / 8) % 2) * 8;
    LdMatrixX4(q_frag[kk], q_smem + SwizzledOffset<D>(r, kk * 2 + lane / 16));
  }

  const uint32_t warp_smem = q_smem + Tile::kQBytes + warp * Tile::kWarpBytes;
  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks_per_seq;
  const int num_steps = (end - begin + kStepKeys - 1) / kStepKeys;
  const int my_steps = num_steps > warp ? (num_steps - warp + kDecodeWarps - 1) / kDecodeWarps : 0;
  auto step_key0 = [&](int local_step) { return begin + (warp + local_step * kDecodeWarps) * kStepKeys; };
  auto load_step = [&](int local_step, int stage) {
    const int key0 = step_key0(local_step);
    const uint32_t k_dst = warp_smem + stage * 2 * Tile::kStepBytes;
    const uint32_t v_dst = k_dst + Tile::kStepBytes;
    static_assert(kStepKeys * Tile::kChunks % 32 == 0, "step copies must divide evenly among the lanes");
#pragma unroll
    for (int it = 0; it < kStepKeys * Tile::kChunks / 32; ++it) {
      const int i = lane + it * 32;
      const int r = i / Tile::kChunks;
      const int c = i % Tile::kChunks;
      const int key = key0 + r;
      const bool valid = key < end;
      int64_t offset = 0;
      if (valid) offset = (CacheSlot(table, key, p.block_size, p.block_shift) * p.num_kv_heads + kv_head) * D + c * 8;
      const uint32_t dst = SwizzledOffset<D>(r, c);
      CpAsync16(k_dst + dst, p.k_cache + offset, valid);
      CpAsync16(v_dst + dst, p.v_cache + offset, valid);
    }
  };

  float o[D / 8][4];
#pragma unroll
  for (int d = 0; d < D / 8; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
  float row_max[2] = {kNegInf, kNegInf};
  float row_sum[2] = {0.0f, 0.0f};

#pragma unroll
  for (int st = 0; st < kDecodeStages - 1; ++st) {
    if (st < my_steps) load_step(st, st);
    CpAsyncCommit();
  }
  for (int step = 0; step < my_steps; ++step) {
    const int ahead = step + kDecodeStages - 1;
    if (ahead < my_steps) load_step(ahead, ahead % kDecodeStages);
    CpAsyncCommit();
    CpAsyncWait<kDecodeStages - 1>();
    __syncwarp();
    const uint32_t k_stage = warp_smem + (step % kDecodeStages) * 2 * Tile::kStepBytes;
    const uint32_t v_stage = k_stage + Tile::kStepBytes;

    float s[2][4] = {{0.0f, 0.0f, 0.0f, 0.0f}, {0.0f, 0.0f, 0.0f, 0.0f}};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t b[4];
      const int key = (lane % 8) + (lane / 16) * 8;
      LdMatrixX4(b, k_stage + SwizzledOffset<D>(key, kk * 2 + (lane / 8) % 2));
      MmaBf16(s[0], q_frag[kk], b[0], b[1]);
      MmaBf16(s[1], q_frag[kk], b[2], b[3]);
    }
    const int key0 = step_key0(step);
    const bool partial_step = key0 + kStepKeys > end;
#pragma unroll
    for (int j = 0; j < 2; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = s[j][e] * p.scale_log2;
        if (partial_step && key0 + j * 8 + 2 * (lane % 4) + (e & 1) >= end) v = kNegInf;
        s[j][e] = v;
      }
    }
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float step_max = fmaxf(fmaxf(s[0][2 * i], s[0][2 * i + 1]), fmaxf(s[1][2 * i], s[1][2 * i + 1]));
      step_max = fmaxf(step_max, __shfl_xor_sync(0xffffffffu, step_max, 1));
      step_max = fmaxf(step_max, __shfl_xor_sync(0xffffffffu, step_max, 2));
      const float new_max = fmaxf(row_max[i], step_max);  // every step has a visible key, so this is finite
      const float rescale = FastExp2(row_max[i] - new_max);
      float step_sum = 0.0f;
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        s[j][2 * i] = FastExp2(s[j][2 * i] - new_max);
        s[j][2 * i + 1] = FastExp2(s[j][2 * i + 1] - new_max);
        step_sum += s[j][2 * i] + s[j][2 * i + 1];
      }
      row_sum[i] = row_sum[i] * rescale + step_sum;
      row_max[i] = new_max;
#pragma unroll
      for (int d = 0; d < D / 8; ++d) {
        o[d][2 * i] *= rescale;
        o[d][2 * i + 1] *= rescale;
      }
    }
    const uint32_t a[4] = {PackBf16(s[0][0], s[0][1]), PackBf16(s[0][2], s[0][3]), PackBf16(s[1][0], s[1][1]),
                           PackBf16(s[1][2], s[1][3])};
#pragma unroll
    for (int dp = 0; dp < D / 16; ++dp) {
      uint32_t b[4];
      const int key = (lane % 8) + ((lane / 8) % 2) * 8;
      LdMatrixX4Trans(b, v_stage + SwizzledOffset<D>(key, dp * 2 + lane / 16));
      MmaBf16(o[2 * dp], a, b[0], b[1]);
      MmaBf16(o[2 * dp + 1], a, b[2], b[3]);
    }
    __syncwarp();
  }
  CpAsyncWait<0>();

  // Merge the warps: each scales its accumulator to the block-wide maximum and the block sums them.
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    row_sum[i] += __shfl_xor_sync(0xffffffffu, row_sum[i], 1);
    row_sum[i] += __shfl_xor_sync(0xffffffffu, row_sum[i], 2);
  }
  __syncthreads();  // every warp is done with its pipeline buffers, which the merge reuses
  float* merge_o = reinterpret_cast<float*>(smem + Tile::kQBytes);  // [warps][16][kReduceStride]
  float* merge_max = merge_o + kDecodeWarps * 16 * Tile::kReduceStride;  // [warps][16]
  float* merge_sum = merge_max + kDecodeWarps * 16;
  if (lane % 4 == 0) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      merge_max[warp * 16 + lane / 4 + i * 8] = row_max[i];
      merge_sum[warp * 16 + lane / 4 + i * 8] = row_sum[i];
    }
  }
  __syncthreads();
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = lane / 4 + i * 8;
    float block_max = kNegInf;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) block_max = fmaxf(block_max, merge_max[w * 16 + r]);
    const float factor = row_max[i] == kNegInf ? 0.0f : FastExp2(row_max[i] - block_max);
    float* dst = merge_o + (warp * 16 + r) * Tile::kReduceStride + 2 * (lane % 4);
#pragma unroll
    for (int d = 0; d < D / 8; ++d) {
      *reinterpret_cast<float2*>(dst + d * 8) = make_float2(o[d][2 * i] * factor, o[d][2 * i + 1] * factor);
    }
  }
  __syncthreads();
  for (int i = tid; i < rows * (D / 2); i += Tile::kThreads) {
    const int r = i / (D / 2);
    const int d = (i % (D / 2)) * 2;
    float block_max = kNegInf;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) block_max = fmaxf(block_max, merge_max[w * 16 + r]);
    float total = 0.0f;
    float2 acc = make_float2(0.0f, 0.0f);
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) {
      const float m = merge_max[w * 16 + r];
      if (m != kNegInf) total += merge_sum[w * 16 + r] * FastExp2(m - block_max);
      const float2 part = *reinterpret_cast<const float2*>(merge_o + (w * 16 + r) * Tile::kReduceStride + d);
      acc.x += part.x;
      acc.y += part.y;
    }
    const float inv = total > 0.0f ? 1.0f / total : 0.0f;
    const int head = first_head + r;
    if (p.num_splits == 1) {
      *reinterpret_cast<__nv_bfloat162*>(p.out + static_cast<int64_t>(q_row) * p.out_row_stride + head * D + d) =
          __floats2bfloat162_rn(acc.x * inv, acc.y * inv);
    } else {
      const int64_t slot = (static_cast<int64_t>(seq) * p.num_q_heads + head) * p.num_splits + split;
      *reinterpret_cast<float2*>(p.partial_out + slot * D + d) = make_float2(acc.x * inv, acc.y * inv);
      if (d == 0) p.partial_lse[slot] = block_max + __log2f(total);
    }
  }
}

// One block per (sequence, q head): weights each split's partial by exp2(lse - max lse).
template <int D>
__global__ void __launch_bounds__(D / 2) PagedDecodeMergeKernel(const AttentionParams p) {
  const int seq = blockIdx.x;
  if (seq == p.num_seqs) {
    if (blockIdx.y == 0) ZeroUnownedRows<D>(p);
    return;
  }
  const int q_row = p.query_start_loc[seq];
  if (p.query_start_loc[seq + 1] == q_row) return;
  const int context = p.seq_lens[seq];
  const int used_splits = min(p.num_splits, (context + p.split_tokens - 1) / p.split_tokens);
  const int head = blockIdx.y;
  const int64_t slot0 = (static_cast<int64_t>(seq) * p.num_q_heads + head) * p.num_splits;
  float max_lse = kNegInf;
  for (int z = 0; z < used_splits; ++z) max_lse = fmaxf(max_lse, p.partial_lse[slot0 + z]);
  const int d = threadIdx.x * 2;
  float2 acc = make_float2(0.0f, 0.0f);
  float total = 0.0f;
  for (int z = 0; z < used_splits; ++z) {
    const float weight = FastExp2(p.partial_lse[slot0 + z] - max_lse);
    const float2 part = *reinterpret_cast<const float2*>(p.partial_out + (slot0 + z) * D + d);
    acc.x += weight * part.x;
    acc.y += weight * part.y;
    total += weight;
  }
  const float inv = total > 0.0f ? 1.0f / total : 0.0f;
  *reinterpret_cast<__nv_bfloat162*>(p.out + static_cast<int64_t>(q_row) * p.out_row_stride + head * D + d) =
      __floats2bfloat162_rn(acc.x * inv, acc.y * inv);
}

template <int D>
cudaError_t LaunchDecodeShape(const AttentionParams& p, cudaStream_t stream) {
  using Tile = DecodeTile<D>;
  auto* kernel = &PagedDecodeKernel<D>;
  cudaError_t status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Tile::kSmemBytes);
  if (status != cudaSuccess) return status;
  const int head_chunks = (p.group + 15) / 16;
  // The extra sequence index zeroes rows no sequence owns (done by the merge kernel when there is one).
  const dim3 grid(p.num_seqs + 1, p.num_kv_heads * head_chunks, p.num_splits);
  kernel<<<grid, Tile::kThreads, Tile::kSmemBytes, stream>>>(p);
  status = cudaGetLastError();
  if (status != cudaSuccess || p.num_splits == 1) return status;
  PagedDecodeMergeKernel<D><<<dim3(p.num_seqs + 1, p.num_q_heads), D / 2, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchPagedDecode(const AttentionParams& p, int head_dim, cudaStream_t stream) {
  if (head_dim == 128) return LaunchDecodeShape<128>(p, stream);
  if (head_dim == 64) return LaunchDecodeShape<64>(p, stream);
  return cudaErrorInvalidValue;
}

}  // namespace tessera::kernels::cuda::attention
