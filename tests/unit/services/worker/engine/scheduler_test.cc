#include "services/worker/engine/scheduler.h"

#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace tessera::engine {
namespace {

std::unique_ptr<Request> MakeRequest(int prompt_len) {
  auto r = std::make_unique<Request>();
  r->prompt_token_ids.assign(prompt_len, 1);
  return r;
}

// Applies a step as the engine would: computed tokens advance, a completed sequence gets one more token.
void Complete(const SchedulerOutput& out) {
  for (const ScheduledChunk& c : out.chunks) {
    c.request->num_computed_tokens += c.num_tokens;
    if (c.request->num_computed_tokens == c.request->num_tokens()) c.request->output_token_ids.push_back(7);
  }
}

TEST(SchedulerTest, ChunksLongPromptsUnderTheTokenBudget) {
  BlockManager blocks(100, 4);
  Scheduler scheduler({/*max_num_seqs=*/8, /*max_num_batched_tokens=*/10}, &blocks);
  auto long_prompt = MakeRequest(25);
  scheduler.Add(long_prompt.get());
  std::vector<int> chunk_sizes;
  while (long_prompt->output_token_ids.empty()) {
    SchedulerOutput out = scheduler.Schedule();
    ASSERT_EQ(out.chunks.size(), 1u);
    chunk_sizes.push_back(out.chunks[0].num_tokens);
    Complete(out);
  }
  EXPECT_EQ(chunk_sizes, (std::vector<int>{10, 10, 5}));
}

TEST(SchedulerTest, DecodesAndPrefillChunksShareAStep) {
  BlockManager blocks(100, 4);
  Scheduler scheduler({8, 10}, &blocks);
  auto first = MakeRequest(3);
  scheduler.Add(first.get());
  Complete(scheduler.Schedule());  // first prompt done, one token generated
  auto second = MakeRequest(20);
  scheduler.Add(second.get());
  SchedulerOutput out = scheduler.Schedule();
  ASSERT_EQ(out.chunks.size(), 2u);
  EXPECT_EQ(out.chunks[0].request, first.get());
  EXPECT_EQ(out.chunks[0].num_tokens, 1);  // decode
  EXPECT_EQ(out.chunks[1].request, second.get());
  EXPECT_EQ(out.chunks[1].num_tokens, 9);  // the rest of the budget
  EXPECT_EQ(out.total_tokens, 10);
}

TEST(SchedulerTest, RespectsTheSequenceCapInArrivalOrder) {
  BlockManager blocks(100, 4);
  Scheduler scheduler({2, 100}, &blocks);
  auto a = MakeRequest(2), b = MakeRequest(2), c = MakeRequest(2);
  scheduler.Add(a.get());
  scheduler.Add(b.get());
  scheduler.Add(c.get());
  SchedulerOutput out = scheduler.Schedule();
  ASSERT_EQ(out.chunks.size(), 2u);
  EXPECT_EQ(out.chunks[0].request, a.get());
  EXPECT_EQ(out.chunks[1].request, b.get());
  EXPECT_EQ(scheduler.num_waiting(), 1);
  Complete(out);
  scheduler.Finish(a.get());
  out = scheduler.Schedule();
  ASSERT_EQ(out.chunks.size(), 2u);
  EXPECT_EQ(out.chunks[1].request, c.get());
}

TEST(SchedulerTest, PreemptsTheNewestRunningRequestWhenBlocksRunOut) {
  // Two requests of 4 tokens fill both blocks; the first decode needs a third block.
  BlockManager blocks(2, 4);
  Scheduler scheduler({8, 100}, &blocks);
  auto older = MakeRequest(4), newer = MakeRequest(4);
  scheduler.Add(older.get());
  scheduler.Add(newer.get());
  Complete(scheduler.Schedule());
  SchedulerOutput out = scheduler.Schedule();
  ASSERT_EQ(out.preempted.size(), 1u);
  EXPECT_EQ(out.preempted[0], newer.get());
  EXPECT_EQ(newer->num_computed_tokens, 0);
  EXPECT_TRUE(newer->block_ids.empty());
  EXPECT_EQ(newer->num_preemptions, 1);
  ASSERT_EQ(out.chunks.size(), 1u);
  EXPECT_EQ(out.chunks[0].request, older.get());
  Complete(out);
  scheduler.Finish(older.get());
  // The preempted request comes back first and recomputes its prompt and its generated token.
  out = scheduler.Schedule();
  ASSERT_EQ(out.chunks.size(), 1u);
  EXPECT_EQ(out.chunks[0].request, newer.get());
  EXPECT_EQ(out.chunks[0].num_tokens, 5);
}

TEST(SchedulerTest, FinishFreesBlocksAtOnce) {
  BlockManager blocks(4, 4);
  Scheduler scheduler({8, 100}, &blocks);
  auto r = MakeRequest(10);
  scheduler.Add(r.get());
  scheduler.Schedule();
  EXPECT_EQ(blocks.num_free_blocks(), 1);
  scheduler.Finish(r.get());
  EXPECT_EQ(blocks.num_free_blocks(), 4);
  EXPECT_FALSE(scheduler.HasWork());
}

}  // namespace
}  // namespace tessera::engine
