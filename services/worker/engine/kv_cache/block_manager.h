// Hands out the fixed-size blocks of the paged KV cache and keeps the automatic prefix cache. A request's block
// table grows as its tokens are scheduled. Every full block is identified by a hash chain over the token ids up to
// and including it; a new request reuses the cached blocks of its longest cached prefix. Blocks carry reference
// counts; an unreferenced block stays cached until it is evicted, least recently freed first.
// Only the engine thread touches it.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "services/worker/engine/request.h"

namespace tessera::engine {

class BlockManager {
 public:
  BlockManager(int num_blocks, int block_size, bool enable_prefix_caching = true);

  int block_size() const { return block_size_; }
  int num_blocks() const { return num_blocks_; }
  int num_free_blocks() const { return static_cast<int>(free_list_.size()); }
  bool prefix_caching() const { return enable_prefix_caching_; }
  // Fraction of blocks referenced by requests, 0..1 (cached but unreferenced blocks count as free).
  double Usage() const;

  int BlocksForTokens(int num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }

  // For a request that holds no blocks yet: attaches the cached blocks of its longest cached prefix and returns
  // how many tokens they cover. At least one token is always left to compute, so that the request gets logits.
  int AttachCachedPrefix(Request& request);
  // Grows the request's block table so that it covers `num_total_tokens` tokens. Returns false and changes
  // nothing when too few blocks are free.
  bool AllocateSlots(Request& request, int num_total_tokens);
  // Registers the request's blocks that are now full (up to its computed tokens) in the prefix cache.
  void CacheFullBlocks(Request& request);
  // Releases every block of the request; unreferenced full blocks stay cached.
  void Free(Request& request);
  // Drops every cached block that no request references (e.g. after weights change).
  void ResetPrefixCache();

  int32_t SlotFor(const Request& request, int position) const {
    return request.block_ids[position / block_size_] * block_size_ + position % block_size_;
  }

  // Prefix-cache statistics in tokens, as vLLM counts them: queried = prompt tokens looked up, hits = found.
  int64_t prefix_cache_queries() const { return prefix_cache_queries_; }
  int64_t prefix_cache_hits() const { return prefix_cache_hits_; }

 private:
  struct Block {
    int32_t ref_count = 0;
    std::optional<uint64_t> hash;              // set while the block is in the prefix cache
    std::vector<int32_t> tokens;               // the block's tokens, to rule out hash collisions
    std::list<int32_t>::iterator free_position;  // valid while ref_count == 0
  };

  // Hash of a full block given its parent's hash; the chain makes equal blocks at different prefixes differ.
  static uint64_t HashBlock(uint64_t parent, const int32_t* tokens, int count);
  // The request's block hashes for its first `num_full_blocks` full blocks (extends request.block_hashes).
  void ComputeBlockHashes(Request& request, int num_full_blocks) const;
  int32_t TakeFreeBlock();
  void Release(int32_t block);

  int num_blocks_;
  int block_size_;
  bool enable_prefix_caching_;
  std::vector<Block> blocks_;
  std::list<int32_t> free_list_;  // front = next to be reused (evicted)
  absl::flat_hash_map<uint64_t, int32_t> cached_;
  int64_t prefix_cache_queries_ = 0;
  int64_t prefix_cache_hits_ = 0;
};

}  // namespace tessera::engine
