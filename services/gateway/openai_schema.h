// The OpenAI request schema for POST /v1/chat/completions and POST /v1/completions (with vLLM's extra sampling
// fields), parsed and validated once at the edge into tessera.v1.GenerateRequest; also vLLM's POST /tokenize and
// POST /detokenize bodies. Unknown fields are accepted, as in vLLM; a field of the wrong type or out of range is
// InvalidArgument whose payload names the param (errors.h).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tessera/v1/generation.pb.h"

namespace tessera::gateway {

enum class Endpoint { kChatCompletions, kCompletions };

// A validated request: the proto for the backend plus what only the response writer needs.
struct OpenAIRequest {
  Endpoint endpoint = Endpoint::kChatCompletions;
  tessera::v1::GenerateRequest generate;  // request_id is left for the caller to assign
  bool stream = false;
  bool include_usage = false;    // stream_options.include_usage
  bool return_logprobs = false;  // chat: logprobs=true; completions: logprobs is an integer
  int top_logprobs = 0;          // alternatives per token to report
  bool echo = false;             // completions: the prompt text precedes each choice's text
  std::string user;
};

absl::StatusOr<OpenAIRequest> ParseChatCompletionRequest(std::string_view body);
absl::StatusOr<OpenAIRequest> ParseCompletionRequest(std::string_view body);

// {model, prompt, add_special_tokens=true} or {model, messages, add_generation_prompt=true, continue_final_message,
// add_special_tokens=false, chat_template_kwargs, tools}.
absl::StatusOr<tessera::v1::TokenizeRequest> ParseTokenizeRequest(std::string_view body);
// {model, tokens}.
absl::StatusOr<tessera::v1::DetokenizeRequest> ParseDetokenizeRequest(std::string_view body);

// vLLM's default and largest number of logprobs per token.
inline constexpr int kMaxLogprobs = 20;
// The most choices (n, best_of) one request may ask for, as OpenAI documents: every choice is a sequence on the
// worker, so an unbounded n would let one request occupy it indefinitely.
inline constexpr int kMaxChoices = 128;
// OpenAI's (and vLLM's) max_tokens default for /v1/completions.
inline constexpr int kDefaultCompletionMaxTokens = 16;

}  // namespace tessera::gateway
