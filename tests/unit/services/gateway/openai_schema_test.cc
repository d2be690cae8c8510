#include "services/gateway/openai_schema.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/gateway/errors.h"

namespace tessera::gateway {
namespace {

TEST(ChatSchema, MapsEveryFieldOntoTheProto) {
  absl::StatusOr<OpenAIRequest> parsed = ParseChatCompletionRequest(R"({
    "model": "qwen3", "messages": [
      {"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "name": "bob"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "x"}]}],
    "n": 2, "temperature": 0.5, "top_p": 0.9, "max_tokens": 7, "max_completion_tokens": 9, "stop": "END",
    "seed": 42, "presence_penalty": 0.1, "frequency_penalty": -0.2, "logit_bias": {"5": 200, "7": -1},
    "logprobs": true, "top_logprobs": 3, "user": "u1", "stream": true, "stream_options": {"include_usage": true},
    "top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1, "min_tokens": 2, "ignore_eos": true,
    "stop_token_ids": [1, 2], "skip_special_tokens": false, "include_stop_str_in_output": true,
    "chat_template_kwargs": {"enable_thinking": false, "a": 1}, "priority": -3, "some_unknown_field": {"x": 1}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const v1::GenerateRequest& request = parsed->generate;
  EXPECT_EQ(request.model(), "qwen3");
  ASSERT_TRUE(request.has_chat());
  ASSERT_EQ(request.chat().messages_size(), 3);
  EXPECT_EQ(request.chat().messages(0).role(), "system");
  EXPECT_EQ(request.chat().messages(1).content(), "a\nb");
  EXPECT_EQ(request.chat().messages(1).extra_json(), R"({"name":"bob"})");
  EXPECT_EQ(request.chat().messages(2).content(), "");
  EXPECT_EQ(request.chat().messages(2).extra_json(), R"({"tool_calls":[{"id":"x"}]})");
  EXPECT_TRUE(request.chat().add_generation_prompt());
  EXPECT_EQ(request.chat().chat_template_kwargs_json(), R"({"enable_thinking":false,"a":1})");
  const v1::SamplingParameters& sampling = request.sampling();
  EXPECT_EQ(sampling.n(), 2);
  EXPECT_FLOAT_EQ(sampling.temperature(), 0.5f);
  EXPECT_FLOAT_EQ(sampling.top_p(), 0.9f);
  EXPECT_EQ(sampling.max_tokens(), 9);  // max_completion_tokens wins
  EXPECT_THAT(sampling.stop(), ::testing::ElementsAre("END"));
  EXPECT_EQ(sampling.seed(), 42u);
  EXPECT_FLOAT_EQ(sampling.presence_penalty(), 0.1f);
  EXPECT_FLOAT_EQ(sampling.frequency_penalty(), -0.2f);
  EXPECT_FLOAT_EQ(sampling.logit_bias().at(5), 100.0f);  // clamped
  EXPECT_FLOAT_EQ(sampling.logit_bias().at(7), -1.0f);
  EXPECT_EQ(sampling.logprobs(), 3);
  EXPECT_EQ(sampling.top_k(), 20);
  EXPECT_FLOAT_EQ(sampling.min_p(), 0.05f);
  EXPECT_FLOAT_EQ(sampling.repetition_penalty(), 1.1f);
  EXPECT_EQ(sampling.min_tokens(), 2);
  EXPECT_TRUE(sampling.ignore_eos());
  EXPECT_THAT(sampling.stop_token_ids(), ::testing::ElementsAre(1, 2));
  EXPECT_FALSE(sampling.skip_special_tokens());
  EXPECT_TRUE(sampling.include_stop_str_in_output());
  EXPECT_EQ(request.priority(), -3);
  EXPECT_TRUE(parsed->stream);
  EXPECT_TRUE(parsed->include_usage);
  EXPECT_TRUE(parsed->return_logprobs);
  EXPECT_EQ(parsed->top_logprobs, 3);
  EXPECT_EQ(parsed->user, "u1");
}

TEST(ChatSchema, LeavesUnsetFieldsUnset) {
  absl::StatusOr<OpenAIRequest> parsed =
      ParseChatCompletionRequest(R"({"messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b"]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const v1::SamplingParameters& sampling = parsed->generate.sampling();
  EXPECT_FALSE(sampling.has_temperature());
  EXPECT_FALSE(sampling.has_max_tokens());
  EXPECT_FALSE(sampling.has_logprobs());
  EXPECT_FALSE(sampling.has_n());
  EXPECT_THAT(sampling.stop(), ::testing::ElementsAre("a", "b"));
  EXPECT_FALSE(parsed->stream);
  EXPECT_FALSE(parsed->return_logprobs);
}

TEST(ChatSchema, MaxTokensAloneAndContinueFinalMessage) {
  absl::StatusOr<OpenAIRequest> parsed = ParseChatCompletionRequest(
      R"({"messages": [{"role": "assistant", "content": "The"}], "max_tokens": 5.0, "continue_final_message": true})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->generate.sampling().max_tokens(), 5);
  EXPECT_TRUE(parsed->generate.chat().continue_final_message());
  EXPECT_FALSE(parsed->generate.chat().add_generation_prompt());
}

TEST(CompletionSchema, StringPromptWithEchoAndLogprobs) {
  absl::StatusOr<OpenAIRequest> parsed =
      ParseCompletionRequest(R"({"model": "m", "prompt": "Once", "echo": true, "logprobs": 2, "best_of": 3, "n": 2})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->endpoint, Endpoint::kCompletions);
  EXPECT_EQ(parsed->generate.text(), "Once");
  EXPECT_TRUE(parsed->generate.echo_prompt_text());
  EXPECT_TRUE(parsed->echo);
  EXPECT_EQ(parsed->generate.sampling().logprobs(), 2);
  EXPECT_EQ(parsed->generate.sampling().max_tokens(), kDefaultCompletionMaxTokens);
  EXPECT_EQ(parsed->generate.sampling().best_of(), 3);
}

TEST(CompletionSchema, TokenPromptsAndOneElementBatches) {
  absl::StatusOr<OpenAIRequest> ids = ParseCompletionRequest(R"({"prompt": [1, 2, 3], "max_tokens": 4})");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(ids->generate.token_ids().ids(), ::testing::ElementsAre(1, 2, 3));
  EXPECT_EQ(ids->generate.sampling().max_tokens(), 4);
  absl::StatusOr<OpenAIRequest> nested = ParseCompletionRequest(R"({"prompt": [[7, 8]]})");
  ASSERT_TRUE(nested.ok()) << nested.status();
  EXPECT_THAT(nested->generate.token_ids().ids(), ::testing::ElementsAre(7, 8));
  absl::StatusOr<OpenAIRequest> batch = ParseCompletionRequest(R"({"prompt": ["only"]})");
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->generate.text(), "only");
}

struct InvalidCase {
  bool chat;
  std::string body;
  std::string param;
};

class InvalidRequest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidRequest, Is400NamingTheParam) {
  const InvalidCase& c = GetParam();
  absl::StatusOr<OpenAIRequest> parsed = c.chat ? ParseChatCompletionRequest(c.body) : ParseCompletionRequest(c.body);
  ASSERT_FALSE(parsed.ok()) << c.body;
  const ApiError error = ApiErrorFromStatus(parsed.status());
  EXPECT_EQ(error.http_status, 400) << c.body;
  EXPECT_EQ(error.param.value_or("<none>"), c.param) << c.body << " -> " << error.message;
  EXPECT_FALSE(error.message.empty());
}

constexpr char kMsgs[] = R"("messages": [{"role": "user", "content": "hi"}])";
std::string Chat(const std::string& fields) { return std::string("{") + kMsgs + ", " + fields + "}"; }

INSTANTIATE_TEST_SUITE_P(
    Cases, InvalidRequest,
    ::testing::Values(
        InvalidCase{true, "not json", "body"}, InvalidCase{true, "[1]", "body"},
        InvalidCase{true, R"({"model": "m"})", "messages"}, InvalidCase{true, R"({"messages": "hi"})", "messages"},
        InvalidCase{true, R"({"messages": []})", "messages"},
        InvalidCase{true, R"({"messages": [{"content": "x"}]})", "messages[0].role"},
        InvalidCase{true, R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role"},
        InvalidCase{true, R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
        InvalidCase{true,
                    R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]})",
                    "messages[0].content[0].type"},
        InvalidCase{true, R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
                    "messages[0].content[0].text"},
        InvalidCase{true, Chat(R"("model": 3)"), "model"}, InvalidCase{true, Chat(R"("n": 0)"), "n"},
        InvalidCase{true, Chat(R"("n": "2")"), "n"}, InvalidCase{true, Chat(R"("n": 1.5)"), "n"},
        InvalidCase{true, Chat(R"("temperature": -1)"), "temperature"},
        InvalidCase{true, Chat(R"("temperature": "hot")"), "temperature"},
        InvalidCase{true, Chat(R"("top_p": 0)"), "top_p"}, InvalidCase{true, Chat(R"("top_p": 1.5)"), "top_p"},
        InvalidCase{true, Chat(R"("top_k": -2)"), "top_k"}, InvalidCase{true, Chat(R"("min_p": 2)"), "min_p"},
        InvalidCase{true, Chat(R"("max_tokens": 0)"), "max_tokens"},
        InvalidCase{true, Chat(R"("max_completion_tokens": -5)"), "max_completion_tokens"},
        InvalidCase{true, Chat(R"("stop": 5)"), "stop"}, InvalidCase{true, Chat(R"("stop": ["a", 1])"), "stop"},
        InvalidCase{true, Chat(R"("seed": "x")"), "seed"},
        InvalidCase{true, Chat(R"("presence_penalty": 3)"), "presence_penalty"},
        InvalidCase{true, Chat(R"("frequency_penalty": -2.5)"), "frequency_penalty"},
        InvalidCase{true, Chat(R"("repetition_penalty": 0)"), "repetition_penalty"},
        InvalidCase{true, Chat(R"("logit_bias": {"abc": 1})"), "logit_bias"},
        InvalidCase{true, Chat(R"("logit_bias": {"5": "x"})"), "logit_bias"},
        InvalidCase{true, Chat(R"("logit_bias": [1])"), "logit_bias"},
        InvalidCase{true, Chat(R"("logprobs": 1)"), "logprobs"},
        InvalidCase{true, Chat(R"("top_logprobs": 2)"), "top_logprobs"},
        InvalidCase{true, Chat(R"("logprobs": true, "top_logprobs": 21)"), "top_logprobs"},
        InvalidCase{true, Chat(R"("stream": "yes")"), "stream"},
        InvalidCase{true, Chat(R"("stream_options": {"include_usage": true})"), "stream_options"},
        InvalidCase{true, Chat(R"("stream": true, "stream_options": {"include_usage": 1})"),
                    "stream_options.include_usage"},
        InvalidCase{true, Chat(R"("user": 7)"), "user"},
        InvalidCase{true, Chat(R"("min_tokens": -1)"), "min_tokens"},
        InvalidCase{true, Chat(R"("min_tokens": 9, "max_tokens": 3)"), "min_tokens"},
        InvalidCase{true, Chat(R"("ignore_eos": "true")"), "ignore_eos"},
        InvalidCase{true, Chat(R"("stop_token_ids": [1, "2"])"), "stop_token_ids"},
        InvalidCase{true, Chat(R"("skip_special_tokens": 0)"), "skip_special_tokens"},
        InvalidCase{true, Chat(R"("chat_template_kwargs": "x")"), "chat_template_kwargs"},
        InvalidCase{true, Chat(R"("priority": 1e20)"), "priority"},
        InvalidCase{true, Chat(R"("continue_final_message": true, "add_generation_prompt": true)"),
                    "continue_final_message"},
        InvalidCase{false, R"({"model": "m"})", "prompt"}, InvalidCase{false, R"({"prompt": 5})", "prompt"},
        InvalidCase{false, R"({"prompt": []})", "prompt"}, InvalidCase{false, R"({"prompt": [1, -2]})", "prompt"},
        InvalidCase{false, R"({"prompt": ["a", "b"]})", "prompt"},
        InvalidCase{false, R"({"prompt": "x", "logprobs": true})", "logprobs"},
        InvalidCase{false, R"({"prompt": "x", "logprobs": 21})", "logprobs"},
        InvalidCase{false, R"({"prompt": "x", "echo": "no"})", "echo"},
        InvalidCase{false, R"({"prompt": "x", "n": 3, "best_of": 2})", "best_of"},
        InvalidCase{false, R"({"prompt": "x", "max_tokens": 0})", "max_tokens"},
        InvalidCase{false, R"({"prompt": "x", "suffix": "y"})", "suffix"}));

TEST(TokenizeSchema, TextPromptAddsSpecialTokensByDefault) {
  absl::StatusOr<v1::TokenizeRequest> parsed = ParseTokenizeRequest(R"({"model": "m", "prompt": "hello"})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->model(), "m");
  EXPECT_EQ(parsed->text(), "hello");
  EXPECT_TRUE(parsed->add_special_tokens());
  parsed = ParseTokenizeRequest(R"({"prompt": "hello", "add_special_tokens": false})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->add_special_tokens());
}

TEST(TokenizeSchema, MessagesAreRenderedWithTheChatOptions) {
  absl::StatusOr<v1::TokenizeRequest> parsed = ParseTokenizeRequest(
      R"({"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": false,
          "chat_template_kwargs": {"enable_thinking": false}})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_TRUE(parsed->has_chat());
  EXPECT_EQ(parsed->chat().messages(0).content(), "hi");
  EXPECT_FALSE(parsed->chat().add_generation_prompt());
  EXPECT_EQ(parsed->chat().chat_template_kwargs_json(), R"({"enable_thinking":false})");
  EXPECT_FALSE(parsed->add_special_tokens());
}

TEST(TokenizeSchema, InvalidBodiesNameTheParam) {
  for (const auto& [body, param] : std::vector<std::pair<std::string, std::string>>{
           {R"({"model": "m"})", "prompt"},
           {R"({"prompt": 3})", "prompt"},
           {R"({"prompt": "a", "messages": [{"role": "user", "content": "b"}]})", "prompt"},
           {R"({"messages": []})", "messages"},
           {R"({"prompt": "a", "add_special_tokens": "yes"})", "add_special_tokens"},
           {"[1]", "body"}}) {
    absl::StatusOr<v1::TokenizeRequest> parsed = ParseTokenizeRequest(body);
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << body;
    EXPECT_EQ(ParamOf(parsed.status()), param) << body;
  }
}

TEST(DetokenizeSchema, TokensAreRequiredNonNegativeIntegers) {
  absl::StatusOr<v1::DetokenizeRequest> parsed = ParseDetokenizeRequest(R"({"model": "m", "tokens": [1, 2.0, 3]})");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->model(), "m");
  EXPECT_THAT(parsed->token_ids(), ::testing::ElementsAre(1, 2, 3));
  for (const std::string body : {R"({"model": "m"})", R"({"tokens": "1 2"})", R"({"tokens": [1, -1]})",
                                 R"({"tokens": [1.5]})"}) {
    parsed = ParseDetokenizeRequest(body);
    ASSERT_FALSE(parsed.ok()) << body;
    EXPECT_EQ(ParamOf(parsed.status()), "tokens") << body;
  }
}

TEST(BadInputSchema, RawNulByteIsInvalidJsonEvenAfterTheObject) {
  const std::string chat = R"({"messages": [{"role": "user", "content": "hi"}]})";
  for (const std::string& body : {chat + std::string(1, '\0') + "trailing",
                                  std::string(R"({"messages": [{"role": "user", "content": "a)") + '\0' + "b\"}]}"}) {
    absl::StatusOr<OpenAIRequest> parsed = ParseChatCompletionRequest(body);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ParamOf(parsed.status()), "body");
  }
  // An escaped NUL is ordinary text.
  EXPECT_TRUE(ParseChatCompletionRequest(R"({"messages": [{"role": "user", "content": "a\u0000b"}]})").ok());
}

TEST(BadInputSchema, ChoicesAreBounded) {
  const std::string messages = R"("messages": [{"role": "user", "content": "hi"}])";
  EXPECT_TRUE(ParseChatCompletionRequest("{" + messages + R"(, "n": 128})").ok());
  absl::StatusOr<OpenAIRequest> parsed = ParseChatCompletionRequest("{" + messages + R"(, "n": 1000000})");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(ParamOf(parsed.status()), "n");
  parsed = ParseCompletionRequest(R"({"prompt": "hi", "best_of": 129})");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(ParamOf(parsed.status()), "best_of");
}

TEST(BadInputSchema, NumbersBeyondAFloatAreRejected) {
  const std::string messages = R"("messages": [{"role": "user", "content": "hi"}])";
  for (const std::string field : {"temperature", "presence_penalty", "top_p", "repetition_penalty"}) {
    absl::StatusOr<OpenAIRequest> parsed = ParseChatCompletionRequest("{" + messages + ", \"" + field + "\": 1e39}");
    ASSERT_FALSE(parsed.ok()) << field;
    EXPECT_EQ(ParamOf(parsed.status()), field);
  }
  EXPECT_TRUE(ParseChatCompletionRequest("{" + messages + R"(, "temperature": 1e30})").ok());
}

}  // namespace
}  // namespace tessera::gateway
