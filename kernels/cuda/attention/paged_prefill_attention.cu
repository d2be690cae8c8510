// Prefill and mixed-batch paged attention: flash-attention tiles of query rows x keys on bf16 tensor cores
// (mma.sync m16n8k16, ldmatrix, cp.async double buffering), causal, reading K and V through the block table.
//
// Grouped-query heads are packed into the rows of a tile: for kv head h, row r of a sequence stands for query token
// r / G and q head h * G + r % G, so one K/V tile feeds all G q heads that share it.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "kernels/cuda/attention/attention_common.cuh"

namespace tessera::kernels::cuda::attention {
namespace {

template <int D, int kWarps, int kBlockN>
struct PrefillTile {
  static constexpr int kBlockM = kWarps * 16;  // each warp owns 16 rows
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kChunks = D / 8;  // 16-byte chunks per row
  static constexpr int kQBytes = kBlockM * D * 2;
  static constexpr int kKvBytes = kBlockN * D * 2;
  static constexpr int kSmemBytes = kQBytes + 4 * kKvBytes;  // Q, then K and V in two stages each
};

template <int D, int kWarps, int kBlockN>
__global__ void __launch_bounds__(kWarps * 32) PagedPrefillKernel(const AttentionParams p) {
  using Tile = PrefillTile<D, kWarps, kBlockN>;
  extern __shared__ __align__(128) unsigned char smem[];

  const int seq = blockIdx.z;
  if (seq == p.num_seqs) {
    if (blockIdx.x == 0 && blockIdx.y == 0) ZeroUnownedRows<D>(p);
    return;
  }
  const int q_begin = p.query_start_loc[seq];
  const int q_len = p.query_start_loc[seq + 1] - q_begin;
  const int context = p.seq_lens[seq];
  const int group = p.group;
  const int rows_total = q_len * group;
  // Later rows see more keys; handing them out first shortens the tail of the grid.
  const int row0 = (gridDim.x - 1 - blockIdx.x) * Tile::kBlockM;
  if (row0 >= rows_total) return;
  const int kv_head = blockIdx.y;
  const int first_pos = context - q_len;  // position of the sequence's first query token
  const int rows_here = min(Tile::kBlockM, rows_total - row0);
  const int min_pos = first_pos + row0 / group;
  const int kv_end = min(context, first_pos + (row0 + rows_here - 1) / group + 1);
  const int num_kv_tiles = kv_end > 0 ? (kv_end + kBlockN - 1) / kBlockN : 0;

  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const uint32_t q_smem = SmemAddress(smem);
  const uint32_t k_smem = q_smem + Tile::kQBytes;
  const uint32_t v_smem = k_smem + 2 * Tile::kKvBytes;

  for (int i = tid; i < Tile::kBlockM * Tile::kChunks; i += Tile::kThreads) {
    const int r = i / Tile::kChunks;
    const int c = i % Tile::kChunks;
    const int row = row0 + r;
    const bool valid = row < rows_total;
    const __nv_bfloat16* src = p.q;
    if (valid) {
      const int t = row / group;
      const int head = kv_head * group + (row - t * group);
      src = p.q + static_cast<int64_t>(q_begin + t) * p.q_row_stride + head * D + c * 8;
    }
    CpAsync16(q_smem + SwizzledOffset<D>(r, c), src, valid);
  }

  const int32_t* table = p.block_tables + static_cast<int64_t>(seq) * p.max_blocks_per_seq;
  auto load_kv = [&](int tile, int stage) {
    const int key0 = tile * kBlockN;
    static_assert(kBlockN * Tile::kChunks % Tile::kThreads == 0, "K/V tile copies must divide evenly");
#pragma unroll
    for (int it = 0; it < kBlockN * Tile::kChunks / Tile::kThreads; ++it) {
      const int i = tid + it * Tile::kThreads;
      const int r = i / Tile::kChunks;
      const int c = i % Tile::kChunks;
      const int key = key0 + r;
      const bool valid = key < kv_end;
      int64_t offset = 0;
      if (valid) offset = (CacheSlot(table, key, p.block_size, p.block_shift) * p.num_kv_heads + kv_head) * D + c * 8;
      const uint32_t dst = stage * Tile::kKvBytes + SwizzledOffset<D>(r, c);
      CpAsync16(k_smem + dst, p.k_cache + offset, valid);
      CpAsync16(v_smem + dst, p.v_cache + offset, valid);
    }
  };

  // The two rows this thread accumulates (mma C layout: lane / 4 and lane / 4 + 8 of the warp's 16) and the last key
  // position each may see; -1 for rows past the sequence.
  int row_pos[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int row = row0 + warp * 16 + lane / 4 + i * 8;
    row_pos[i] = row < rows_total ? first_pos + row / group : -1;
  }

  float o[D / 8][4];
#pragma unroll
  for (int d = 0; d < D / 8; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.0f;
  float row_max[2] = {kNegInf, kNegInf};
  float row_sum[2] = {0.0f, 0.0f};
  uint32_t q_frag[D / 16][4];

  if (num_kv_tiles > 0) load_kv(0, 0);
  CpAsyncCommit();
  for (int n = 0; n < num_kv_tiles; ++n) {
    const int stage = n & 1;
    if (n + 1 < num_kv_tiles) load_kv(n + 1, stage ^ 1);
    CpAsyncCommit();
    CpAsyncWait<1>();
    __syncthreads();
    if (n == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        const int r = warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
        LdMatrixX4(q_frag[kk], q_smem + SwizzledOffset<D>(r, kk * 2 + lane / 16));
      }
    }
    const uint32_t k_stage = k_smem + stage * Tile::kKvBytes;
    const uint32_t v_stage = v_smem + stage * Tile::kKvBytes;

    float s[kBlockN / 8][4];
#pragma unroll
    for (int j = 0; j < kBlockN / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kBlockN / 16; ++np) {
        uint32_t b[4];
        const int key = np * 16 + (lane % 8) + (lane / 16) * 8;
        LdMatrixX4(b, k_stage + SwizzledOffset<D>(key, kk * 2 + (lane / 8) % 2));
        MmaBf16(s[2 * np], q_frag[kk], b[0], b[1]);
        MmaBf16(s[2 * np + 1], q_frag[kk], b[2], b[3]);
      }
    }

    // Scores stay unscaled until the exponent, where scale * log2(e) folds into one multiply-add (scale > 0).
    const int key0 = n * kBlockN;
    if (key0 + kBlockN - 1 > min_pos) {
#pragma unroll
      for (int j = 0; j < kBlockN / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int key = key0 + j * 8 + 2 * (lane % 4) + (e & 1);
          if (key > row_pos[e / 2]) s[j][e] = kNegInf;
        }
      }
    }

#pragma unroll
    for (int i = 0; i < 2; ++i) {
      float tile_max = kNegInf;
#pragma unroll
      for (int j = 0; j < kBlockN / 8; ++j) tile_max = fmaxf(tile_max, fmaxf(s[j][2 * i], s[j][2 * i + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float new_max = fmaxf(row_max[i], tile_max);
      // A row with nothing visible yet keeps a zero base so that its weights stay zero rather than NaN.
      const float base = new_max == kNegInf ? 0.0f : new_max * p.scale_log2;
      const float rescale = FastExp2(row_max[i] * p.scale_log2 - base);
      float tile_sum = 0.0f;
#pragma unroll
      for (int j = 0; j < kBlockN / 8; ++j) {
        s[j][2 * i] = FastExp2(fmaf(s[j][2 * i], p.scale_log2, -base));
        s[j][2 * i + 1] = FastExp2(fmaf(s[j][2 * i + 1], p.scale_log2, -base));
        tile_sum += s[j][2 * i] + s[j][2 * i + 1];
      }
      row_sum[i] = row_sum[i] * rescale + tile_sum;
      row_max[i] = new_max;
#pragma unroll
      for (int d = 0; d < D / 8; ++d) {
        o[d][2 * i] *= rescale;
        o[d][2 * i + 1] *= rescale;
      }
    }

#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      const uint32_t a[4] = {PackBf16(s[2 * kk][0], s[2 * kk][1]), PackBf16(s[2 * kk][2], s[2 * kk][3]),
                             PackBf16(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             PackBf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t b[4];
        const int key = kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8;
        LdMatrixX4Trans(b, v_stage + SwizzledOffset<D>(key, dp * 2 + lane / 16));
        MmaBf16(o[2 * dp], a, b[0], b[1]);
        MmaBf16(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();
  }
  CpAsyncWait<0>();
  __syncthreads();  // with no key tile at all, other threads' Q copies may still land in the rows reused below

  // Normalize and stage the warp's 16 rows in its own part of the Q tile, then store whole 16-byte chunks.
  float inv_sum[2];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    float total = row_sum[i];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    inv_sum[i] = total > 0.0f ? 1.0f / total : 0.0f;
  }
  __syncwarp();
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int r = warp * 16 + lane / 4 + i * 8;
#pragma unroll
    for (int d = 0; d < D / 8; ++d) {
      const uint32_t packed = PackBf16(o[d][2 * i] * inv_sum[i], o[d][2 * i + 1] * inv_sum[i]);
      asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(q_smem + SwizzledOffset<D>(r, d) + 4 * (lane % 4)),
                   "r"(packed));
    }
  }
  __syncwarp();
  for (int i = lane; i < 16 * Tile::kChunks; i += 32) {
    const int r = warp * 16 + i / Tile::kChunks;
    const int c = i % Tile::kChunks;
    const int row = row0 + r;
    if (row >= rows_total) continue;
    const int t = row / group;
    const int head = kv_head * group + (row - t * group);
    uint4 value;
    asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(value.x), "=r"(value.y), "=r"(value.z), "=r"(value.w)
                 : "r"(q_smem + SwizzledOffset<D>(r, c)));
    *reinterpret_cast<uint4*>(p.out + static_cast<int64_t>(q_begin + t) * p.out_row_stride + head * D + c * 8) =
        value;
  }
}

template <int D, int kWarps, int kBlockN>
cudaError_t LaunchPrefillShape(const AttentionParams& p, int max_query_len, cudaStream_t stream) {
  using Tile = PrefillTile<D, kWarps, kBlockN>;
  auto* kernel = &PagedPrefillKernel<D, kWarps, kBlockN>;
  cudaError_t status =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Tile::kSmemBytes);
  if (status != cudaSuccess) return status;
  const int64_t max_rows = static_cast<int64_t>(max_query_len) * p.group;
  const int m_tiles = static_cast<int>(std::max<int64_t>(1, (max_rows + Tile::kBlockM - 1) / Tile::kBlockM));
  const dim3 grid(m_tiles, p.num_kv_heads, p.num_seqs + 1);
  kernel<<<grid, Tile::kThreads, Tile::kSmemBytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchPagedPrefill(const AttentionParams& p, int head_dim, int max_query_len, int variant,
                               cudaStream_t stream) {
  // Variants of the tile shape for D = 128, compared by tools/bench/attention_bench.cc; 0 is the default.
  if (head_dim == 128) {
    switch (variant) {
      case 0:
        return LaunchPrefillShape<128, 8, 64>(p, max_query_len, stream);
      case 1:
        return LaunchPrefillShape<128, 4, 64>(p, max_query_len, stream);
      case 2:
        return LaunchPrefillShape<128, 8, 32>(p, max_query_len, stream);
      default:
        return cudaErrorInvalidValue;
    }
  }
  if (head_dim == 64 && variant == 0) return LaunchPrefillShape<64, 8, 64>(p, max_query_len, stream);
  return cudaErrorInvalidValue;
}

}  // namespace tessera::kernels::cuda::attention
