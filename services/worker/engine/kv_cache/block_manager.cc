#include "services/worker/engine/kv_cache/block_manager.h"

namespace tessera::engine {

BlockManager::BlockManager(int num_blocks, int block_size)
    : num_blocks_(num_blocks), block_size_(block_size), ref_counts_(num_blocks, 0) {
  for (int32_t b = 0; b < num_blocks; ++b) free_blocks_.push_back(b);
}

double BlockManager::Usage() const {
  if (num_blocks_ == 0) return 0.0;
  return 1.0 - static_cast<double>(free_blocks_.size()) / num_blocks_;
}

bool BlockManager::AllocateSlots(Request& request, int num_total_tokens) {
  const int needed = BlocksForTokens(num_total_tokens) - static_cast<int>(request.block_ids.size());
  if (needed <= 0) return true;
  if (needed > static_cast<int>(free_blocks_.size())) return false;
  for (int i = 0; i < needed; ++i) {
    const int32_t block = free_blocks_.front();
    free_blocks_.pop_front();
    ref_counts_[block] = 1;
    request.block_ids.push_back(block);
  }
  return true;
}

void BlockManager::Free(Request& request) {
  // Freed in reverse so that the tail blocks, least likely to be shared, are reused first.
  for (auto it = request.block_ids.rbegin(); it != request.block_ids.rend(); ++it) {
    if (--ref_counts_[*it] == 0) free_blocks_.push_back(*it);
  }
  request.block_ids.clear();
}

}  // namespace tessera::engine
