// The offline API end to end on the fixture models: batching, chunked prefill and preemption must not change
// greedy outputs, and bad input is rejected with a clear error before anything runs.
#include "services/worker/engine/llm.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/services/worker/engine/fixture_models.h"

namespace tessera::engine {
namespace {

using ::testing::HasSubstr;

std::string ModelDir(const std::string& name) { return fixtures::FixtureModelDir(name); }

std::vector<std::vector<int32_t>> GoldenPrompts(const std::string& model) { return fixtures::GoldenPromptIds(model); }

EngineConfig BaseConfig(const std::string& model) {
  EngineConfig config;
  config.model = ModelDir(model);
  config.max_model_len = 1024;
  config.kv_cache_memory_bytes = 64ll << 20;
  return config;
}

SamplingParams Greedy(int max_tokens) {
  SamplingParams p;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

std::vector<std::vector<int32_t>> TokensOf(const std::vector<RequestOutput>& outputs) {
  std::vector<std::vector<int32_t>> tokens;
  for (const auto& o : outputs) tokens.push_back(o.outputs[0].token_ids);
  return tokens;
}

std::vector<std::vector<int32_t>> RunEachAlone(const EngineConfig& config,
                                               const std::vector<std::vector<int32_t>>& prompts, int max_tokens) {
  auto llm = LLM::Create(config);
  EXPECT_TRUE(llm.ok()) << llm.status();
  std::vector<std::vector<int32_t>> tokens;
  for (const auto& prompt : prompts) {
    auto out = (*llm)->Generate(prompt, Greedy(max_tokens));
    EXPECT_TRUE(out.ok()) << out.status();
    tokens.push_back(out->outputs[0].token_ids);
  }
  return tokens;
}

TEST(LLMTest, BatchChunkedPrefillAndPreemptionKeepGreedyOutputs) {
  const auto prompts = GoldenPrompts("tiny-qwen3");
  const auto expected = RunEachAlone(BaseConfig("tiny-qwen3"), prompts, 12);

  EngineConfig batched = BaseConfig("tiny-qwen3");
  auto llm = LLM::Create(batched);
  ASSERT_TRUE(llm.ok()) << llm.status();
  auto outputs = (*llm)->Generate(prompts, {Greedy(12)});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(TokensOf(*outputs), expected);

  EngineConfig chunked = BaseConfig("tiny-qwen3");
  chunked.max_num_batched_tokens = 7;
  llm = LLM::Create(chunked);
  ASSERT_TRUE(llm.ok()) << llm.status();
  outputs = (*llm)->Generate(prompts, {Greedy(12)});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(TokensOf(*outputs), expected);

  // 70 blocks of 16 tokens hold one 1024-token sequence but far less than the ~90 blocks the batch needs.
  EngineConfig tiny_cache = BaseConfig("tiny-qwen3");
  auto probe = LLMEngine::Create(tiny_cache);
  ASSERT_TRUE(probe.ok());
  const int64_t block_bytes = static_cast<int64_t>((*probe)->info().kv_cache_bytes / (*probe)->info().num_kv_blocks);
  tiny_cache.kv_cache_memory_bytes = 70 * block_bytes;
  llm = LLM::Create(tiny_cache);
  ASSERT_TRUE(llm.ok()) << llm.status();
  outputs = (*llm)->Generate(prompts, {Greedy(12)});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(TokensOf(*outputs), expected);
  EXPECT_GT((*llm)->engine().num_preemptions(), 0);
  EXPECT_DOUBLE_EQ((*llm)->engine().kv_cache_usage(), 0.0) << "every block returns when requests finish";
}

TEST(LLMTest, StopsAtEosUnlessIgnored) {
  auto llm = LLM::Create(BaseConfig("tiny-llama"));
  ASSERT_TRUE(llm.ok());
  auto plain = (*llm)->Generate({70, 321, 70, 321, 70}, Greedy(24));
  ASSERT_TRUE(plain.ok());
  // Stop on the fourth generated token, as if it were EOS.
  SamplingParams stop = Greedy(24);
  stop.ignore_eos = false;
  stop.stop_token_ids = {plain->outputs[0].token_ids[3]};
  auto stopped = (*llm)->Generate({70, 321, 70, 321, 70}, stop);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->outputs[0].finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped->outputs[0].stop_token, plain->outputs[0].token_ids[3]);
  EXPECT_EQ(stopped->outputs[0].token_ids, std::vector<int32_t>(plain->outputs[0].token_ids.begin(), plain->outputs[0].token_ids.begin() + 4));
  EXPECT_EQ(plain->outputs[0].finish_reason, FinishReason::kLength);
}

TEST(LLMTest, LengthStopsAtMaxModelLen) {
  EngineConfig config = BaseConfig("tiny-llama");
  config.max_model_len = 10;
  auto llm = LLM::Create(config);
  ASSERT_TRUE(llm.ok()) << llm.status();
  SamplingParams unbounded = Greedy(0);
  unbounded.max_tokens = kMaxTokensUnbounded;
  auto out = (*llm)->Generate({1, 2, 3, 4, 5, 6}, unbounded);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->outputs[0].token_ids.size(), 4u);
  EXPECT_EQ(out->outputs[0].finish_reason, FinishReason::kLength);
}

TEST(LLMTest, RejectsBadPromptsWithoutRunningAnything) {
  EngineConfig config = BaseConfig("tiny-llama");
  config.max_model_len = 8;
  auto llm = LLM::Create(config);
  ASSERT_TRUE(llm.ok());
  auto too_long = (*llm)->Generate({{1, 2}, {1, 2, 3, 4, 5, 6, 7, 8}}, {Greedy(2)});
  ASSERT_FALSE(too_long.ok());
  EXPECT_THAT(too_long.status().message(), HasSubstr("prompt 1"));
  EXPECT_THAT(too_long.status().message(), HasSubstr("max_model_len is 8"));
  auto bad_id = (*llm)->Generate({{1, 5000}}, {Greedy(2)});
  ASSERT_FALSE(bad_id.ok());
  EXPECT_THAT(bad_id.status().message(), HasSubstr("5000"));
  auto empty = (*llm)->Generate(std::vector<std::vector<int32_t>>{std::vector<int32_t>{}}, {Greedy(2)});
  EXPECT_FALSE(empty.ok());
  SamplingParams zero = Greedy(0);
  auto zero_tokens = (*llm)->Generate({{1}}, {zero});
  ASSERT_FALSE(zero_tokens.ok());
  EXPECT_THAT(zero_tokens.status().message(), HasSubstr("max_tokens"));
  // The engine still serves after the rejections.
  EXPECT_FALSE((*llm)->engine().HasUnfinishedRequests());
  EXPECT_TRUE((*llm)->Generate({1, 2}, Greedy(2)).ok());
}

class TempModelDir {
 public:
  explicit TempModelDir(const std::string& from) {
    path_ = std::filesystem::temp_directory_path() / ("tessera-llm-test-" + std::to_string(::getpid()) + "-" +
                                                      std::to_string(counter_++));
    std::filesystem::create_directories(path_);
    for (const auto& entry : std::filesystem::directory_iterator(from))
      if (entry.path().filename() != "golden.safetensors") std::filesystem::copy(entry.path(), path_ / entry.path().filename());
  }
  ~TempModelDir() { std::filesystem::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void ReplaceInConfig(const std::string& from, const std::string& to) {
    std::ifstream in(path_ / "config.json");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    text.replace(text.find(from), from.size(), to);
    std::ofstream(path_ / "config.json") << text;
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(LLMTest, UnknownArchitectureListsTheSupportedOnes) {
  TempModelDir dir(ModelDir("tiny-llama"));
  dir.ReplaceInConfig("LlamaForCausalLM", "GPT2LMHeadModel");
  EngineConfig config = BaseConfig("tiny-llama");
  config.model = dir.path();
  auto llm = LLM::Create(config);
  ASSERT_FALSE(llm.ok());
  EXPECT_THAT(llm.status().message(), HasSubstr("GPT2LMHeadModel"));
  EXPECT_THAT(llm.status().message(), HasSubstr("Qwen3ForCausalLM"));
}

TEST(LLMTest, MissingTensorIsNamed) {
  TempModelDir dir(ModelDir("tiny-llama"));
  dir.ReplaceInConfig("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  EngineConfig config = BaseConfig("tiny-llama");
  config.model = dir.path();
  auto llm = LLM::Create(config);
  ASSERT_FALSE(llm.ok());
  EXPECT_THAT(llm.status().message(), HasSubstr("model.layers.2."));
}

TEST(LLMTest, DummyWeightsNeedOnlyTheConfig) {
  TempModelDir dir(ModelDir("tiny-qwen2"));
  std::filesystem::remove(std::filesystem::path(dir.path()) / "model.safetensors");
  EngineConfig config = BaseConfig("tiny-qwen2");
  config.model = dir.path();
  config.load_format = "dummy";
  auto llm = LLM::Create(config);
  ASSERT_TRUE(llm.ok()) << llm.status();
  auto out = (*llm)->Generate({1, 2, 3}, Greedy(5));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->outputs[0].token_ids.size(), 5u);
  // Same seed, same weights, same tokens.
  auto again = LLM::Create(config);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->Generate({1, 2, 3}, Greedy(5))->outputs[0].token_ids, out->outputs[0].token_ids);
}

TEST(LLMTest, SeededTemperatureSamplingRepeats) {
  auto llm = LLM::Create(BaseConfig("tiny-llama"));
  ASSERT_TRUE(llm.ok());
  SamplingParams p = Greedy(16);
  p.temperature = 1.0f;
  p.seed = 1234;
  auto a = (*llm)->Generate({{1, 2, 3}, {4, 5}}, {p});
  auto b = (*llm)->Generate({{4, 5}, {1, 2, 3}}, {p});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)[0].outputs[0].token_ids, (*b)[1].outputs[0].token_ids);
  EXPECT_EQ((*a)[1].outputs[0].token_ids, (*b)[0].outputs[0].token_ids);
}

}  // namespace
}  // namespace tessera::engine

