// AsyncEngine without gRPC: synchronous validation before admission, aborts that end the stream and free the KV
// cache, the in-flight limit, draining with a grace period, and the engine metrics fed from the engine thread.
#include "services/worker/async_engine.h"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::worker {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

engine::EngineConfig Config() {
  engine::EngineConfig config;
  config.model = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-qwen3";
  config.max_model_len = 4096;
  config.kv_cache_memory_bytes = 16ll << 20;
  return config;
}

std::unique_ptr<AsyncEngine> MakeEngine(const AsyncEngineOptions& options = {}) {
  auto engine = AsyncEngine::Create(Config(), options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? std::move(*engine) : nullptr;
}

engine::SamplingParams Greedy(const AsyncEngine& engine, int max_tokens) {
  engine::SamplingParams params = engine.default_sampling_params();
  params.temperature = 0.0f;
  params.max_tokens = max_tokens;
  params.ignore_eos = true;
  return params;
}

// Reads the stream to its end and returns every update merged into one.
GenerationUpdate ReadAll(GenerationStream& stream) {
  GenerationUpdate all;
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (!stream.done() && Clock::now() < until) {
    if (auto update = stream.Next(Clock::now() + std::chrono::milliseconds(50))) all.MergeFrom(std::move(*update));
  }
  return all;
}

TEST(AsyncEngineTest, SubmitRejectsBadRequestsBeforeAdmission) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  engine::SamplingParams bad = Greedy(*engine, 4);
  bad.top_p = 0.0f;
  auto rejected = engine->Submit("a", {1, 2, 3}, bad);
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rejected.status().message(), HasSubstr("top_p"));
  auto outside = engine->Submit("b", {1, 1 << 20}, Greedy(*engine, 4));
  EXPECT_EQ(outside.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine->Submit("c", {}, Greedy(*engine, 4)).status().code(), absl::StatusCode::kInvalidArgument);

  auto running = engine->Submit("same", {1, 2, 3}, Greedy(*engine, 3000));
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(engine->Submit("same", {4, 5}, Greedy(*engine, 2)).status().code(), absl::StatusCode::kAlreadyExists);
  engine->Abort("same");
  ReadAll(**running);
  EXPECT_EQ(engine->GetLoad().num_in_flight, 0);
}

TEST(AsyncEngineTest, GeneratedIdsAndFullOutput) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  auto stream = engine->Submit("", {9, 8, 7}, Greedy(*engine, 7));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_FALSE((*stream)->request_id().empty());
  GenerationUpdate all = ReadAll(**stream);
  ASSERT_TRUE(all.finished);
  ASSERT_EQ(all.sequences.size(), 1u);
  EXPECT_EQ(all.sequences[0].token_ids.size(), 7u);
  EXPECT_EQ(all.sequences[0].finish_reason, engine::FinishReason::kLength);
  EXPECT_EQ(all.num_completion_tokens, 7);
  EXPECT_FALSE(all.sequences[0].text.empty());
}

TEST(AsyncEngineTest, AbortEndsTheStreamAndFreesTheKvCache) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  auto stream = engine->Submit("long", {3, 1, 4, 1, 5}, Greedy(*engine, 4000));
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::optional<GenerationUpdate> first;
  while (!first) first = (*stream)->Next(Clock::now() + std::chrono::seconds(10));
  EXPECT_GT(engine->GetLoad().kv_cache_usage, 0.0);
  engine->Abort("long");
  GenerationUpdate rest = ReadAll(**stream);
  ASSERT_TRUE(rest.finished);
  ASSERT_EQ(rest.sequences.size(), 1u);
  EXPECT_EQ(rest.sequences[0].finish_reason, engine::FinishReason::kAbort);
  ASSERT_TRUE(engine->WaitIdle(Clock::now() + std::chrono::seconds(10)));
  // The engine thread publishes the load after the step in which it aborted.
  const auto until = Clock::now() + std::chrono::seconds(10);
  while (engine->GetLoad().kv_cache_usage > 0.0 && Clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(engine->GetLoad().kv_cache_usage, 0.0);
  EXPECT_EQ(engine->GetLoad().num_running, 0);
}

