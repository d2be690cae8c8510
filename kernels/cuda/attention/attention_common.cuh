// Device helpers shared by the paged attention kernels: asynchronous copies into shared memory, ldmatrix and the
// bf16 m16n8k16 tensor-core product, a swizzled layout for head-dim rows, and the per-launch parameters.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tessera::kernels::cuda::attention {

// Everything a kernel reads about a batch; filled once by the launcher.
struct AttentionParams {
  const __nv_bfloat16* q;
  int64_t q_row_stride;
  const __nv_bfloat16* k_cache;
  const __nv_bfloat16* v_cache;
  __nv_bfloat16* out;
  int64_t out_row_stride;
  const int32_t* query_start_loc;
  const int32_t* seq_lens;
  const int32_t* block_tables;
  int max_blocks_per_seq;
  int num_seqs;
  int num_tokens;
  int num_q_heads;
  int num_kv_heads;
  int group;        // q heads per kv head
  int block_size;
  int block_shift;  // log2(block_size) when it is a power of two, else -1
  float scale_log2;  // scale * log2(e): scores live in the exp2 domain
  // Split-context decode only.
  int num_splits;
  int split_tokens;
  float* partial_out;  // [num_seqs, Hq, num_splits, D]
  float* partial_lse;  // [num_seqs, Hq, num_splits], log2 domain
};

constexpr float kNegInf = -__builtin_huge_valf();

// The cache row (slot) of token `pos` of a sequence whose block table is `table`.
__device__ __forceinline__ int64_t CacheSlot(const int32_t* table, int pos, int block_size, int block_shift) {
  if (block_shift >= 0) {
    return static_cast<int64_t>(__ldg(table + (pos >> block_shift))) * block_size + (pos & (block_size - 1));
  }
  return static_cast<int64_t>(__ldg(table + pos / block_size)) * block_size + pos % block_size;
}

__device__ __forceinline__ uint32_t SmemAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte asynchronous copy; when `valid` is false the destination is zero-filled and nothing is read.
__device__ __forceinline__ void CpAsync16(uint32_t smem, const void* gmem, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void LdMatrixX4(uint32_t (&r)[4], uint32_t smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem));
}
__device__ __forceinline__ void LdMatrixX4Trans(uint32_t (&r)[4], uint32_t smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem));
}

// c += a · b for one 16x8x16 tile: a row-major 16x16, b column-major 16x8, c 16x8 fp32.
__device__ __forceinline__ void MmaBf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 2^x on the special-function unit; exact enough for softmax weights and maps -inf to 0.
__device__ __forceinline__ float FastExp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// Shared-memory tiles hold rows of D bf16 values as D/8 chunks of 16 bytes; chunk c of row r is stored at chunk
// c ^ (r % 8) so that the eight rows one ldmatrix reads, and the chunks one warp copies, fall in distinct banks.
template <int D>
__device__ __forceinline__ uint32_t SwizzledOffset(int row, int chunk) {
  return static_cast<uint32_t>((row * (D / 8) + (chunk ^ (row & 7))) * 16);
}

// Zeroes rows [begin, end) of out (each `width` bf16 values, 16-byte aligned) with the threads of one block.
__device__ __forceinline__ void ZeroRows(__nv_bfloat16* out, int64_t row_stride, int begin, int end, int width) {
  const int chunks_per_row = width / 8;
  const int total = (end - begin) * chunks_per_row;
  for (int i = threadIdx.x; i < total; i += blockDim.x) {
    const int row = begin + i / chunks_per_row;
    const int chunk = i % chunks_per_row;
    *reinterpret_cast<uint4*>(out + static_cast<int64_t>(row) * row_stride + chunk * 8) = make_uint4(0, 0, 0, 0);
  }
}

// Rows [query_start_loc[num_seqs], num_tokens) belong to no sequence (padding of a captured batch).
template <int D>
__device__ __forceinline__ void ZeroUnownedRows(const AttentionParams& p) {
  const int begin = p.query_start_loc[p.num_seqs];
  if (begin < p.num_tokens) ZeroRows(p.out, p.out_row_stride, begin, p.num_tokens, p.num_q_heads * D);
}

// Launches of each kernel family (paged_decode_attention.cu, paged_prefill_attention.cu); `p` is complete.
cudaError_t LaunchPagedDecode(const AttentionParams& p, int head_dim, cudaStream_t stream);
cudaError_t LaunchPagedPrefill(const AttentionParams& p, int head_dim, int max_query_len, int variant,
                               cudaStream_t stream);

}  // namespace tessera::kernels::cuda::attention
