#include "services/worker/engine/kv_cache/block_manager.h"

#include <set>

#include "gtest/gtest.h"

namespace tessera::engine {
namespace {

TEST(BlockManagerTest, AllocatesWholeBlocksAsTokensGrow) {
  BlockManager blocks(/*num_blocks=*/8, /*block_size=*/4);
  Request r;
  ASSERT_TRUE(blocks.AllocateSlots(r, 1));
  EXPECT_EQ(r.block_ids.size(), 1u);
  ASSERT_TRUE(blocks.AllocateSlots(r, 4));
  EXPECT_EQ(r.block_ids.size(), 1u);
  ASSERT_TRUE(blocks.AllocateSlots(r, 5));
  EXPECT_EQ(r.block_ids.size(), 2u);
  EXPECT_EQ(blocks.num_free_blocks(), 6);
  EXPECT_DOUBLE_EQ(blocks.Usage(), 0.25);
}

TEST(BlockManagerTest, SlotMappingFollowsTheBlockTable) {
  BlockManager blocks(8, 4);
  Request a, b;
  ASSERT_TRUE(blocks.AllocateSlots(a, 4));
  ASSERT_TRUE(blocks.AllocateSlots(b, 4));
  ASSERT_TRUE(blocks.AllocateSlots(a, 6));
  // a holds blocks 0 and 2, b holds block 1.
  EXPECT_EQ(blocks.SlotFor(a, 0), a.block_ids[0] * 4);
  EXPECT_EQ(blocks.SlotFor(a, 5), a.block_ids[1] * 4 + 1);
  EXPECT_NE(a.block_ids[1], b.block_ids[0]);
}

TEST(BlockManagerTest, RefusesWithoutChangingAnythingWhenFull) {
  BlockManager blocks(2, 4);
  Request a, b;
  ASSERT_TRUE(blocks.AllocateSlots(a, 5));
  EXPECT_FALSE(blocks.AllocateSlots(b, 1));
  EXPECT_TRUE(b.block_ids.empty());
  EXPECT_FALSE(blocks.AllocateSlots(a, 9));
  EXPECT_EQ(a.block_ids.size(), 2u);
}

TEST(BlockManagerTest, FreeReturnsEveryBlockOnce) {
  BlockManager blocks(4, 2);
  Request a;
  ASSERT_TRUE(blocks.AllocateSlots(a, 8));
  EXPECT_EQ(blocks.num_free_blocks(), 0);
  blocks.Free(a);
  EXPECT_TRUE(a.block_ids.empty());
  EXPECT_EQ(blocks.num_free_blocks(), 4);
  Request b;
  ASSERT_TRUE(blocks.AllocateSlots(b, 8));
  std::set<int32_t> unique(b.block_ids.begin(), b.block_ids.end());
  EXPECT_EQ(unique.size(), 4u);
}

}  // namespace
}  // namespace tessera::engine

namespace tessera::engine {
namespace {

Request WithTokens(int n, int32_t first = 0) {
  Request r;
  for (int i = 0; i < n; ++i) r.prompt_token_ids.push_back(first + i);
  return r;
}

// Computes the whole request as the engine would and registers its full blocks.
void ComputeAll(BlockManager& blocks, Request& r) {
  ASSERT_TRUE(blocks.AllocateSlots(r, r.num_tokens()));
  r.num_computed_tokens = r.num_tokens();
  blocks.CacheFullBlocks(r);
}

TEST(PrefixCacheTest, ReusesFullBlocksOfTheLongestCachedPrefix) {
  BlockManager blocks(16, 4);
  Request first = WithTokens(10);
  ComputeAll(blocks, first);
  blocks.Free(first);

  Request second = WithTokens(13);  // shares tokens 0..9: two full blocks
  EXPECT_EQ(blocks.AttachCachedPrefix(second), 8);
  EXPECT_EQ(second.num_cached_blocks, 2);
  EXPECT_EQ(blocks.prefix_cache_hits(), 8);
  EXPECT_EQ(blocks.prefix_cache_queries(), 13);  // only lookups count, not the first computation
}

TEST(PrefixCacheTest, AlwaysLeavesTheLastTokenToCompute) {
  BlockManager blocks(16, 4);
  Request first = WithTokens(8);
  ComputeAll(blocks, first);
  Request same = WithTokens(8);
  EXPECT_EQ(blocks.AttachCachedPrefix(same), 4);  // not 8: the last token's logits are needed
}

TEST(PrefixCacheTest, DifferentPrefixesDoNotShareEqualLaterBlocks) {
  BlockManager blocks(16, 4);
  Request a = WithTokens(8);
  ComputeAll(blocks, a);
  Request b = WithTokens(9);
  b.prompt_token_ids[0] = 99;  // same second block, different first block
  EXPECT_EQ(blocks.AttachCachedPrefix(b), 0);
}

TEST(PrefixCacheTest, SharedBlocksAreReferenceCounted) {
  BlockManager blocks(4, 4);
  Request a = WithTokens(9);
  ComputeAll(blocks, a);  // 3 blocks
  Request b = WithTokens(9);
  EXPECT_EQ(blocks.AttachCachedPrefix(b), 8);
  ASSERT_TRUE(blocks.AllocateSlots(b, 9));
  EXPECT_EQ(blocks.num_free_blocks(), 0);  // 2 shared + 1 private each
  blocks.Free(a);
  EXPECT_EQ(blocks.num_free_blocks(), 1);  // only a's private tail
  blocks.Free(b);
  EXPECT_EQ(blocks.num_free_blocks(), 4);
}

TEST(PrefixCacheTest, EvictsLeastRecentlyFreedBlocksFirst) {
  BlockManager blocks(4, 2);
  Request a = WithTokens(3, 0), b = WithTokens(3, 100);
  ComputeAll(blocks, a);
  ComputeAll(blocks, b);
  blocks.Free(a);  // a's full block is now the least recently freed cached block
  blocks.Free(b);
  Request c = WithTokens(5, 200);  // needs 3 blocks: the 2 private tails and then a's cached block
  ASSERT_TRUE(blocks.AllocateSlots(c, 5));
  Request a_again = WithTokens(3, 0), b_again = WithTokens(3, 100);
  EXPECT_EQ(blocks.AttachCachedPrefix(a_again), 0) << "a's block was evicted";
  EXPECT_EQ(blocks.AttachCachedPrefix(b_again), 2) << "b's block survived";
}

TEST(PrefixCacheTest, DisabledCacheNeverHits) {
  BlockManager blocks(16, 4, /*enable_prefix_caching=*/false);
  Request a = WithTokens(9);
  ComputeAll(blocks, a);
  blocks.Free(a);
  Request b = WithTokens(9);
  EXPECT_EQ(blocks.AttachCachedPrefix(b), 0);
}

}  // namespace
}  // namespace tessera::engine
