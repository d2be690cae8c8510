// The sampling and output features of issue 4 end to end, through LLM and LLMEngine on the fixture models: n and
// best_of, seeds inside batches, stop strings / stop ids / EOS with their stop_reason, min_tokens, logprobs and
// prompt_logprobs, aborts that free every block, validation before admission, cache and timing facts, chat prompts
// with the reasoning split, and the defaults a model folder's generation_config.json supplies.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/services/worker/engine/fixture_models.h"
#include "services/worker/engine/llm.h"
#include "services/worker/engine/reasoning_parser.h"

namespace tessera::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int32_t kEos = 2;  // eos_token_id of every fixture model

std::string ModelDir(const std::string& name) { return fixtures::FixtureModelDir(name); }

EngineConfig Config(const std::string& model) {
  EngineConfig config;
  config.model = ModelDir(model);
  config.max_model_len = 256;
  config.kv_cache_memory_bytes = 16ll << 20;
  return config;
}

std::unique_ptr<LLM> MakeLLM(const EngineConfig& config) {
  auto llm = LLM::Create(config);
  EXPECT_TRUE(llm.ok()) << llm.status();
  return llm.ok() ? std::move(*llm) : nullptr;
}

SamplingParams Greedy(int max_tokens) {
  SamplingParams p;
  p.max_tokens = max_tokens;
  p.ignore_eos = true;
  return p;
}

SamplingParams Random(int max_tokens, uint64_t seed) {
  SamplingParams p = Greedy(max_tokens);
  p.temperature = 1.0f;
  p.seed = seed;
  return p;
}

const std::vector<int32_t> kPrompt = {17, 300, 45, 812, 9, 77, 512, 33, 101};

// ---- n and best_of --------------------------------------------------------------------------------------------

TEST(EngineFeaturesTest, NThreeGivesThreeSequencesWithDistinctIndices) {
  auto llm = MakeLLM(Config("tiny-llama"));
  ASSERT_NE(llm, nullptr);
  SamplingParams p = Random(12, 7);
  p.n = 3;
  auto out = llm->Generate(kPrompt, p);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->outputs.size(), 3u);
  std::set<int> indices;
  std::set<std::vector<int32_t>> distinct_tokens;
  for (const CompletionOutput& c : out->outputs) {
    indices.insert(c.index);
    distinct_tokens.insert(c.token_ids);
    EXPECT_EQ(c.token_ids.size(), 12u);
    EXPECT_EQ(c.finish_reason, FinishReason::kLength);
  }
  EXPECT_EQ(indices, (std::set<int>{0, 1, 2}));
  EXPECT_GT(distinct_tokens.size(), 1u) << "independently seeded sequences should not all agree";
  EXPECT_TRUE(out->finished);
}

TEST(EngineFeaturesTest, BestOfReturnsTheNSequencesWithTheHighestCumulativeLogprob) {
  auto llm = MakeLLM(Config("tiny-llama"));
  ASSERT_NE(llm, nullptr);
  // The same seed makes sequence i draw the same tokens whether it is one of n=4 or of best_of=4.
  SamplingParams all = Random(10, 99);
  all.n = 4;
  all.logprobs = 0;
  auto every = llm->Generate(kPrompt, all);
  ASSERT_TRUE(every.ok()) << every.status();
  ASSERT_EQ(every->outputs.size(), 4u);
  std::vector<CompletionOutput> ranked = every->outputs;
  std::stable_sort(ranked.begin(), ranked.end(), [](const CompletionOutput& a, const CompletionOutput& b) {
    return *a.cumulative_logprob > *b.cumulative_logprob;
  });

  SamplingParams best = Random(10, 99);
  best.n = 2;
  best.best_of = 4;
  auto chosen = llm->Generate(kPrompt, best);
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  ASSERT_EQ(chosen->outputs.size(), 2u);
  std::set<int> expected_indices = {ranked[0].index, ranked[1].index};
  std::set<int> got_indices;
  for (const CompletionOutput& c : chosen->outputs) {
    got_indices.insert(c.index);
    const auto& same = *std::find_if(every->outputs.begin(), every->outputs.end(),
                                     [&](const CompletionOutput& e) { return e.index == c.index; });
    EXPECT_EQ(c.token_ids, same.token_ids);
    EXPECT_FALSE(c.cumulative_logprob.has_value()) << "logprobs were not requested";
  }
  EXPECT_EQ(got_indices, expected_indices);
  EXPECT_LT(chosen->outputs[0].index, chosen->outputs[1].index) << "reported in index order";
}

