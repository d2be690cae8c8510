// Translation between the tessera.v1 protos and the engine's types, done once at the worker's edge: sampling
// parameters over the model's defaults, chat prompts into template input, logprobs and finish reasons into their
// proto shapes, and absl::Status into gRPC status codes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/chat_template/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "grpcpp/support/status.h"
#include "nlohmann/json.hpp"
#include "services/worker/engine/request.h"
#include "services/worker/engine/sampler.h"
#include "services/worker/engine/sampling_params.h"
#include "tessera/v1/generation.pb.h"

namespace tessera::worker {

// The one place where an error becomes a gRPC status: the codes carry over one to one (InvalidArgument →
// INVALID_ARGUMENT, ResourceExhausted → RESOURCE_EXHAUSTED, ...), the message is kept.
grpc::Status ToGrpcStatus(const absl::Status& status);

// Starts from `defaults` (the model's generation_config.json) and assigns every field the request sets; unset
// fields keep the model's default, as vLLM does. Values are not validated here (the engine's validation names the
// field); only what cannot be represented is rejected.
absl::StatusOr<engine::SamplingParams> SamplingParamsFromProto(const v1::SamplingParameters& sampling,
                                                               const engine::SamplingParams& defaults);

// A chat prompt as the chat template reads it: the message list (each message's extra_json merged in) and the
// render options. Errors (malformed JSON, a non-object extra_json, continue_final_message together with
// add_generation_prompt) are InvalidArgument naming the field.
struct ChatInput {
  nlohmann::ordered_json messages;
  ChatTemplateOptions options;
  bool continue_final_message = false;
};
absl::StatusOr<ChatInput> ChatInputFromProto(const v1::ChatPrompt& chat);

// With continue_final_message the rendered text ends right after the final message's content (the template's
// end-of-turn markup is cut off), as transformers does, so that the model continues that message.
absl::StatusOr<std::string> CutAfterFinalMessage(const std::string& rendered, const nlohmann::ordered_json& messages);

v1::FinishReason FinishReasonToProto(engine::FinishReason reason);
// `tokenizer` may be null; token strings are then left empty.
void TokenLogprobToProto(const engine::TokenLogprobs& logprobs, const Tokenizer* tokenizer, v1::TokenLogprob* out);

}  // namespace tessera::worker
