#include "services/gateway/openai_response.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::gateway {
namespace {

ResponseContext Context(Endpoint endpoint, int n = 1) {
  ResponseContext context;
  context.endpoint = endpoint;
  context.id = endpoint == Endpoint::kChatCompletions ? "chatcmpl-1" : "cmpl-1";
  context.created = 1700000000;
  context.model = "m";
  context.n = n;
  return context;
}

v1::GenerateResponse Delta(int index, const std::string& text, v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED) {
  v1::GenerateResponse response;
  v1::SequenceDelta* delta = response.add_deltas();
  delta->set_index(index);
  delta->set_text(text);
  delta->set_finish_reason(finish);
  return response;
}

v1::GenerateResponse Final(int prompt_tokens, int completion_tokens) {
  v1::GenerateResponse response;
  response.set_finished(true);
  response.mutable_usage()->set_prompt_tokens(prompt_tokens);
  response.mutable_usage()->set_completion_tokens(completion_tokens);
  return response;
}

TEST(NewResponseId, HasPrefixAndRandomPart) {
  const std::string a = NewResponseId(Endpoint::kChatCompletions);
  const std::string b = NewResponseId(Endpoint::kChatCompletions);
  EXPECT_THAT(a, ::testing::MatchesRegex("chatcmpl-[0-9a-f]{32}"));
  EXPECT_NE(a, b);
  EXPECT_THAT(NewResponseId(Endpoint::kCompletions), ::testing::StartsWith("cmpl-"));
}

TEST(CompletionAccumulator, ChatCompletionWithReasoningAndStopString) {
  CompletionAccumulator accumulator(Context(Endpoint::kChatCompletions));
  v1::GenerateResponse first = Delta(0, "");
  first.mutable_deltas(0)->set_reasoning_text("think");
  accumulator.Add(first);
  accumulator.Add(Delta(0, "Hel"));
  v1::GenerateResponse last = Delta(0, "lo", v1::FINISH_REASON_STOP);
  last.mutable_deltas(0)->set_stop_string("###");
  accumulator.Add(last);
  accumulator.Add(Final(5, 3));
  EXPECT_EQ(accumulator.ToJson(),
            R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m","choices":[)"
            R"({"index":0,"message":{"role":"assistant","content":"Hello","reasoning_content":"think"},)"
            R"("logprobs":null,"finish_reason":"stop","stop_reason":"###"}],)"
            R"("usage":{"prompt_tokens":5,"total_tokens":8,"completion_tokens":3,"prompt_tokens_details":null}})");
}

TEST(CompletionAccumulator, ChatLogprobs) {
  ResponseContext context = Context(Endpoint::kChatCompletions);
  context.return_logprobs = true;
  CompletionAccumulator accumulator(context);
  v1::GenerateResponse response = Delta(0, "Hi", v1::FINISH_REASON_LENGTH);
  v1::TokenLogprob* logprob = response.mutable_deltas(0)->add_logprobs();
  logprob->set_token("Hi");
  logprob->set_logprob(-0.5f);
  v1::TopLogprob* top = logprob->add_top_logprobs();
  top->set_token("Hi");
  top->set_logprob(-0.5f);
  accumulator.Add(response);
  accumulator.Add(Final(1, 1));
  EXPECT_THAT(accumulator.ToJson(),
              ::testing::HasSubstr(R"("logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],)"
                                   R"("top_logprobs":[{"token":"Hi","logprob":-0.5,"bytes":[72,105]}]}]},)"
                                   R"("finish_reason":"length","stop_reason":null)"));
}