// ---- seeds ------------------------------------------------------------------------------------------------------

TEST(EngineFeaturesTest, SameSeedGivesTheSameTokensAloneAndInsideABatch) {
  auto llm = MakeLLM(Config("tiny-qwen3"));
  ASSERT_NE(llm, nullptr);
  SamplingParams seeded = Random(16, 4242);
  seeded.top_p = 0.9f;
  seeded.top_k = 50;
  auto alone = llm->Generate(kPrompt, seeded);
  ASSERT_TRUE(alone.ok()) << alone.status();

  // Unseeded and differently seeded neighbours, of other lengths, before and after it.
  std::vector<std::vector<int32_t>> prompts = {{5, 6, 7}, kPrompt, {900, 901, 902, 903, 904, 905, 906, 907, 908, 909},
                                               {1}, kPrompt};
  SamplingParams unseeded = Random(20, 0);
  unseeded.seed.reset();
  std::vector<SamplingParams> params = {unseeded, seeded, Random(8, 1), unseeded, seeded};
  EngineConfig chunked = Config("tiny-qwen3");
  chunked.max_num_batched_tokens = 5;
  for (const EngineConfig& config : {Config("tiny-qwen3"), chunked}) {
    auto batch_llm = MakeLLM(config);
    ASSERT_NE(batch_llm, nullptr);
    auto batch = batch_llm->Generate(std::vector<std::vector<int32_t>>(prompts), params);
    ASSERT_TRUE(batch.ok()) << batch.status();
    EXPECT_EQ((*batch)[1].outputs[0].token_ids, alone->outputs[0].token_ids);
    EXPECT_EQ((*batch)[4].outputs[0].token_ids, (*batch)[1].outputs[0].token_ids)
        << "the same prompt and seed twice in one batch";
  }
  SamplingParams other_seed = seeded;
  other_seed.seed = 4243;
  auto other = llm->Generate(kPrompt, other_seed);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->outputs[0].token_ids, alone->outputs[0].token_ids);
}

// ---- stop conditions --------------------------------------------------------------------------------------------

