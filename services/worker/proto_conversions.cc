#include "services/worker/proto_conversions.h"

#include "absl/strings/str_cat.h"

namespace tessera::worker {
namespace {

grpc::StatusCode ToGrpcCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return grpc::StatusCode::OK;
    case absl::StatusCode::kCancelled:
      return grpc::StatusCode::CANCELLED;
    case absl::StatusCode::kUnknown:
      return grpc::StatusCode::UNKNOWN;
    case absl::StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case absl::StatusCode::kDeadlineExceeded:
      return grpc::StatusCode::DEADLINE_EXCEEDED;
    case absl::StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case absl::StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case absl::StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case absl::StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case absl::StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case absl::StatusCode::kAborted:
      return grpc::StatusCode::ABORTED;
    case absl::StatusCode::kOutOfRange:
      return grpc::StatusCode::OUT_OF_RANGE;
    case absl::StatusCode::kUnimplemented:
      return grpc::StatusCode::UNIMPLEMENTED;
    case absl::StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
    case absl::StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case absl::StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case absl::StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    default:
      return grpc::StatusCode::UNKNOWN;
  }
}

absl::StatusOr<nlohmann::ordered_json> ParseJson(const std::string& text, const std::string& field) {
  try {
    return nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not valid JSON: ", e.what()));
  }
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(ToGrpcCode(status.code()), std::string(status.message()));
}

absl::StatusOr<engine::SamplingParams> SamplingParamsFromProto(const v1::SamplingParameters& s,
                                                               const engine::SamplingParams& defaults) {
  engine::SamplingParams p = defaults;
  if (s.has_n()) p.n = s.n();
  if (s.has_best_of()) p.best_of = s.best_of();
  if (s.has_temperature()) p.temperature = s.temperature();
  if (s.has_top_p()) p.top_p = s.top_p();
  if (s.has_top_k()) p.top_k = s.top_k();
  if (s.has_min_p()) p.min_p = s.min_p();
  if (s.has_seed()) p.seed = s.seed();
  if (s.has_presence_penalty()) p.presence_penalty = s.presence_penalty();
  if (s.has_frequency_penalty()) p.frequency_penalty = s.frequency_penalty();
  if (s.has_repetition_penalty()) p.repetition_penalty = s.repetition_penalty();
  for (const auto& [token, bias] : s.logit_bias()) p.logit_bias[token] = bias;
  // A repeated field cannot say "set but empty", so an empty list means no restriction.
  if (s.allowed_token_ids_size() > 0) {
    p.allowed_token_ids = std::vector<int32_t>(s.allowed_token_ids().begin(), s.allowed_token_ids().end());
  }
  if (s.bad_words_size() > 0) p.bad_words.assign(s.bad_words().begin(), s.bad_words().end());
  if (s.stop_size() > 0) p.stop.assign(s.stop().begin(), s.stop().end());
  if (s.stop_token_ids_size() > 0) p.stop_token_ids.assign(s.stop_token_ids().begin(), s.stop_token_ids().end());
  if (s.has_include_stop_str_in_output()) p.include_stop_str_in_output = s.include_stop_str_in_output();
  if (s.has_ignore_eos()) p.ignore_eos = s.ignore_eos();
  if (s.has_max_tokens()) p.max_tokens = s.max_tokens();
  if (s.has_min_tokens()) p.min_tokens = s.min_tokens();
  if (s.has_logprobs()) p.logprobs = s.logprobs();
  if (s.has_prompt_logprobs()) p.prompt_logprobs = s.prompt_logprobs();
  if (s.has_skip_special_tokens()) p.skip_special_tokens = s.skip_special_tokens();
  if (s.has_spaces_between_special_tokens()) p.spaces_between_special_tokens = s.spaces_between_special_tokens();
  if (s.has_truncate_prompt_tokens()) p.truncate_prompt_tokens = s.truncate_prompt_tokens();
  return p;
}

