// Hands out the fixed-size blocks of the paged KV cache. A request's block table grows as its tokens are
// scheduled; blocks carry reference counts so that later sharing (prefix caching) frees a block only when its last
// user lets go. Only the engine thread touches it.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "services/worker/engine/request.h"

namespace tessera::engine {

class BlockManager {
 public:
  BlockManager(int num_blocks, int block_size);

  int block_size() const { return block_size_; }
  int num_blocks() const { return num_blocks_; }
  int num_free_blocks() const { return static_cast<int>(free_blocks_.size()); }
  // Fraction of blocks in use, 0..1.
  double Usage() const;

  int BlocksForTokens(int num_tokens) const { return (num_tokens + block_size_ - 1) / block_size_; }
  // Grows the request's block table so that it covers `num_total_tokens` tokens. Returns false and changes
  // nothing when too few blocks are free.
  bool AllocateSlots(Request& request, int num_total_tokens);
  // Returns every block of the request (those still referenced elsewhere stay allocated).
  void Free(Request& request);
  // Cache row that holds token `position` of the request.
  int32_t SlotFor(const Request& request, int position) const {
    return request.block_ids[position / block_size_] * block_size_ + position % block_size_;
  }

 private:
  int num_blocks_;
  int block_size_;
  std::deque<int32_t> free_blocks_;
  std::vector<int32_t> ref_counts_;
};

}  // namespace tessera::engine