// A stop string taken from the middle of `text`, starting and ending on UTF-8 character boundaries.
std::string StopStringFrom(const std::string& text) {
  auto is_boundary = [&](size_t i) {
    return i >= text.size() || (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
  };
  size_t begin = text.size() / 2;
  while (begin > 0 && !is_boundary(begin)) --begin;
  size_t end = std::min(text.size(), begin + 3);
  while (end < text.size() && !is_boundary(end)) ++end;
  return text.substr(begin, end - begin);
}

TEST(EngineFeaturesTest, StopStringsCutTheTextAndAreTheStopReason) {
  auto llm = MakeLLM(Config("tiny-qwen3"));
  ASSERT_NE(llm, nullptr);
  const Prompt prompt = Prompt::Text("The quick brown fox jumps over the lazy dog");
  auto plain = llm->Generate({prompt}, {Greedy(40)});
  ASSERT_TRUE(plain.ok()) << plain.status();
  const std::string full = (*plain)[0].outputs[0].text;
  ASSERT_GE(full.size(), 8u) << "the fixture should produce some text: " << full;
  const std::string stop = StopStringFrom(full);
  const size_t at = full.find(stop);
  ASSERT_NE(at, std::string::npos);

  SamplingParams p = Greedy(40);
  p.stop = {stop, "a stop string that never appears"};
  auto cut = llm->Generate({prompt}, {p});
  ASSERT_TRUE(cut.ok()) << cut.status();
  const CompletionOutput& c = (*cut)[0].outputs[0];
  EXPECT_EQ(c.text, full.substr(0, at));
  EXPECT_EQ(c.finish_reason, FinishReason::kStop);
  EXPECT_EQ(c.stop_string, stop);
  EXPECT_FALSE(c.stop_token.has_value());
  EXPECT_LT(c.token_ids.size(), 40u) << "generation ends at the stop string";
  EXPECT_EQ(c.token_ids, std::vector<int32_t>((*plain)[0].outputs[0].token_ids.begin(),
                                              (*plain)[0].outputs[0].token_ids.begin() + c.token_ids.size()));

  p.include_stop_str_in_output = true;
  auto kept = llm->Generate({prompt}, {p});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ((*kept)[0].outputs[0].text, full.substr(0, at + stop.size()));
  EXPECT_EQ((*kept)[0].outputs[0].stop_string, stop);
  EXPECT_FALSE(llm->engine().HasUnfinishedRequests());
  EXPECT_DOUBLE_EQ(llm->engine().kv_cache_usage(), 0.0);
}

TEST(EngineFeaturesTest, StopTokenIdsAndEosEndWithTheirIdAsStopReason) {
  auto llm = MakeLLM(Config("tiny-llama"));
  ASSERT_NE(llm, nullptr);
  auto plain = llm->Generate(kPrompt, Greedy(12));
  ASSERT_TRUE(plain.ok());
  const std::vector<int32_t>& tokens = plain->outputs[0].token_ids;

  SamplingParams stop_id = Greedy(12);
  stop_id.stop_token_ids = {tokens[5]};
  auto stopped = llm->Generate(kPrompt, stop_id);
  ASSERT_TRUE(stopped.ok());
  const size_t first = std::find(tokens.begin(), tokens.end(), tokens[5]) - tokens.begin();
  EXPECT_EQ(stopped->outputs[0].token_ids, std::vector<int32_t>(tokens.begin(), tokens.begin() + first + 1));
  EXPECT_EQ(stopped->outputs[0].finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped->outputs[0].stop_token, tokens[5]);
  EXPECT_TRUE(stopped->outputs[0].stop_string.empty());

  // A large bias makes EOS the greedy choice at once; without ignore_eos it ends the sequence.
  SamplingParams eos = Greedy(12);
  eos.ignore_eos = false;
  eos.logit_bias = {{kEos, 100.0f}};
  auto ended = llm->Generate(kPrompt, eos);
  ASSERT_TRUE(ended.ok());
  EXPECT_THAT(ended->outputs[0].token_ids, ElementsAre(kEos));
  EXPECT_EQ(ended->outputs[0].finish_reason, FinishReason::kStop);
  EXPECT_EQ(ended->outputs[0].stop_token, kEos);

  eos.ignore_eos = true;
  auto ignored = llm->Generate(kPrompt, eos);
  ASSERT_TRUE(ignored.ok());
  EXPECT_EQ(ignored->outputs[0].token_ids, std::vector<int32_t>(12, kEos));
  EXPECT_EQ(ignored->outputs[0].finish_reason, FinishReason::kLength);
  EXPECT_FALSE(ignored->outputs[0].stop_token.has_value());
}

TEST(EngineFeaturesTest, MinTokensHoldsBackEosAndStopIds) {
  auto llm = MakeLLM(Config("tiny-qwen2"));
  ASSERT_NE(llm, nullptr);
  SamplingParams p = Greedy(20);
  p.ignore_eos = false;
  p.logit_bias = {{kEos, 100.0f}, {77, 90.0f}};
  p.stop_token_ids = {77};
  p.min_tokens = 6;
  auto out = llm->Generate(kPrompt, p);
  ASSERT_TRUE(out.ok()) << out.status();
  const auto& ids = out->outputs[0].token_ids;
  ASSERT_EQ(ids.size(), 7u) << "six tokens that are neither EOS nor a stop id, then EOS";
  for (int i = 0; i < 6; ++i) {
    EXPECT_NE(ids[i], kEos);
    EXPECT_NE(ids[i], 77);
  }
  EXPECT_EQ(ids[6], kEos);
  EXPECT_EQ(out->outputs[0].stop_token, kEos);
}

TEST(EngineFeaturesTest, LengthFinishWhenMaxTokensReached) {
  auto llm = MakeLLM(Config("tiny-qwen2"));
  ASSERT_NE(llm, nullptr);
  auto out = llm->Generate(kPrompt, Greedy(3));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->outputs[0].token_ids.size(), 3u);
  EXPECT_EQ(out->outputs[0].finish_reason, FinishReason::kLength);
  EXPECT_EQ(FinishReasonName(FinishReason::kLength), "length");
  EXPECT_EQ(FinishReasonName(FinishReason::kStop), "stop");
  EXPECT_EQ(FinishReasonName(FinishReason::kAbort), "abort");
}

// ---- logprobs ---------------------------------------------------------------------------------------------------

