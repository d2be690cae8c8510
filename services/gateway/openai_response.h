// OpenAI response bodies built from the backend's GenerateResponse stream: whole chat.completion / text_completion
// objects for non-streaming requests, and Server-Sent Events (chat.completion.chunk / text_completion chunks, an
// optional usage chunk, then `data: [DONE]`) for streaming ones, and the /tokenize and /detokenize answers. Shapes
// follow vLLM's OpenAI server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "services/gateway/errors.h"
#include "services/gateway/openai_schema.h"
#include "tessera/v1/generation.pb.h"

namespace tessera::gateway {

// What the response writer needs to know about the request it answers.
struct ResponseContext {
  Endpoint endpoint = Endpoint::kChatCompletions;
  std::string id;        // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;   // Unix seconds
  std::string model;
  int n = 1;
  bool return_logprobs = false;
  bool echo = false;
  bool include_usage = false;

  static ResponseContext ForRequest(const OpenAIRequest& request, std::string id, int64_t created);
};

// "chatcmpl-" or "cmpl-" followed by 32 random hex digits.
std::string NewResponseId(Endpoint endpoint);

// "stop", "length", "abort", or null while unfinished.
nlohmann::ordered_json FinishReasonJson(tessera::v1::FinishReason reason);

// Collects the whole stream and writes one chat.completion or text_completion object.
class CompletionAccumulator {
 public:
  explicit CompletionAccumulator(ResponseContext context);

  void Add(const tessera::v1::GenerateResponse& response);
  std::string ToJson() const;

 private:
  struct Choice {
    std::string text;
    std::string reasoning;
    std::vector<tessera::v1::TokenLogprob> logprobs;
    tessera::v1::FinishReason finish_reason = tessera::v1::FINISH_REASON_UNSPECIFIED;
    nlohmann::ordered_json stop_reason;  // null, the stop string, or the stop token id
  };
  Choice& ChoiceAt(int index);

  ResponseContext context_;
  std::vector<Choice> choices_;
  std::string prompt_text_;
  tessera::v1::Usage usage_;
};

// Turns each GenerateResponse into SSE events, keeping what later chunks depend on (which choices have announced
// their role, text offsets for completions logprobs, the prompt text to echo).
class StreamChunkBuilder {
 public:
  explicit StreamChunkBuilder(ResponseContext context);

  // The events for one response, each "data: {...}\n\n".
  std::vector<std::string> OnResponse(const tessera::v1::GenerateResponse& response);
  // The closing events: the usage chunk when stream_options.include_usage was set, then "data: [DONE]\n\n".
  std::vector<std::string> Finish() const;
  // An error after the stream started: the OpenAI error object as one event (the caller then sends [DONE]).
  static std::string ErrorEvent(const ApiError& error);

 private:
  struct ChoiceState {
    bool role_sent = false;
    bool echoed = false;
    int64_t text_offset = 0;
  };
  nlohmann::ordered_json ChunkHeader() const;
  std::string ChatDelta(const tessera::v1::SequenceDelta& delta, ChoiceState& state);
  std::string CompletionDelta(const tessera::v1::SequenceDelta& delta, ChoiceState& state);
  ChoiceState& StateAt(int index);

  ResponseContext context_;
  std::vector<ChoiceState> states_;
  std::string prompt_text_;
  tessera::v1::Usage usage_;
  bool have_usage_ = false;
};

// Logprobs in the chat shape: {"content":[{"token","logprob","bytes","top_logprobs":[...]}]}.
nlohmann::ordered_json ChatLogprobsJson(const std::vector<tessera::v1::TokenLogprob>& logprobs);
// Logprobs in the completions shape: {"text_offset","token_logprobs","tokens","top_logprobs"}; offsets start at
// `first_offset` (the length of the text that precedes these tokens in the choice).
nlohmann::ordered_json CompletionLogprobsJson(const std::vector<tessera::v1::TokenLogprob>& logprobs,
                                              int64_t first_offset);
nlohmann::ordered_json UsageJson(const tessera::v1::Usage& usage);

// vLLM's POST /tokenize answer: {"count","max_model_len","tokens","token_strs":null}.
std::string TokenizeResponseJson(const tessera::v1::TokenizeResponse& response);
// vLLM's POST /detokenize answer: {"prompt"}.
std::string DetokenizeResponseJson(const tessera::v1::DetokenizeResponse& response);

// "data: <json>\n\n".
std::string SseEvent(const nlohmann::ordered_json& payload);
inline constexpr char kSseDone[] = "data: [DONE]\n\n";

}  // namespace tessera::gateway
