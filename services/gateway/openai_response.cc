#include "services/gateway/openai_response.h"

#include <cmath>
#include <random>

namespace tessera::gateway {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

// vLLM reports -inf logprobs as -9999.0 so that the JSON stays valid.
double FiniteLogprob(float logprob) { return std::isfinite(logprob) ? static_cast<double>(logprob) : -9999.0; }

Json TokenBytes(const std::string& token) {
  Json bytes = Json::array();
  for (unsigned char byte : token) bytes.push_back(static_cast<int>(byte));
  return bytes;
}

Json StopReasonJson(const tessera::v1::SequenceDelta& delta) {
  switch (delta.stop_reason_case()) {
    case tessera::v1::SequenceDelta::kStopString:
      return delta.stop_string();
    case tessera::v1::SequenceDelta::kStopTokenId:
      return delta.stop_token_id();
    default:
      return nullptr;
  }
}

std::vector<tessera::v1::TokenLogprob> LogprobsOf(const tessera::v1::SequenceDelta& delta) {
  return {delta.logprobs().begin(), delta.logprobs().end()};
}

}  // namespace

ResponseContext ResponseContext::ForRequest(const OpenAIRequest& request, std::string id, int64_t created) {
  ResponseContext context;
  context.endpoint = request.endpoint;
  context.id = std::move(id);
  context.created = created;
  context.model = request.generate.model();
  context.n = request.generate.sampling().has_n() ? request.generate.sampling().n() : 1;
  context.return_logprobs = request.return_logprobs;
  context.echo = request.echo;
  context.include_usage = request.include_usage;
  return context;
}

std::string NewResponseId(Endpoint endpoint) {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = endpoint == Endpoint::kChatCompletions ? "chatcmpl-" : "cmpl-";
  for (int i = 0; i < 2; ++i) {
    uint64_t bits = generator();
    for (int j = 0; j < 16; ++j, bits >>= 4) id += kHex[bits & 15];
  }
  return id;
}

Json FinishReasonJson(tessera::v1::FinishReason reason) {
  switch (reason) {
    case tessera::v1::FINISH_REASON_STOP:
      return "stop";
    case tessera::v1::FINISH_REASON_LENGTH:
      return "length";
    case tessera::v1::FINISH_REASON_ABORT:
      return "abort";
    default:
      return nullptr;
  }
}

Json ChatLogprobsJson(const std::vector<tessera::v1::TokenLogprob>& logprobs) {
  Json content = Json::array();
  for (const tessera::v1::TokenLogprob& entry : logprobs) {
    Json item;
    item["token"] = entry.token();
    item["logprob"] = FiniteLogprob(entry.logprob());
    item["bytes"] = TokenBytes(entry.token());
    Json top = Json::array();
    for (const tessera::v1::TopLogprob& alternative : entry.top_logprobs()) {
      Json top_item;
      top_item["token"] = alternative.token();
      top_item["logprob"] = FiniteLogprob(alternative.logprob());
      top_item["bytes"] = TokenBytes(alternative.token());
      top.push_back(std::move(top_item));
    }
    item["top_logprobs"] = std::move(top);
    content.push_back(std::move(item));
  }
  Json result;
  result["content"] = std::move(content);
  return result;
}

Json CompletionLogprobsJson(const std::vector<tessera::v1::TokenLogprob>& logprobs, int64_t first_offset) {
  Json text_offset = Json::array();
  Json token_logprobs = Json::array();
  Json tokens = Json::array();
  Json top_logprobs = Json::array();
  int64_t offset = first_offset;
  for (const tessera::v1::TokenLogprob& entry : logprobs) {
    text_offset.push_back(offset);
    offset += static_cast<int64_t>(entry.token().size());
    token_logprobs.push_back(FiniteLogprob(entry.logprob()));
    tokens.push_back(entry.token());
    Json top = Json::object();
    for (const tessera::v1::TopLogprob& alternative : entry.top_logprobs()) {
      top[alternative.token()] = FiniteLogprob(alternative.logprob());
    }
    top_logprobs.push_back(std::move(top));
  }
  Json result;
  result["text_offset"] = std::move(text_offset);
  result["token_logprobs"] = std::move(token_logprobs);
  result["tokens"] = std::move(tokens);
  result["top_logprobs"] = std::move(top_logprobs);
  return result;
}