TEST(EngineFeaturesTest, LogprobsHaveTheRequestedCountAndAddUpToTheCumulative) {
  auto llm = MakeLLM(Config("tiny-qwen3"));
  ASSERT_NE(llm, nullptr);
  for (bool greedy : {true, false}) {
    SCOPED_TRACE(greedy ? "greedy" : "sampled");
    SamplingParams p = greedy ? Greedy(10) : Random(10, 5);
    p.logprobs = 3;
    auto out = llm->Generate(kPrompt, p);
    ASSERT_TRUE(out.ok()) << out.status();
    const CompletionOutput& c = out->outputs[0];
    ASSERT_EQ(c.logprobs.size(), c.token_ids.size());
    ASSERT_TRUE(c.cumulative_logprob.has_value());
    double sum = 0.0;
    for (size_t i = 0; i < c.logprobs.size(); ++i) {
      const TokenLogprobs& lp = c.logprobs[i];
      EXPECT_EQ(lp.token_id, c.token_ids[i]);
      EXPECT_LE(lp.logprob, 0.0f);
      EXPECT_GE(lp.rank, 1);
      ASSERT_EQ(lp.top.size(), 3u);
      for (size_t k = 1; k < lp.top.size(); ++k) EXPECT_GE(lp.top[k - 1].logprob, lp.top[k].logprob);
      if (greedy) {
        EXPECT_EQ(lp.rank, 1);
        EXPECT_EQ(lp.top[0].token_id, lp.token_id);
        EXPECT_FLOAT_EQ(lp.top[0].logprob, lp.logprob);
      }
      sum += lp.logprob;
    }
    EXPECT_NEAR(*c.cumulative_logprob, sum, 1e-4);
  }
  // Without logprobs nothing is reported.
  auto none = llm->Generate(kPrompt, Greedy(4));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->outputs[0].logprobs.empty());
  EXPECT_FALSE(none->outputs[0].cumulative_logprob.has_value());
  EXPECT_FALSE(none->prompt_logprobs.has_value());
}

TEST(EngineFeaturesTest, PromptLogprobsCoverEveryPromptTokenAndIgnoreChunking) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) prompt.push_back((i * 131 + 7) % 1000 + 3);
  SamplingParams p = Greedy(2);
  p.prompt_logprobs = 2;
  std::vector<std::vector<std::optional<TokenLogprobs>>> by_chunking;
  for (int chunk : {8192, 7}) {
    EngineConfig config = Config("tiny-llama31");
    config.max_num_batched_tokens = chunk;
    auto llm = MakeLLM(config);
    ASSERT_NE(llm, nullptr);
    // Run twice: the second run must not take the prompt from the prefix cache and lose its logprobs.
    for (int run = 0; run < 2; ++run) {
      auto out = llm->Generate(prompt, p);
      ASSERT_TRUE(out.ok()) << out.status();
      ASSERT_TRUE(out->prompt_logprobs.has_value());
      const auto& lps = *out->prompt_logprobs;
      ASSERT_EQ(lps.size(), prompt.size());
      EXPECT_FALSE(lps[0].has_value()) << "nothing predicts the first prompt token";
      for (size_t i = 1; i < lps.size(); ++i) {
        ASSERT_TRUE(lps[i].has_value()) << "position " << i;
        EXPECT_EQ(lps[i]->token_id, prompt[i]);
        EXPECT_LE(lps[i]->logprob, 0.0f);
        EXPECT_EQ(lps[i]->top.size(), 2u);
        EXPECT_LE(lps[i]->logprob, lps[i]->top[0].logprob);
      }
      by_chunking.push_back(lps);
    }
  }
  for (size_t run = 1; run < by_chunking.size(); ++run) {
    for (size_t i = 1; i < prompt.size(); ++i)
      EXPECT_NEAR(by_chunking[run][i]->logprob, by_chunking[0][i]->logprob, 1e-4) << "run " << run << " pos " << i;
  }
}

// ---- abort ------------------------------------------------------------------------------------------------------

