// Launchers for the CUDA backend's paged attention kernels (bf16 in and out, fp32 accumulation, online softmax).
// Decode batches (every sequence has at most one query row) run a flash-decoding kernel that may split long contexts
// across blocks and merge the pieces in a second kernel; every other batch runs a tiled prefill kernel.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace tessera::kernels::cuda {

// Raw device pointers and sizes of one PagedAttention call; see kernels/ops.h (AttentionMetadata) for the meaning of
// the varlen batch. All bf16 tensors are stored as 16-bit words.
struct PagedAttentionArgs {
  const uint16_t* q = nullptr;  // [num_tokens, Hq, D] bf16, rows q_row_stride elements apart
  int64_t q_row_stride = 0;     // 0 means Hq * D
  const uint16_t* k_cache = nullptr;  // [num_blocks * block_size, Hk, D] bf16, contiguous
  const uint16_t* v_cache = nullptr;  // same shape as k_cache
  uint16_t* out = nullptr;            // [num_tokens, Hq, D] bf16, rows out_row_stride elements apart
  int64_t out_row_stride = 0;         // 0 means Hq * D

  const int32_t* query_start_loc = nullptr;  // [num_seqs + 1]
  const int32_t* seq_lens = nullptr;         // [num_seqs]
  const int32_t* block_tables = nullptr;     // [num_seqs, max_blocks_per_seq]
  int max_blocks_per_seq = 0;

  int num_seqs = 0;
  int num_tokens = 0;  // rows of q and out; rows that no sequence owns are written as zeros
  int max_query_len = 0;
  int max_seq_len = 0;

  int num_q_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;     // 64 or 128
  int block_size = 16;  // tokens per cache block, any positive value (powers of two take a faster path)
  float scale = 1.0f;   // multiplies q·k before the softmax

  // Scratch for the partial results of split contexts (decode only). May be null or small: the launcher then splits
  // less or not at all. Size it once with PagedAttentionWorkspaceBytes for the largest batch.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Bytes of workspace that lets every decode batch of up to max_num_seqs sequences and contexts of up to max_seq_len
// tokens be split as the launcher would like, on the current device.
size_t PagedAttentionWorkspaceBytes(int max_num_seqs, int num_q_heads, int num_kv_heads, int head_dim,
                                    int max_seq_len);

// Enqueues the attention of one batch on `stream`. Returns cudaErrorInvalidValue for arguments the kernels do not
// support (head_dim other than 64/128, Hq not a multiple of Hk, misaligned rows, scale not positive), else the
// launch status. Sequence metadata is read on the device only; it is trusted to be consistent (the CPU backend
// validates the same batches).
cudaError_t LaunchPagedAttention(const PagedAttentionArgs& args, cudaStream_t stream);

// The prefill kernel (which handles any batch, decode included) with one of its tile shapes: 0 is the one
// LaunchPagedAttention uses; head_dim 128 has alternatives 1..PagedPrefillVariantCount-1. For tests and benchmarks.
int PagedPrefillVariantCount(int head_dim);
cudaError_t LaunchPagedPrefillVariant(const PagedAttentionArgs& args, int variant, cudaStream_t stream);

// How a batch would be split, exposed for tests and benchmarks: 1 means the decode kernel writes the output itself.
int PagedDecodeSplitCount(const PagedAttentionArgs& args);

}  // namespace tessera::kernels::cuda