namespace tessera::engine {
namespace {

TEST(PrefixCachingTest, CacheHitsGiveIdenticalOutputsAndAreReported) {
  const auto prompts = GoldenPrompts("tiny-llama31");
  // A long shared prefix (the 200-token prompt) followed by different suffixes.
  std::vector<std::vector<int32_t>> shared;
  for (int i = 0; i < 4; ++i) {
    std::vector<int32_t> p = prompts[6];
    p.insert(p.end(), prompts[i].begin(), prompts[i].end());
    shared.push_back(p);
  }
  EngineConfig no_cache = BaseConfig("tiny-llama31");
  no_cache.enable_prefix_caching = false;
  const auto expected = RunEachAlone(no_cache, shared, 8);

  auto llm = LLM::Create(BaseConfig("tiny-llama31"));
  ASSERT_TRUE(llm.ok());
  auto first = (*llm)->Generate(shared[0], Greedy(8));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->num_cached_tokens, 0);
  auto rest = (*llm)->Generate({shared[1], shared[2], shared[3], shared[0]}, {Greedy(8)});
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(first->outputs[0].token_ids, expected[0]);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*rest)[i].outputs[0].token_ids, expected[i + 1]);
    EXPECT_EQ((*rest)[i].num_cached_tokens, 192) << "200 shared tokens = 12 full blocks of 16";
  }
  EXPECT_EQ((*rest)[3].outputs[0].token_ids, expected[0]);
  EXPECT_GE((*rest)[3].num_cached_tokens, 192);
}

}  // namespace
}  // namespace tessera::engine