TEST(EngineFeaturesTest, AbortMidGenerationFreesEveryBlockAndTheEngineKeepsServing) {
  EngineConfig config = Config("tiny-llama");
  config.max_num_batched_tokens = 16;  // the long prompt is still in chunked prefill when the abort comes
  auto created = LLMEngine::Create(config);
  ASSERT_TRUE(created.ok()) << created.status();
  LLMEngine& engine = **created;
  std::vector<int32_t> long_prompt(100);
  std::iota(long_prompt.begin(), long_prompt.end(), 10);
  SamplingParams three = Random(50, 3);
  three.n = 3;
  ASSERT_TRUE(engine.AddRequest("decoding", kPrompt, Greedy(50)).ok());
  ASSERT_TRUE(engine.AddRequest("three", kPrompt, three).ok());
  ASSERT_TRUE(engine.AddRequest("prefilling", long_prompt, Greedy(50)).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(engine.Step().ok());
  EXPECT_GT(engine.kv_cache_usage(), 0.0);

  for (const std::string id : {"decoding", "three", "prefilling"}) {
    std::optional<RequestOutput> out = engine.AbortRequest(id);
    ASSERT_TRUE(out.has_value()) << id;
    EXPECT_TRUE(out->finished);
    for (const CompletionOutput& c : out->outputs) EXPECT_EQ(c.finish_reason, FinishReason::kAbort) << id;
  }
  EXPECT_FALSE(engine.AbortRequest("decoding").has_value()) << "already gone";
  EXPECT_FALSE(engine.HasUnfinishedRequests());
  EXPECT_EQ(engine.num_running(), 0);
  EXPECT_EQ(engine.num_waiting(), 0);
  EXPECT_DOUBLE_EQ(engine.kv_cache_usage(), 0.0);
  auto after_abort = engine.Step();
  ASSERT_TRUE(after_abort.ok());
  EXPECT_TRUE(after_abort->empty()) << "aborted requests never report again";

  // The engine serves the same prompt again, with the tokens a fresh engine gives.
  auto fresh = MakeLLM(config);
  ASSERT_NE(fresh, nullptr);
  auto expected = fresh->Generate(long_prompt, Greedy(6));
  ASSERT_TRUE(expected.ok());
  ASSERT_TRUE(engine.AddRequest("again", long_prompt, Greedy(6)).ok());
  std::vector<int32_t> tokens;
  while (engine.HasUnfinishedRequests()) {
    auto step = engine.Step();
    ASSERT_TRUE(step.ok());
    for (const RequestOutput& o : *step)
      if (o.finished) tokens = o.outputs[0].token_ids;
  }
  EXPECT_EQ(tokens, expected->outputs[0].token_ids);
  EXPECT_DOUBLE_EQ(engine.kv_cache_usage(), 0.0);
}

// ---- validation -------------------------------------------------------------------------------------------------

TEST(EngineFeaturesTest, InvalidParamsAreRejectedBeforeAdmissionNamingTheField) {
  EngineConfig config = Config("tiny-llama");
  config.max_model_len = 64;
  auto created = LLMEngine::Create(config);
  ASSERT_TRUE(created.ok());
  LLMEngine& engine = **created;
  struct Case {
    std::string field;
    SamplingParams params;
    int prompt_len = 4;
  };
  std::vector<Case> cases;
  auto add = [&](std::string field, auto mutate, int prompt_len = 4) {
    SamplingParams p = Random(8, 1);
    mutate(p);
    cases.push_back({std::move(field), p, prompt_len});
  };
  add("top_p", [](SamplingParams& p) { p.top_p = 0.0f; });
  add("top_p", [](SamplingParams& p) { p.top_p = 1.5f; });
  add("temperature", [](SamplingParams& p) { p.temperature = -1.0f; });
  add("n", [](SamplingParams& p) { p.n = 0; });
  add("min_tokens", [](SamplingParams& p) { p.min_tokens = 9; });
  add("logit_bias", [](SamplingParams& p) { p.logit_bias = {{5000, 1.0f}}; });
  add("max_tokens", [](SamplingParams& p) { p.max_tokens = 61; }, 4);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.field);
    absl::Status status = engine.AddRequest("bad", std::vector<int32_t>(c.prompt_len, 5), c.params);
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(c.field));
    EXPECT_FALSE(engine.HasUnfinishedRequests()) << "nothing was admitted";
  }
  // The id is free again and an exact fit is accepted: 4 + 60 = max_model_len.
  ASSERT_TRUE(engine.AddRequest("bad", std::vector<int32_t>(4, 5), Greedy(60)).ok());
  while (engine.HasUnfinishedRequests()) ASSERT_TRUE(engine.Step().ok());

  // Through LLM, the message also names the prompt.
  auto llm = MakeLLM(config);
  ASSERT_NE(llm, nullptr);
  SamplingParams bad = Greedy(4);
  bad.top_p = 0.0f;
  auto out = llm->Generate({{1, 2}, {3, 4}}, {Greedy(4), bad});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("prompt 1"));
  EXPECT_THAT(out.status().message(), HasSubstr("top_p"));
  EXPECT_FALSE(llm->engine().HasUnfinishedRequests()) << "the valid first prompt was withdrawn too";
  EXPECT_DOUBLE_EQ(llm->engine().kv_cache_usage(), 0.0);
}

