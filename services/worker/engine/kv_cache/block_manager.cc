#include "services/worker/engine/kv_cache/block_manager.h"

#include <algorithm>

namespace tessera::engine {

BlockManager::BlockManager(int num_blocks, int block_size, bool enable_prefix_caching)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      enable_prefix_caching_(enable_prefix_caching),
      blocks_(num_blocks) {
  for (int32_t b = 0; b < num_blocks; ++b) blocks_[b].free_position = free_list_.insert(free_list_.end(), b);
}

double BlockManager::Usage() const {
  if (num_blocks_ == 0) return 0.0;
  return 1.0 - static_cast<double>(free_list_.size()) / num_blocks_;
}

uint64_t BlockManager::HashBlock(uint64_t parent, const int32_t* tokens, int count) {
  // 64-bit FNV-1a over the parent hash and the token ids, finished with a SplitMix64 avalanche.
  uint64_t h = 0xcbf29ce484222325ull ^ parent;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 0x100000001b3ull;
    }
  };
  mix(parent);
  for (int i = 0; i < count; ++i) mix(static_cast<uint32_t>(tokens[i]));
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

void BlockManager::ComputeBlockHashes(Request& request, int num_full_blocks) const {
  std::vector<int32_t> tokens(block_size_);
  while (static_cast<int>(request.block_hashes.size()) < num_full_blocks) {
    const int b = static_cast<int>(request.block_hashes.size());
    for (int i = 0; i < block_size_; ++i) tokens[i] = request.token_at(b * block_size_ + i);
    const uint64_t parent = b == 0 ? 0 : request.block_hashes[b - 1];
    request.block_hashes.push_back(HashBlock(parent, tokens.data(), block_size_));
  }
}

int BlockManager::AttachCachedPrefix(Request& request) {
  if (!enable_prefix_caching_ || request.keep_all_logits || !request.block_ids.empty()) return 0;
  // The last token is always recomputed: its logits choose the next token.
  const int max_blocks = (request.num_tokens() - 1) / block_size_;
  prefix_cache_queries_ += request.num_tokens();
  ComputeBlockHashes(request, max_blocks);
  int hits = 0;
  for (; hits < max_blocks; ++hits) {
    auto it = cached_.find(request.block_hashes[hits]);
    if (it == cached_.end()) break;
    const Block& block = blocks_[it->second];
    bool same = true;
    for (int i = 0; i < block_size_ && same; ++i) same = block.tokens[i] == request.token_at(hits * block_size_ + i);
    if (!same) break;
  }
  for (int b = 0; b < hits; ++b) {
    const int32_t id = cached_.at(request.block_hashes[b]);
    Block& block = blocks_[id];
    if (block.ref_count++ == 0) free_list_.erase(block.free_position);
    request.block_ids.push_back(id);
  }
  request.num_cached_blocks = hits;
  prefix_cache_hits_ += static_cast<int64_t>(hits) * block_size_;
  return hits * block_size_;
}

int32_t BlockManager::TakeFreeBlock() {
  const int32_t id = free_list_.front();
  free_list_.pop_front();
  Block& block = blocks_[id];
  if (block.hash) {  // evict its cached contents
    auto it = cached_.find(*block.hash);
    if (it != cached_.end() && it->second == id) cached_.erase(it);
    block.hash.reset();
    block.tokens.clear();
  }
  block.ref_count = 1;
  return id;
}

bool BlockManager::AllocateSlots(Request& request, int num_total_tokens) {
  const int needed = BlocksForTokens(num_total_tokens) - static_cast<int>(request.block_ids.size());
  if (needed <= 0) return true;
  if (needed > static_cast<int>(free_list_.size())) return false;
  for (int i = 0; i < needed; ++i) request.block_ids.push_back(TakeFreeBlock());
  return true;
}

void BlockManager::CacheFullBlocks(Request& request) {
  if (!enable_prefix_caching_ || request.keep_all_logits) return;
  const int full = std::min(request.num_computed_tokens / block_size_, static_cast<int>(request.block_ids.size()));
  ComputeBlockHashes(request, full);
  for (int b = request.num_cached_blocks; b < full; ++b) {
    Block& block = blocks_[request.block_ids[b]];
    if (block.hash) continue;  // came from the cache
    const uint64_t hash = request.block_hashes[b];
    if (cached_.contains(hash)) continue;  // an identical block is cached already; this one stays private
    block.hash = hash;
    block.tokens.resize(block_size_);
    for (int i = 0; i < block_size_; ++i) block.tokens[i] = request.token_at(b * block_size_ + i);
    cached_.emplace(hash, request.block_ids[b]);
  }
  request.num_cached_blocks = std::max(request.num_cached_blocks, full);
}

void BlockManager::Release(int32_t id) {
  Block& block = blocks_[id];
  if (--block.ref_count > 0) return;
  if (block.hash) {
    block.free_position = free_list_.insert(free_list_.end(), id);
  } else {
    // Blocks without reusable contents go to the front: they are the cheapest to hand out again.
    block.free_position = free_list_.insert(free_list_.begin(), id);
  }
}

void BlockManager::Free(Request& request) {
  // In reverse, so that a prefix's tail blocks are evicted before its head, which more requests share.
  for (auto it = request.block_ids.rbegin(); it != request.block_ids.rend(); ++it) Release(*it);
  request.block_ids.clear();
  request.num_cached_blocks = 0;
}

void BlockManager::ResetPrefixCache() {
  for (auto& [hash, id] : cached_) {
    blocks_[id].hash.reset();
    blocks_[id].tokens.clear();
  }
  cached_.clear();
}

}  // namespace tessera::engine