Json UsageJson(const tessera::v1::Usage& usage) {
  Json result;
  result["prompt_tokens"] = usage.prompt_tokens();
  result["total_tokens"] = usage.prompt_tokens() + usage.completion_tokens();
  result["completion_tokens"] = usage.completion_tokens();
  if (usage.cached_prompt_tokens() > 0) {
    result["prompt_tokens_details"]["cached_tokens"] = usage.cached_prompt_tokens();
  } else {
    result["prompt_tokens_details"] = nullptr;
  }
  return result;
}

std::string TokenizeResponseJson(const tessera::v1::TokenizeResponse& response) {
  Json body;
  body["count"] = response.count();
  body["max_model_len"] = response.max_model_len();
  body["tokens"] = Json::array();
  for (int32_t id : response.token_ids()) body["tokens"].push_back(id);
  body["token_strs"] = nullptr;
  return Dump(body);
}

std::string DetokenizeResponseJson(const tessera::v1::DetokenizeResponse& response) {
  Json body;
  body["prompt"] = response.text();
  return Dump(body);
}

std::string SseEvent(const Json& payload) { return "data: " + Dump(payload) + "\n\n"; }

// ----- Non-streaming -----

CompletionAccumulator::CompletionAccumulator(ResponseContext context) : context_(std::move(context)) {
  choices_.resize(std::max(context_.n, 1));
}

CompletionAccumulator::Choice& CompletionAccumulator::ChoiceAt(int index) {
  // A backend that reports more sequences than n (best_of) must not crash the gateway.
  if (index < 0) index = 0;
  if (static_cast<size_t>(index) >= choices_.size()) choices_.resize(index + 1);
  return choices_[index];
}

void CompletionAccumulator::Add(const tessera::v1::GenerateResponse& response) {
  if (!response.prompt_text().empty()) prompt_text_ = response.prompt_text();
  for (const tessera::v1::SequenceDelta& delta : response.deltas()) {
    Choice& choice = ChoiceAt(delta.index());
    choice.text += delta.text();
    choice.reasoning += delta.reasoning_text();
    choice.logprobs.insert(choice.logprobs.end(), delta.logprobs().begin(), delta.logprobs().end());
    if (delta.finish_reason() != tessera::v1::FINISH_REASON_UNSPECIFIED) {
      choice.finish_reason = delta.finish_reason();
      choice.stop_reason = StopReasonJson(delta);
    }
  }
  if (response.has_usage()) usage_ = response.usage();
}

std::string CompletionAccumulator::ToJson() const {
  const bool chat = context_.endpoint == Endpoint::kChatCompletions;
  Json body;
  body["id"] = context_.id;
  body["object"] = chat ? "chat.completion" : "text_completion";
  body["created"] = context_.created;
  body["model"] = context_.model;
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& choice = choices_[i];
    Json item;
    item["index"] = static_cast<int>(i);
    if (chat) {
      Json message;
      message["role"] = "assistant";
      message["content"] = choice.text;
      if (!choice.reasoning.empty()) message["reasoning_content"] = choice.reasoning;
      item["message"] = std::move(message);
      item["logprobs"] = context_.return_logprobs ? ChatLogprobsJson(choice.logprobs) : Json(nullptr);
    } else {
      const std::string prefix = context_.echo ? prompt_text_ : std::string();
      item["text"] = prefix + choice.text;
      item["logprobs"] = context_.return_logprobs
                             ? CompletionLogprobsJson(choice.logprobs, static_cast<int64_t>(prefix.size()))
                             : Json(nullptr);
    }
    item["finish_reason"] = FinishReasonJson(choice.finish_reason);
    item["stop_reason"] = choice.stop_reason;
    choices.push_back(std::move(item));
  }
  body["choices"] = std::move(choices);
  body["usage"] = UsageJson(usage_);
  return Dump(body);
}

// ----- Streaming -----

StreamChunkBuilder::StreamChunkBuilder(ResponseContext context) : context_(std::move(context)) {
  states_.resize(std::max(context_.n, 1));
}

StreamChunkBuilder::ChoiceState& StreamChunkBuilder::StateAt(int index) {
  if (index < 0) index = 0;
  if (static_cast<size_t>(index) >= states_.size()) states_.resize(index + 1);
  return states_[index];
}