// ---- reported facts ---------------------------------------------------------------------------------------------

TEST(EngineFeaturesTest, NumCachedTokensAndMetricsAreReported) {
  auto llm = MakeLLM(Config("tiny-qwen3"));
  ASSERT_NE(llm, nullptr);
  std::vector<int32_t> prompt(50);
  std::iota(prompt.begin(), prompt.end(), 100);
  const auto before = std::chrono::steady_clock::now();
  auto first = llm->Generate(prompt, Greedy(5));
  auto second = llm->Generate(prompt, Greedy(5));
  const auto after = std::chrono::steady_clock::now();
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(first->num_cached_tokens, 0);
  EXPECT_EQ(second->num_cached_tokens, 48) << "three full 16-token blocks";
  EXPECT_EQ(second->outputs[0].token_ids, first->outputs[0].token_ids);
  for (const RequestOutput* out : {&*first, &*second}) {
    const RequestMetrics& m = out->metrics;
    ASSERT_TRUE(m.first_scheduled_time && m.first_token_time && m.last_token_time && m.finished_time);
    EXPECT_LE(before, m.arrival_time);
    EXPECT_LE(m.arrival_time, *m.first_scheduled_time);
    EXPECT_LE(*m.first_scheduled_time, *m.first_token_time);
    EXPECT_LE(*m.first_token_time, *m.last_token_time);
    EXPECT_LE(*m.last_token_time, *m.finished_time);
    EXPECT_LE(*m.finished_time, after);
  }
  EXPECT_LE(first->metrics.finished_time, second->metrics.arrival_time);
}

// ---- chat and reasoning -----------------------------------------------------------------------------------------

TEST(EngineFeaturesTest, ChatPromptsAreRenderedWithTheModelsTemplate) {
  auto llm = MakeLLM(Config("tiny-qwen3"));
  ASSERT_NE(llm, nullptr);
  ASSERT_NE(llm->tokenizer(), nullptr);
  const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(
      R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}])");
  auto ids = llm->PromptTokenIds(Prompt::Chat(messages), {});
  ASSERT_TRUE(ids.ok()) << ids.status();
  auto expected = llm->tokenizer()->Encode(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n",
      /*add_special_tokens=*/false);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(*ids, *expected);
  EXPECT_EQ((*ids)[0], 1) << "<|im_start|> is one special token";

  ChatTemplateOptions no_thinking;
  no_thinking.kwargs = {{"enable_thinking", false}};
  auto closed = llm->PromptTokenIds(Prompt::Chat(messages), no_thinking);
  ASSERT_TRUE(closed.ok());
  auto closed_expected = llm->tokenizer()->Encode(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n"
      "<think>\n\n</think>\n\n",
      /*add_special_tokens=*/false);
  ASSERT_TRUE(closed_expected.ok());
  EXPECT_EQ(*closed, *closed_expected);

  auto out = llm->Generate({Prompt::Chat(messages)}, {Greedy(6)});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0].prompt_token_ids, *ids);
  EXPECT_EQ((*out)[0].outputs[0].token_ids.size(), 6u);
  auto same = llm->Generate(*ids, Greedy(6));
  ASSERT_TRUE(same.ok());
  EXPECT_EQ((*out)[0].outputs[0].token_ids, same->outputs[0].token_ids);
  EXPECT_EQ((*out)[0].outputs[0].text, same->outputs[0].text);

  auto not_a_list = llm->Generate({Prompt::Chat(nlohmann::ordered_json::object())}, {Greedy(2)});
  ASSERT_FALSE(not_a_list.ok());
  EXPECT_THAT(not_a_list.status().message(), HasSubstr("messages"));
}

