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
