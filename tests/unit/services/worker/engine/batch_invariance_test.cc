// Batch invariance (issue 4, point 4): a request's greedy output must not depend on what else runs in its steps.
// 64 mixed-length requests built from the fixture models' golden prompts (prefixes, suffixes, shared prefixes) run
// as one batch must give exactly the tokens each gives when run alone, with and without prefix caching and with
// step budgets (chunk sizes) of 1, 7 and 512 tokens.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/services/worker/engine/fixture_models.h"
#include "services/worker/engine/llm.h"

namespace tessera::engine {
namespace {

constexpr int kNumRequests = 64;
constexpr int kNewTokens = 10;
// Long enough for several 16-token blocks and chunked prefill, short enough that a 1-token budget stays quick.
constexpr int kMaxPromptLen = 112;

std::string ModelDir(const std::string& name) { return fixtures::FixtureModelDir(name); }

std::vector<std::vector<int32_t>> GoldenPrompts(const std::string& model) { return fixtures::GoldenPromptIds(model); }

// Four families of prompts, interleaved so that every step mixes them: prefixes and suffixes of the golden prompts
// (lengths 1 to kMaxPromptLen), and prompts that share the first 48 tokens (three full blocks) of the longest golden
// prompt, followed by different tails, so that the prefix cache has something to serve.
std::vector<std::vector<int32_t>> MixedPrompts(const std::vector<std::vector<int32_t>>& golden) {
  const std::vector<int32_t>& longest = golden.back();
  const std::vector<int32_t> shared(longest.begin(), longest.begin() + 48);
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < kNumRequests; ++i) {
    const std::vector<int32_t>& source = golden[(i * 3) % golden.size()];
    const int len = std::min<int>(static_cast<int>(source.size()), 1 + (i * 37) % kMaxPromptLen);
    std::vector<int32_t> p;
    switch (i % 4) {
      case 0:
        p.assign(source.begin(), source.begin() + len);
        break;
      case 1:
        p.assign(source.end() - len, source.end());
        break;
      case 2: {
        const std::vector<int32_t>& tail_source = golden[(i / 4) % golden.size()];
        const int tail = std::min<int>(static_cast<int>(tail_source.size()), 1 + (i * 13) % 56);
        p = shared;
        p.insert(p.end(), tail_source.end() - tail, tail_source.end());
        break;
      }
      default:
        // A longer prefix of the longest prompt: shares whole blocks with the case-2 prompts and with each other.
        p.assign(longest.begin(), longest.begin() + 17 + (i * 29) % (kMaxPromptLen - 16));
        break;
    }
    prompts.push_back(std::move(p));
  }
  return prompts;
}

EngineConfig BaseConfig(const std::string& model) {
  EngineConfig config;
  config.model = ModelDir(model);
  config.max_model_len = 256;
  config.kv_cache_memory_bytes = 32ll << 20;
  return config;
}

SamplingParams Greedy() {
  SamplingParams p;
  p.max_tokens = kNewTokens;
  p.ignore_eos = true;
  return p;
}

class BatchInvarianceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BatchInvarianceTest, BatchedGreedyOutputsEqualEachRequestAlone) {
  const std::string model = GetParam();
  const auto golden = GoldenPrompts(model);
  ASSERT_EQ(golden.size(), 8u);
  const auto prompts = MixedPrompts(golden);

  // References: each request alone in a fresh-cache engine (no prefix caching, so nothing is shared).
  EngineConfig alone_config = BaseConfig(model);
  alone_config.enable_prefix_caching = false;
  auto alone = LLM::Create(alone_config);
  ASSERT_TRUE(alone.ok()) << alone.status();
  std::vector<std::vector<int32_t>> expected;
  for (const auto& prompt : prompts) {
    auto out = (*alone)->Generate(prompt, Greedy());
    ASSERT_TRUE(out.ok()) << out.status();
    ASSERT_EQ(out->outputs[0].token_ids.size(), static_cast<size_t>(kNewTokens));
    expected.push_back(out->outputs[0].token_ids);
  }

  for (bool prefix_caching : {false, true}) {
    for (int chunk : {1, 7, 512}) {
      SCOPED_TRACE(absl::StrCat(model, " prefix_caching=", prefix_caching, " max_num_batched_tokens=", chunk));
      EngineConfig config = BaseConfig(model);
      config.enable_prefix_caching = prefix_caching;
      config.max_num_batched_tokens = chunk;
      auto llm = LLM::Create(config);
      ASSERT_TRUE(llm.ok()) << llm.status();
      auto outputs = (*llm)->Generate(prompts, {Greedy()});
      ASSERT_TRUE(outputs.ok()) << outputs.status();
      ASSERT_EQ(outputs->size(), prompts.size());
      int64_t cached_tokens = 0;
      for (size_t i = 0; i < prompts.size(); ++i) {
        EXPECT_EQ((*outputs)[i].outputs[0].token_ids, expected[i]) << "request " << i << " (prompt of "
                                                                  << prompts[i].size() << " tokens)";
        cached_tokens += (*outputs)[i].num_cached_tokens;
      }
      if (prefix_caching) {
        EXPECT_GT(cached_tokens, 0) << "the shared prefixes must be served from the cache";
      } else {
        EXPECT_EQ(cached_tokens, 0);
      }
      EXPECT_DOUBLE_EQ((*llm)->engine().kv_cache_usage(), 0.0);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(FixtureModels, BatchInvarianceTest,
                         ::testing::Values("tiny-llama", "tiny-llama31", "tiny-qwen2", "tiny-qwen3"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

}  // namespace
}  // namespace tessera::engine