TEST(AsyncEngineTest, InFlightLimitIsResourceExhausted) {
  AsyncEngineOptions options;
  options.max_in_flight_requests = 1;
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  auto first = engine->Submit("one", {1, 2}, Greedy(*engine, 3000));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(engine->Submit("two", {1, 2}, Greedy(*engine, 2)).status().code(), absl::StatusCode::kResourceExhausted);
  engine->Abort("one");
  ReadAll(**first);
  EXPECT_TRUE(engine->Submit("three", {1, 2}, Greedy(*engine, 2)).ok());
}

TEST(AsyncEngineTest, DrainRefusesNewRequestsAndAbortsAfterTheGracePeriod) {
  auto engine = MakeEngine();
  ASSERT_NE(engine, nullptr);
  auto stream = engine->Submit("long", {2, 7, 1, 8}, Greedy(*engine, 4000));
  ASSERT_TRUE(stream.ok());
  engine->Drain(std::chrono::milliseconds(20));
  EXPECT_TRUE(engine->draining());
  EXPECT_EQ(engine->Submit("late", {1}, Greedy(*engine, 1)).status().code(), absl::StatusCode::kUnavailable);
  GenerationUpdate all = ReadAll(**stream);
  ASSERT_TRUE(all.finished);
  EXPECT_EQ(all.sequences.at(0).finish_reason, engine::FinishReason::kAbort);
  EXPECT_TRUE(engine->WaitIdle(Clock::now() + std::chrono::seconds(10)));
}

}  // namespace
}  // namespace tessera::worker

namespace tessera::worker {
namespace {

TEST(AsyncEngineMetricsTest, CountsGeneratedTokensAndFinishedRequests) {
  metrics::Registry registry;
  AsyncEngineOptions options;
  options.metrics_registry = &registry;
  options.metrics_model_name = "tiny";
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  EXPECT_THAT(registry.Render(), HasSubstr("tessera_generation_tokens_total{model_name=\"tiny\"} 0\n"));

  auto first = engine->Submit("first", {1, 2, 3, 4}, Greedy(*engine, 5));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = engine->Submit("second", {5, 6, 7}, Greedy(*engine, 3));
  ASSERT_TRUE(second.ok()) << second.status();
  const GenerationUpdate first_all = ReadAll(**first);
  const GenerationUpdate second_all = ReadAll(**second);
  ASSERT_TRUE(first_all.finished && second_all.finished);
  ASSERT_EQ(first_all.num_completion_tokens + second_all.num_completion_tokens, 8);
  ASSERT_TRUE(engine->WaitIdle(Clock::now() + std::chrono::seconds(10)));

  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("tessera_generation_tokens_total{model_name=\"tiny\"} 8\n"));
  EXPECT_THAT(text, HasSubstr("tessera_prompt_tokens_total{model_name=\"tiny\"} 7\n"));
  EXPECT_THAT(text, HasSubstr("tessera_request_success_total{model_name=\"tiny\",finished_reason=\"length\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("tessera_cache_config_info{"));
}

TEST(AsyncEngineMetricsTest, CountsAbortedRequests) {
  metrics::Registry registry;
  AsyncEngineOptions options;
  options.metrics_registry = &registry;
  options.metrics_model_name = "tiny";
  auto engine = MakeEngine(options);
  ASSERT_NE(engine, nullptr);
  auto stream = engine->Submit("long", {3, 1, 4, 1, 5}, Greedy(*engine, 4000));
  ASSERT_TRUE(stream.ok()) << stream.status();
  // Wait for the first tokens so that the request is inside the engine when the abort comes.
  std::optional<GenerationUpdate> update;
  while (!update) update = (*stream)->Next(Clock::now() + std::chrono::seconds(60));
  engine->Abort("long");
  const GenerationUpdate rest = ReadAll(**stream);
  ASSERT_TRUE(rest.finished);
  ASSERT_TRUE(engine->WaitIdle(Clock::now() + std::chrono::seconds(10)));
  EXPECT_THAT(registry.Render(),
              HasSubstr("tessera_request_success_total{model_name=\"tiny\",finished_reason=\"abort\"} 1\n"));
}

}  // namespace
}  // namespace tessera::worker