Json StreamChunkBuilder::ChunkHeader() const {
  Json chunk;
  chunk["id"] = context_.id;
  chunk["object"] = context_.endpoint == Endpoint::kChatCompletions ? "chat.completion.chunk" : "text_completion";
  chunk["created"] = context_.created;
  chunk["model"] = context_.model;
  return chunk;
}

std::vector<std::string> StreamChunkBuilder::OnResponse(const tessera::v1::GenerateResponse& response) {
  std::vector<std::string> events;
  if (!response.prompt_text().empty()) prompt_text_ = response.prompt_text();
  if (context_.endpoint == Endpoint::kChatCompletions) {
    // Every choice opens with a chunk that carries only the role, as OpenAI's and vLLM's streams do.
    for (size_t i = 0; i < states_.size(); ++i) {
      if (states_[i].role_sent) continue;
      states_[i].role_sent = true;
      Json chunk = ChunkHeader();
      Json choice;
      choice["index"] = static_cast<int>(i);
      choice["delta"]["role"] = "assistant";
      choice["delta"]["content"] = "";
      choice["logprobs"] = nullptr;
      choice["finish_reason"] = nullptr;
      chunk["choices"] = Json::array({std::move(choice)});
      events.push_back(SseEvent(chunk));
    }
  }
  for (const tessera::v1::SequenceDelta& delta : response.deltas()) {
    ChoiceState& state = StateAt(delta.index());
    std::string event = context_.endpoint == Endpoint::kChatCompletions ? ChatDelta(delta, state)
                                                                        : CompletionDelta(delta, state);
    if (!event.empty()) events.push_back(std::move(event));
  }
  if (response.has_usage()) {
    usage_ = response.usage();
    have_usage_ = true;
  }
  return events;
}

std::string StreamChunkBuilder::ChatDelta(const tessera::v1::SequenceDelta& delta, ChoiceState& state) {
  const bool finished = delta.finish_reason() != tessera::v1::FINISH_REASON_UNSPECIFIED;
  if (delta.text().empty() && delta.reasoning_text().empty() && delta.logprobs().empty() && !finished) return {};
  Json chunk = ChunkHeader();
  Json choice;
  choice["index"] = delta.index();
  Json delta_json = Json::object();
  if (!delta.reasoning_text().empty()) delta_json["reasoning_content"] = delta.reasoning_text();
  if (!delta.text().empty()) delta_json["content"] = delta.text();
  choice["delta"] = std::move(delta_json);
  choice["logprobs"] = context_.return_logprobs ? ChatLogprobsJson(LogprobsOf(delta)) : Json(nullptr);
  choice["finish_reason"] = FinishReasonJson(delta.finish_reason());
  if (finished) choice["stop_reason"] = StopReasonJson(delta);
  chunk["choices"] = Json::array({std::move(choice)});
  return SseEvent(chunk);
}

std::string StreamChunkBuilder::CompletionDelta(const tessera::v1::SequenceDelta& delta, ChoiceState& state) {
  const bool finished = delta.finish_reason() != tessera::v1::FINISH_REASON_UNSPECIFIED;
  std::string text;
  if (context_.echo && !state.echoed) {
    state.echoed = true;
    text = prompt_text_;
    state.text_offset += static_cast<int64_t>(prompt_text_.size());
  }
  text += delta.text();
  if (text.empty() && delta.logprobs().empty() && !finished) return {};
  Json chunk = ChunkHeader();
  Json choice;
  choice["index"] = delta.index();
  choice["text"] = text;
  choice["logprobs"] = context_.return_logprobs ? CompletionLogprobsJson(LogprobsOf(delta), state.text_offset)
                                                : Json(nullptr);
  state.text_offset += static_cast<int64_t>(delta.text().size());
  choice["finish_reason"] = FinishReasonJson(delta.finish_reason());
  choice["stop_reason"] = StopReasonJson(delta);
  chunk["choices"] = Json::array({std::move(choice)});
  return SseEvent(chunk);
}

std::vector<std::string> StreamChunkBuilder::Finish() const {
  std::vector<std::string> events;
  if (context_.include_usage) {
    Json chunk = ChunkHeader();
    chunk["choices"] = Json::array();
    chunk["usage"] = UsageJson(usage_);
    events.push_back(SseEvent(chunk));
  }
  events.emplace_back(kSseDone);
  return events;
}

std::string StreamChunkBuilder::ErrorEvent(const ApiError& error) { return "data: " + error.ToJson() + "\n\n"; }

}  // namespace tessera::gateway