TEST(EngineFeaturesTest, ReasoningSplitSeparatesThinkingFromTheAnswer) {
  const std::string generated = "<think>\nLet me add 2 and 2.\n</think>\n\nThe answer is 4.";
  ReasoningSplit qwen3 = SplitReasoning("qwen3", generated);
  EXPECT_EQ(qwen3.reasoning_content, "\nLet me add 2 and 2.\n");
  EXPECT_EQ(qwen3.content, "\n\nThe answer is 4.");
  // DeepSeek-R1's template opens <think> in the prompt, so the output starts inside it.
  ReasoningSplit r1 = SplitReasoning("deepseek_r1", "Thinking...</think>Done.");
  EXPECT_EQ(r1.reasoning_content, "Thinking...");
  EXPECT_EQ(r1.content, "Done.");
  // Still thinking when generation stopped: deepseek_r1 calls it reasoning, qwen3 plain content.
  EXPECT_EQ(SplitReasoning("deepseek_r1", "still thinking").reasoning_content, "still thinking");
  EXPECT_FALSE(SplitReasoning("deepseek_r1", "still thinking").content.has_value());
  EXPECT_EQ(SplitReasoning("qwen3", "no tags here").content, "no tags here");
  EXPECT_FALSE(SplitReasoning("qwen3", "no tags here").reasoning_content.has_value());
  // Nothing after </think>: no content.
  EXPECT_FALSE(SplitReasoning("qwen3", "<think>x</think>").content.has_value());
  EXPECT_TRUE(ValidateReasoningParser("qwen3").ok());
  absl::Status unknown = ValidateReasoningParser("gpt");
  EXPECT_THAT(unknown.message(), HasSubstr("gpt"));
  EXPECT_THAT(unknown.message(), HasSubstr("deepseek_r1"));
}

// ---- generation_config defaults --------------------------------------------------------------------------------

TEST(EngineFeaturesTest, DefaultSamplingParamsComeFromGenerationConfig) {
  // The fixtures' generation_config.json sets only token ids and do_sample: vLLM's defaults apply.
  auto plain = MakeLLM(Config("tiny-llama"));
  ASSERT_NE(plain, nullptr);
  SamplingParams defaults = plain->DefaultSamplingParams();
  EXPECT_FLOAT_EQ(defaults.temperature, 1.0f);
  EXPECT_FLOAT_EQ(defaults.top_p, 1.0f);
  EXPECT_EQ(defaults.top_k, 0);
  EXPECT_FLOAT_EQ(defaults.min_p, 0.0f);
  EXPECT_FLOAT_EQ(defaults.repetition_penalty, 1.0f);
  EXPECT_FALSE(defaults.has_max_tokens());

  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    absl::StrCat("tessera-engine-features-", ::getpid());
  std::filesystem::create_directories(dir);
  for (const char* file : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    std::filesystem::copy(std::filesystem::path(ModelDir("tiny-llama")) / file, dir / file);
  std::ofstream(dir / "generation_config.json")
      << R"({"bos_token_id": 0, "eos_token_id": [2, 7], "do_sample": true, "temperature": 0.6, "top_p": 0.95,
            "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "max_new_tokens": 33})";
  EngineConfig config = Config("tiny-llama");
  config.model = dir.string();
  auto llm = MakeLLM(config);
  ASSERT_NE(llm, nullptr);
  defaults = llm->DefaultSamplingParams();
  EXPECT_FLOAT_EQ(defaults.temperature, 0.6f);
  EXPECT_FLOAT_EQ(defaults.top_p, 0.95f);
  EXPECT_EQ(defaults.top_k, 20);
  EXPECT_FLOAT_EQ(defaults.min_p, 0.05f);
  EXPECT_FLOAT_EQ(defaults.repetition_penalty, 1.1f);
  EXPECT_EQ(defaults.max_tokens, 33);
  EXPECT_TRUE(defaults.Validate().ok());

  // A list of EOS ids in generation_config.json: each one stops generation.
  SamplingParams stop_on_seven = Greedy(10);
  stop_on_seven.ignore_eos = false;
  stop_on_seven.logit_bias = {{7, 100.0f}};
  auto out = llm->Generate(kPrompt, stop_on_seven);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->outputs[0].token_ids, ElementsAre(7));
  EXPECT_EQ(out->outputs[0].stop_token, 7);
  llm.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tessera::engine