absl::StatusOr<ChatInput> ChatInputFromProto(const v1::ChatPrompt& chat) {
  ChatInput input;
  if (chat.messages_size() == 0) return absl::InvalidArgumentError("chat.messages must not be empty");
  input.messages = nlohmann::ordered_json::array();
  for (int i = 0; i < chat.messages_size(); ++i) {
    const v1::ChatMessage& m = chat.messages(i);
    nlohmann::ordered_json message = {{"role", m.role()}, {"content", m.content()}};
    if (!m.extra_json().empty()) {
      const std::string field = absl::StrCat("chat.messages[", i, "].extra_json");
      absl::StatusOr<nlohmann::ordered_json> extra = ParseJson(m.extra_json(), field);
      if (!extra.ok()) return extra.status();
      if (!extra->is_object()) return absl::InvalidArgumentError(absl::StrCat(field, " must be a JSON object"));
      for (auto it = extra->begin(); it != extra->end(); ++it) message[it.key()] = it.value();
    }
    input.messages.push_back(std::move(message));
  }
  if (chat.continue_final_message() && chat.add_generation_prompt()) {
    return absl::InvalidArgumentError("chat.continue_final_message and chat.add_generation_prompt cannot both be set");
  }
  input.continue_final_message = chat.continue_final_message();
  input.options.add_generation_prompt = chat.add_generation_prompt();
  if (!chat.chat_template_kwargs_json().empty()) {
    absl::StatusOr<nlohmann::ordered_json> kwargs =
        ParseJson(chat.chat_template_kwargs_json(), "chat.chat_template_kwargs_json");
    if (!kwargs.ok()) return kwargs.status();
    if (!kwargs->is_object()) {
      return absl::InvalidArgumentError("chat.chat_template_kwargs_json must be a JSON object");
    }
    input.options.kwargs = std::move(*kwargs);
  }
  if (!chat.tools_json().empty()) {
    absl::StatusOr<nlohmann::ordered_json> tools = ParseJson(chat.tools_json(), "chat.tools_json");
    if (!tools.ok()) return tools.status();
    if (!tools->is_array()) return absl::InvalidArgumentError("chat.tools_json must be a JSON list");
    input.options.tools = std::move(*tools);
  }
  return input;
}

absl::StatusOr<std::string> CutAfterFinalMessage(const std::string& rendered, const nlohmann::ordered_json& messages) {
  if (!messages.is_array() || messages.empty() || !messages.back().contains("content") ||
      !messages.back()["content"].is_string()) {
    return absl::InvalidArgumentError("continue_final_message needs a final message with text content");
  }
  std::string content = messages.back()["content"].get<std::string>();
  // Templates often trim the content, so the trimmed form is what can be found in the rendered text.
  const size_t first = content.find_first_not_of(" \t\r\n");
  const size_t last = content.find_last_not_of(" \t\r\n");
  content = first == std::string::npos ? "" : content.substr(first, last - first + 1);
  const size_t at = rendered.rfind(content);
  if (content.empty() || at == std::string::npos) {
    return absl::InvalidArgumentError(
        "continue_final_message: the final message's content does not appear in the rendered chat template");
  }
  return rendered.substr(0, at + content.size());
}

v1::FinishReason FinishReasonToProto(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kStop:
      return v1::FINISH_REASON_STOP;
    case engine::FinishReason::kLength:
      return v1::FINISH_REASON_LENGTH;
    case engine::FinishReason::kAbort:
      return v1::FINISH_REASON_ABORT;
    case engine::FinishReason::kNone:
      break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

namespace {
std::string TokenText(const Tokenizer* tokenizer, int32_t id) {
  if (tokenizer == nullptr) return "";
  absl::StatusOr<std::string> text = tokenizer->Decode({id}, /*skip_special_tokens=*/false);
  return text.ok() ? *text : "";
}
}  // namespace

void TokenLogprobToProto(const engine::TokenLogprobs& logprobs, const Tokenizer* tokenizer, v1::TokenLogprob* out) {
  out->set_token_id(logprobs.token_id);
  out->set_token(TokenText(tokenizer, logprobs.token_id));
  out->set_logprob(logprobs.logprob);
  out->set_rank(logprobs.rank);
  for (const engine::TopLogprob& top : logprobs.top) {
    v1::TopLogprob* t = out->add_top_logprobs();
    t->set_token_id(top.token_id);
    t->set_token(TokenText(tokenizer, top.token_id));
    t->set_logprob(top.logprob);
  }
}

}  // namespace tessera::worker
