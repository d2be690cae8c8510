#include "services/worker/engine/sampling_params.h"

#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::engine {
namespace {

using ::testing::HasSubstr;

struct InvalidCase {
  std::string name;
  std::function<void(SamplingParams&)> mutate;
  std::string message_part;  // names the field at fault
};

SamplingParams Sampled() {
  SamplingParams p;
  p.temperature = 1.0f;
  return p;
}

TEST(SamplingParamsTest, DefaultsAreValid) {
  EXPECT_TRUE(SamplingParams{}.Validate().ok());
  EXPECT_TRUE(Sampled().Validate().ok());
  EXPECT_TRUE(DefaultSamplingParams(GenerationConfig{}).Validate().ok());
}

TEST(SamplingParamsTest, EachInvalidValueIsRejectedNamingItsField) {
  const std::vector<InvalidCase> cases = {
      {"n zero", [](SamplingParams& p) { p.n = 0; }, "n must be at least 1, got 0"},
      {"best_of zero", [](SamplingParams& p) { p.best_of = 0; }, "best_of must be at least 1"},
      {"best_of below n",
       [](SamplingParams& p) {
         p.n = 3;
         p.best_of = 2;
       },
       "best_of must be greater than or equal to n, got n=3 and best_of=2"},
      {"presence high", [](SamplingParams& p) { p.presence_penalty = 2.5f; }, "presence_penalty must be in [-2, 2]"},
      {"presence low", [](SamplingParams& p) { p.presence_penalty = -2.01f; }, "presence_penalty"},
      {"frequency low", [](SamplingParams& p) { p.frequency_penalty = -3.0f; }, "frequency_penalty must be in [-2, 2]"},
      {"frequency high", [](SamplingParams& p) { p.frequency_penalty = 2.1f; }, "frequency_penalty"},
      {"repetition zero", [](SamplingParams& p) { p.repetition_penalty = 0.0f; },
       "repetition_penalty must be greater than zero"},
      {"repetition negative", [](SamplingParams& p) { p.repetition_penalty = -1.0f; }, "repetition_penalty"},
      {"temperature negative", [](SamplingParams& p) { p.temperature = -0.5f; }, "temperature must be non-negative"},
      {"temperature nan", [](SamplingParams& p) { p.temperature = std::nanf(""); }, "temperature"},
      {"top_p zero", [](SamplingParams& p) { p.top_p = 0.0f; }, "top_p must be in (0, 1], got 0"},
      {"top_p above one", [](SamplingParams& p) { p.top_p = 1.01f; }, "top_p must be in (0, 1]"},
      {"top_k below -1", [](SamplingParams& p) { p.top_k = -2; }, "top_k must be 0 (disable), or at least 1, got -2"},
      {"min_p negative", [](SamplingParams& p) { p.min_p = -0.1f; }, "min_p must be in [0, 1]"},
      {"min_p above one", [](SamplingParams& p) { p.min_p = 1.5f; }, "min_p must be in [0, 1]"},
      {"max_tokens zero", [](SamplingParams& p) { p.max_tokens = 0; }, "max_tokens must be at least 1, got 0"},
      {"min_tokens negative", [](SamplingParams& p) { p.min_tokens = -1; },
       "min_tokens must be greater than or equal to 0"},
      {"min_tokens above max_tokens",
       [](SamplingParams& p) {
         p.max_tokens = 4;
         p.min_tokens = 5;
       },
       "min_tokens must be less than or equal to max_tokens=4, got 5"},
      {"logprobs negative", [](SamplingParams& p) { p.logprobs = -2; }, "logprobs must be non-negative or -1"},
      {"logprobs over max", [](SamplingParams& p) { p.logprobs = 21; },
       "logprobs: requested sample logprobs of 21, which is greater than max allowed: 20"},
      {"prompt_logprobs negative", [](SamplingParams& p) { p.prompt_logprobs = -5; },
       "prompt_logprobs must be non-negative or -1"},
      {"prompt_logprobs over max", [](SamplingParams& p) { p.prompt_logprobs = 50; }, "prompt_logprobs"},
      {"truncate zero", [](SamplingParams& p) { p.truncate_prompt_tokens = 0; },
       "truncate_prompt_tokens must be an integer >= 1 or -1"},
      {"truncate below -1", [](SamplingParams& p) { p.truncate_prompt_tokens = -2; }, "truncate_prompt_tokens"},
      {"negative stop id", [](SamplingParams& p) { p.stop_token_ids = {3, -1}; }, "stop_token_ids"},
      {"empty stop string", [](SamplingParams& p) { p.stop = {"ok", ""}; }, "stop cannot contain an empty string"},
      {"empty bad word", [](SamplingParams& p) { p.bad_words = {""}; }, "bad_words cannot contain an empty string"},
      {"empty bad word ids", [](SamplingParams& p) { p.bad_words_token_ids = {{}}; }, "bad_words_token_ids"},
      {"empty allowed ids", [](SamplingParams& p) { p.allowed_token_ids = std::vector<int32_t>{}; },
       "allowed_token_ids must not be empty"},
      {"nan logit bias", [](SamplingParams& p) { p.logit_bias[7] = std::nanf(""); }, "logit_bias for token id 7"},
  };
  for (const InvalidCase& c : cases) {
    SamplingParams p = Sampled();
    c.mutate(p);
    absl::Status status = p.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.message_part)) << c.name;
  }
}