TEST(CompletionAccumulator, TextCompletionWithEchoAndLogprobOffsets) {
  ResponseContext context = Context(Endpoint::kCompletions, 2);
  context.echo = true;
  context.return_logprobs = true;
  CompletionAccumulator accumulator(context);
  v1::GenerateResponse first = Delta(1, "b", v1::FINISH_REASON_LENGTH);
  first.set_prompt_text("P ");
  v1::TokenLogprob* logprob = first.mutable_deltas(0)->add_logprobs();
  logprob->set_token("b");
  logprob->set_logprob(-1.0f);
  v1::TopLogprob* top = logprob->add_top_logprobs();
  top->set_token("b");
  top->set_logprob(-1.0f);
  accumulator.Add(first);
  accumulator.Add(Delta(0, "a", v1::FINISH_REASON_STOP));
  accumulator.Add(Final(2, 2));
  EXPECT_EQ(accumulator.ToJson(),
            R"({"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"m","choices":[)"
            R"({"index":0,"text":"P a","logprobs":{"text_offset":[],"token_logprobs":[],"tokens":[],"top_logprobs":[]},)"
            R"("finish_reason":"stop","stop_reason":null},)"
            R"({"index":1,"text":"P b","logprobs":{"text_offset":[2],"token_logprobs":[-1.0],"tokens":["b"],)"
            R"("top_logprobs":[{"b":-1.0}]},"finish_reason":"length","stop_reason":null}],)"
            R"("usage":{"prompt_tokens":2,"total_tokens":4,"completion_tokens":2,"prompt_tokens_details":null}})");
}

TEST(StreamChunkBuilder, ChatStreamWithRoleChunkFinishAndUsage) {
  ResponseContext context = Context(Endpoint::kChatCompletions);
  context.include_usage = true;
  StreamChunkBuilder builder(context);
  std::vector<std::string> events = builder.OnResponse(Delta(0, "Hel"));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0],
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
            "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
            "\"finish_reason\":null}]}\n\n");
  EXPECT_EQ(events[1],
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
            "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"logprobs\":null,\"finish_reason\":null}]}"
            "\n\n");
  v1::GenerateResponse last = Delta(0, "lo", v1::FINISH_REASON_STOP);
  last.mutable_deltas(0)->set_stop_token_id(2);
  last.set_finished(true);
  last.mutable_usage()->set_prompt_tokens(4);
  last.mutable_usage()->set_completion_tokens(2);
  last.mutable_usage()->set_cached_prompt_tokens(1);
  events = builder.OnResponse(last);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0],
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
            "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"logprobs\":null,\"finish_reason\":\"stop\","
            "\"stop_reason\":2}]}\n\n");
  events = builder.Finish();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0],
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
            "\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"total_tokens\":6,\"completion_tokens\":2,"
            "\"prompt_tokens_details\":{\"cached_tokens\":1}}}\n\n");
  EXPECT_EQ(events[1], "data: [DONE]\n\n");
}

TEST(StreamChunkBuilder, EveryChoiceOpensWithItsRole) {
  StreamChunkBuilder builder(Context(Endpoint::kChatCompletions, 2));
  v1::GenerateResponse response = Delta(1, "x");
  response.mutable_deltas(0)->set_reasoning_text("r");
  std::vector<std::string> events = builder.OnResponse(response);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_THAT(events[0], ::testing::HasSubstr(R"("index":0,"delta":{"role":"assistant")"));
  EXPECT_THAT(events[1], ::testing::HasSubstr(R"("index":1,"delta":{"role":"assistant")"));
  EXPECT_THAT(events[2], ::testing::HasSubstr(R"("delta":{"reasoning_content":"r","content":"x"})"));
  EXPECT_THAT(builder.Finish(), ::testing::ElementsAre("data: [DONE]\n\n"));
}

TEST(StreamChunkBuilder, CompletionStreamEchoesPromptFirst) {
  ResponseContext context = Context(Endpoint::kCompletions);
  context.echo = true;
  StreamChunkBuilder builder(context);
  v1::GenerateResponse first = Delta(0, "a");
  first.set_prompt_text("P ");
  std::vector<std::string> events = builder.OnResponse(first);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0],
            "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1700000000,\"model\":\"m\","
            "\"choices\":[{\"index\":0,\"text\":\"P a\",\"logprobs\":null,\"finish_reason\":null,"
            "\"stop_reason\":null}]}\n\n");
  events = builder.OnResponse(Delta(0, "b", v1::FINISH_REASON_LENGTH));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0], ::testing::HasSubstr(R"("text":"b","logprobs":null,"finish_reason":"length")"));
}

TEST(StreamChunkBuilder, ErrorEventIsTheOpenAIErrorObject) {
  EXPECT_EQ(StreamChunkBuilder::ErrorEvent(ApiError{500, "boom", std::nullopt}),
            "data: {\"error\":{\"message\":\"boom\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}\n\n");
}

}  // namespace
}  // namespace tessera::gateway
