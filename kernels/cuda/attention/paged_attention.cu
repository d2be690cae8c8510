// LaunchPagedAttention: checks the arguments, chooses between the decode and prefill kernels and, for decode, how
// many pieces to split each context into so that small batches still fill the GPU.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/attention/attention_common.cuh"
#include "kernels/cuda/attention_kernels.h"

namespace tessera::kernels::cuda {
namespace {

// A split shorter than this spends more on its start and merge than it saves.
constexpr int kMinSplitTokens = 256;
constexpr int kMaxSplits = 64;
// Split granularity: one 16-key step for each of the decode kernel's four warps.
constexpr int kSplitQuantum = 64;
// Decode blocks resident per multiprocessor (shared memory allows two), times the waves we aim for so that the last
// one is short relative to the whole.
constexpr int kDecodeBlocksPerSm = 2;
constexpr int kDecodeTargetWaves = 4;

struct DecodeSplit {
  int splits = 1;
  int split_tokens = 0;
};

int SmCount() {
  int device = 0;
  int count = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || count <= 0) {
    return 132;
  }
  return count;
}

size_t PartialBytes(int num_seqs, int num_q_heads, int head_dim, int splits) {
  return static_cast<size_t>(num_seqs) * num_q_heads * splits * (head_dim + 1) * sizeof(float);
}

DecodeSplit ChooseSplit(int num_seqs, int num_q_heads, int num_kv_heads, int head_dim, int max_seq_len, int sm_count,
                        size_t workspace_bytes) {
  DecodeSplit choice;
  choice.split_tokens = std::max(max_seq_len, 1);
  if (num_seqs <= 0 || max_seq_len <= 0) return choice;
  const int group = num_q_heads / num_kv_heads;
  const int64_t blocks = static_cast<int64_t>(num_seqs) * num_kv_heads * ((group + 15) / 16);
  const int64_t target = static_cast<int64_t>(sm_count) * kDecodeBlocksPerSm * kDecodeTargetWaves;
  int64_t splits = (target + blocks - 1) / blocks;
  splits = std::min<int64_t>({splits, (max_seq_len + kMinSplitTokens - 1) / kMinSplitTokens, kMaxSplits});
  const size_t per_split = PartialBytes(num_seqs, num_q_heads, head_dim, 1);
  splits = std::min<int64_t>(splits, static_cast<int64_t>(workspace_bytes / per_split));
  if (splits <= 1) return choice;
  int split_tokens = static_cast<int>((max_seq_len + splits - 1) / splits);
  split_tokens = (split_tokens + kSplitQuantum - 1) / kSplitQuantum * kSplitQuantum;
  choice.splits = (max_seq_len + split_tokens - 1) / split_tokens;
  choice.split_tokens = split_tokens;
  if (choice.splits <= 1) choice = DecodeSplit{1, std::max(max_seq_len, 1)};
  return choice;
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

size_t PagedAttentionWorkspaceBytes(int max_num_seqs, int num_q_heads, int num_kv_heads, int head_dim,
                                    int max_seq_len) {
  if (max_num_seqs <= 0 || num_q_heads <= 0 || num_kv_heads <= 0 || num_q_heads % num_kv_heads != 0) return 0;
  const int sm_count = SmCount();
  size_t most = 0;
  for (int n = 1; n <= max_num_seqs; ++n) {
    const DecodeSplit split =
        ChooseSplit(n, num_q_heads, num_kv_heads, head_dim, max_seq_len, sm_count, SIZE_MAX);
    if (split.splits > 1) most = std::max(most, PartialBytes(n, num_q_heads, head_dim, split.splits));
  }
  return most;
}

int PagedDecodeSplitCount(const PagedAttentionArgs& args) {
  if (args.max_query_len > 1 || args.num_kv_heads <= 0 || args.num_q_heads % args.num_kv_heads != 0) return 1;
  return ChooseSplit(args.num_seqs, args.num_q_heads, args.num_kv_heads, args.head_dim, args.max_seq_len, SmCount(),
                     args.workspace ? args.workspace_bytes : 0)
      .splits;
}

namespace {

// kAuto picks the kernel family from the batch; otherwise the prefill kernel runs with that tile variant.
constexpr int kAuto = -1;

cudaError_t Launch(const PagedAttentionArgs& args, int prefill_variant, cudaStream_t stream) {
  const int d = args.head_dim;
  if (!(args.scale > 0.0f) || (d != 64 && d != 128) || args.num_q_heads <= 0 || args.num_kv_heads <= 0 ||
      args.num_q_heads % args.num_kv_heads != 0 || args.block_size <= 0 || args.num_seqs < 0 ||
      args.num_tokens < 0 || args.max_query_len < 0 || args.max_seq_len < 0) {
    return cudaErrorInvalidValue;
  }
  const int64_t q_stride = args.q_row_stride ? args.q_row_stride : static_cast<int64_t>(args.num_q_heads) * d;
  const int64_t out_stride = args.out_row_stride ? args.out_row_stride : static_cast<int64_t>(args.num_q_heads) * d;
  if (q_stride % 8 != 0 || out_stride % 8 != 0 || !Aligned16(args.q) || !Aligned16(args.out) ||
      !Aligned16(args.k_cache) || !Aligned16(args.v_cache)) {
    return cudaErrorInvalidValue;
  }
  if (args.num_tokens == 0) return cudaSuccess;
  if (args.num_seqs > 65534) return cudaErrorInvalidValue;  // grid limits

  attention::AttentionParams p{};
  p.q = reinterpret_cast<const __nv_bfloat16*>(args.q);
  p.q_row_stride = q_stride;
  p.k_cache = reinterpret_cast<const __nv_bfloat16*>(args.k_cache);
  p.v_cache = reinterpret_cast<const __nv_bfloat16*>(args.v_cache);
  p.out = reinterpret_cast<__nv_bfloat16*>(args.out);
  p.out_row_stride = out_stride;
  p.query_start_loc = args.query_start_loc;
  p.seq_lens = args.seq_lens;
  p.block_tables = args.block_tables;
  p.max_blocks_per_seq = args.max_blocks_per_seq;
  p.num_seqs = args.num_seqs;
  p.num_tokens = args.num_tokens;
  p.num_q_heads = args.num_q_heads;
  p.num_kv_heads = args.num_kv_heads;
  p.group = args.num_q_heads / args.num_kv_heads;
  p.block_size = args.block_size;
  p.block_shift = -1;
  if ((args.block_size & (args.block_size - 1)) == 0) {
    p.block_shift = 0;
    while ((1 << p.block_shift) < args.block_size) ++p.block_shift;
  }
  p.scale_log2 = args.scale * 1.4426950408889634f;
  p.num_splits = 1;
  p.split_tokens = std::max(args.max_seq_len, 1);

  if (prefill_variant == kAuto && args.max_query_len <= 1) {
    const DecodeSplit split = ChooseSplit(args.num_seqs, args.num_q_heads, args.num_kv_heads, d, args.max_seq_len,
                                          SmCount(), args.workspace ? args.workspace_bytes : 0);
    p.num_splits = split.splits;
    p.split_tokens = split.split_tokens;
    if (split.splits > 1) {
      p.partial_out = static_cast<float*>(args.workspace);
      p.partial_lse = p.partial_out + static_cast<size_t>(args.num_seqs) * args.num_q_heads * split.splits * d;
    }
    return attention::LaunchPagedDecode(p, d, stream);
  }
  return attention::LaunchPagedPrefill(p, d, std::max(args.max_query_len, 1),
                                       prefill_variant == kAuto ? 0 : prefill_variant, stream);
}

}  // namespace

cudaError_t LaunchPagedAttention(const PagedAttentionArgs& args, cudaStream_t stream) {
  return Launch(args, kAuto, stream);
}

int PagedPrefillVariantCount(int head_dim) { return head_dim == 128 ? 3 : 1; }

cudaError_t LaunchPagedPrefillVariant(const PagedAttentionArgs& args, int variant, cudaStream_t stream) {
  if (variant < 0 || variant >= PagedPrefillVariantCount(args.head_dim)) return cudaErrorInvalidValue;
  return Launch(args, variant, stream);
}

}  // namespace tessera::kernels::cuda