TEST(SamplingParamsTest, GreedyAllowsOnlyOneSequence) {
  SamplingParams p;
  p.n = 2;
  EXPECT_THAT(std::string(p.Validate().message()), HasSubstr("n must be 1 when using greedy sampling, got 2"));
  p.temperature = 0.8f;
  EXPECT_TRUE(p.Validate().ok());
}

TEST(SamplingParamsTest, BoundaryValuesAreAccepted) {
  SamplingParams p = Sampled();
  p.top_p = 1.0f;
  p.top_k = -1;  // vLLM quietly accepts -1 as "off"
  p.min_p = 1.0f;
  p.presence_penalty = -2.0f;
  p.frequency_penalty = 2.0f;
  p.repetition_penalty = 0.01f;
  p.logprobs = 20;
  p.prompt_logprobs = 0;
  p.truncate_prompt_tokens = -1;
  p.n = 2;
  p.best_of = 2;
  p.max_tokens = 5;
  p.min_tokens = 5;
  EXPECT_TRUE(p.Validate().ok()) << p.Validate();
  p.logprobs = -1;  // the whole vocabulary: only the model check can judge it
  EXPECT_TRUE(p.Validate().ok());
  p.logprobs = 50;
  EXPECT_TRUE(p.Validate(/*max_logprobs=*/64).ok());
  EXPECT_TRUE(p.Validate(/*max_logprobs=*/-1).ok());
}

TEST(SamplingParamsTest, UnboundedMaxTokensAcceptsAnyMinTokens) {
  SamplingParams p = Sampled();
  p.max_tokens = kMaxTokensUnbounded;
  p.min_tokens = 100000;
  EXPECT_TRUE(p.Validate().ok());
  EXPECT_FALSE(p.has_max_tokens());
}

TEST(SamplingParamsTest, ModelCheckNamesFieldAndOutOfVocabularyId) {
  constexpr int kVocab = 100;
  struct Case {
    std::function<void(SamplingParams&)> mutate;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {[](SamplingParams& p) { p.logit_bias[100] = 1.0f; }, {"logit_bias", "token id 100", "[0, 100)"}},
      {[](SamplingParams& p) { p.logit_bias[-3] = 1.0f; }, {"logit_bias", "token id -3"}},
      {[](SamplingParams& p) { p.allowed_token_ids = std::vector<int32_t>{1, 2, 250}; },
       {"allowed_token_ids", "token id 250"}},
      {[](SamplingParams& p) { p.stop_token_ids = {5, 100}; }, {"stop_token_ids", "token id 100"}},
      {[](SamplingParams& p) { p.bad_words_token_ids = {{1, 2}, {3, 999}}; }, {"bad_words_token_ids", "token id 999"}},
      {[](SamplingParams& p) { p.top_k = 101; }, {"top_k", "101"}},
      {[](SamplingParams& p) { p.logprobs = -1; }, {"logprobs", "100", "max allowed: 20"}},
      {[](SamplingParams& p) { p.prompt_logprobs = -1; }, {"prompt_logprobs", "max allowed: 20"}},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SamplingParams p = Sampled();
    cases[i].mutate(p);
    absl::Status status = ValidateAgainstModel(p, kVocab);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << "case " << i;
    for (const std::string& part : cases[i].parts)
      EXPECT_THAT(std::string(status.message()), HasSubstr(part)) << "case " << i;
  }
  SamplingParams ok = Sampled();
  ok.logit_bias[99] = 5.0f;
  ok.logit_bias[0] = -5.0f;
  ok.allowed_token_ids = std::vector<int32_t>{0, 99};
  ok.stop_token_ids = {99};
  ok.top_k = 100;
  ok.logprobs = -1;
  EXPECT_TRUE(ValidateAgainstModel(ok, kVocab, /*max_logprobs=*/-1).ok());
  EXPECT_FALSE(ValidateAgainstModel(ok, kVocab).ok());  // -1 is 100 logprobs, above the default cap of 20
}

TEST(SamplingParamsTest, LengthCheckNamesMaxTokens) {
  SamplingParams p;
  p.max_tokens = 10;
  EXPECT_TRUE(ValidateLength(p, 6, 16).ok());
  absl::Status status = ValidateLength(p, 7, 16);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("max_tokens"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("requested 17 tokens (7 in the prompt, 10 in the completion)"));
  EXPECT_FALSE(ValidateLength(p, 16, 16).ok());

  p.max_tokens = kMaxTokensUnbounded;
  EXPECT_TRUE(ValidateLength(p, 15, 16).ok());
  EXPECT_FALSE(ValidateLength(p, 16, 16).ok());
  EXPECT_EQ(ResolveMaxTokens(p, 10, 16), 6);
  p.max_tokens = 3;
  EXPECT_EQ(ResolveMaxTokens(p, 10, 16), 3);
  EXPECT_EQ(ResolveMaxTokens(p, 20, 16), 0);
}

TEST(SamplingParamsTest, DefaultsFollowVllmWithoutGenerationConfig) {
  SamplingParams p = DefaultSamplingParams(GenerationConfig{});
  EXPECT_FLOAT_EQ(p.temperature, 1.0f);
  EXPECT_FLOAT_EQ(p.top_p, 1.0f);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_FLOAT_EQ(p.min_p, 0.0f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.0f);
  EXPECT_FALSE(p.has_max_tokens());
  EXPECT_EQ(p.n, 1);
}

TEST(SamplingParamsTest, GenerationConfigSuppliesDefaultsThatRequestsOverride) {
  absl::StatusOr<GenerationConfig> config = GenerationConfig::FromJson(
      nlohmann::json::parse(R"({"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.05,
                                "repetition_penalty": 1.1, "max_new_tokens": 512, "do_sample": true,
                                "eos_token_id": [1, 2]})"),
      "generation_config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  SamplingParams p = DefaultSamplingParams(*config);
  EXPECT_FLOAT_EQ(p.temperature, 0.6f);
  EXPECT_FLOAT_EQ(p.top_p, 0.95f);
  EXPECT_EQ(p.top_k, 20);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_EQ(p.max_tokens, 512);
  EXPECT_TRUE(p.Validate().ok());

  // A request that sets a field explicitly wins over the model's default.
  p.temperature = 0.0f;
  p.top_k = -1;
  EXPECT_FLOAT_EQ(p.temperature, 0.0f);
  EXPECT_TRUE(p.is_greedy());
  EXPECT_FLOAT_EQ(p.top_p, 0.95f);
}

}  // namespace
}  // namespace tessera::engine
