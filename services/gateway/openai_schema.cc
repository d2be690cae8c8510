#include "services/gateway/openai_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "common/json_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/gateway/errors.h"

namespace tessera::gateway {
namespace {

using Json = nlohmann::ordered_json;

std::string_view TypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    case Json::value_t::number_float:
      return "number";
    default:
      return "integer";
  }
}

absl::Status WrongType(std::string_view param, std::string_view expected, const Json& value) {
  return InvalidParam(param, CatMessage("'", param, "' must be ", expected, ", got ", TypeName(value)));
}

// Absent and null both mean "not given", as in vLLM's pydantic models.
const Json* Find(const Json& object, std::string_view key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

// Integers accept integral floats (2.0), as pydantic's lax mode does; never booleans or strings.
absl::StatusOr<int64_t> AsInt(const Json& value, std::string_view param) {
  if (value.is_number_integer()) {
    if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return InvalidParam(param, CatMessage("'", param, "' is out of range"));
    }
    return value.get<int64_t>();
  }
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::isfinite(number) && std::trunc(number) == number && std::fabs(number) < 9.2e18) {
      return static_cast<int64_t>(number);
    }
  }
  return WrongType(param, "an integer", value);
}

absl::StatusOr<int32_t> AsInt32(const Json& value, std::string_view param) {
  ASSIGN_OR_RETURN(int64_t number, AsInt(value, param));
  if (number < std::numeric_limits<int32_t>::min() || number > std::numeric_limits<int32_t>::max()) {
    return InvalidParam(param, CatMessage("'", param, "' is out of range: ", number));
  }
  return static_cast<int32_t>(number);
}

absl::StatusOr<std::optional<int64_t>> GetInt(const Json& object, std::string_view key) {
  const Json* value = Find(object, key);
  if (value == nullptr) return std::nullopt;
  ASSIGN_OR_RETURN(int64_t number, AsInt(*value, key));
  return number;
}

absl::StatusOr<std::optional<int32_t>> GetInt32(const Json& object, std::string_view key) {
  const Json* value = Find(object, key);
  if (value == nullptr) return std::nullopt;
  ASSIGN_OR_RETURN(int32_t number, AsInt32(*value, key));
  return number;
}

absl::StatusOr<std::optional<double>> GetNumber(const Json& object, std::string_view key) {
  const Json* value = Find(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_number()) return WrongType(key, "a number", *value);
  const double number = value->get<double>();
  // The backend takes 32-bit floats; a larger finite double would become infinity there.
  if (!std::isfinite(number) || std::fabs(number) > std::numeric_limits<float>::max()) {
    return InvalidParam(key, CatMessage("'", key, "' must be a finite number within the range of a 32-bit float"));
  }
  return number;
}

absl::StatusOr<std::optional<bool>> GetBool(const Json& object, std::string_view key) {
  const Json* value = Find(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) return WrongType(key, "a boolean", *value);
  return value->get<bool>();
}

absl::StatusOr<std::optional<std::string>> GetString(const Json& object, std::string_view key) {
  const Json* value = Find(object, key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) return WrongType(key, "a string", *value);
  return value->get<std::string>();
}

absl::Status CheckRange(std::string_view param, double value, double low, double high, bool low_inclusive = true) {
  const bool above_low = low_inclusive ? value >= low : value > low;
  if (above_low && value <= high) return absl::OkStatus();
  return InvalidParam(param, CatMessage("'", param, "' must be in ", low_inclusive ? "[" : "(", low, ", ", high,
                                        "], got ", value));
}

absl::StatusOr<Json> ParseBody(std::string_view body) {
  // JSON never holds a raw NUL byte (inside strings it must be escaped), and the parser would take one as the end
  // of the input, accepting whatever follows it.
  if (body.find('\0') != std::string_view::npos) return InvalidParam("body", "request body contains a NUL byte");
  Json parsed = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return InvalidParam("body", "request body is not valid JSON");
  if (!parsed.is_object()) return InvalidParam("body", "request body must be a JSON object");
  return parsed;
}

// stop: a string or a list of strings.
absl::Status ParseStop(const Json& request, tessera::v1::SamplingParameters& sampling) {
  const Json* stop = Find(request, "stop");
  if (stop == nullptr) return absl::OkStatus();
  if (stop->is_string()) {
    sampling.add_stop(stop->get<std::string>());
    return absl::OkStatus();
  }
  if (!stop->is_array()) return WrongType("stop", "a string or a list of strings", *stop);
  for (const Json& item : *stop) {
    if (!item.is_string()) return WrongType("stop", "a string or a list of strings", item);
    sampling.add_stop(item.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ParseIntList(const Json& request, std::string_view key,
                          google::protobuf::RepeatedField<int32_t>& out) {
  const Json* list = Find(request, key);
  if (list == nullptr) return absl::OkStatus();
  if (!list->is_array()) return WrongType(key, "a list of integers", *list);
  for (const Json& item : *list) {
    ASSIGN_OR_RETURN(int32_t id, AsInt32(item, key));
    out.Add(id);
  }
  return absl::OkStatus();
}

// The sampling fields that chat and completions share (OpenAI's and vLLM's extras).
absl::Status ParseSampling(const Json& request, tessera::v1::SamplingParameters& sampling) {
  ASSIGN_OR_RETURN(std::optional<int32_t> n, GetInt32(request, "n"));
  if (n) {
    if (*n < 1 || *n > kMaxChoices) {
      return InvalidParam("n", CatMessage("'n' must be in [1, ", kMaxChoices, "], got ", *n));
    }
    sampling.set_n(*n);
  }
  ASSIGN_OR_RETURN(std::optional<double> temperature, GetNumber(request, "temperature"));
  if (temperature) {
    if (*temperature < 0) return InvalidParam("temperature", CatMessage("'temperature' must be non-negative, got ",
                                                                        *temperature));
    sampling.set_temperature(static_cast<float>(*temperature));
  }
  ASSIGN_OR_RETURN(std::optional<double> top_p, GetNumber(request, "top_p"));
  if (top_p) {
    RETURN_IF_ERROR(CheckRange("top_p", *top_p, 0.0, 1.0, /*low_inclusive=*/false));
    sampling.set_top_p(static_cast<float>(*top_p));
  }
  ASSIGN_OR_RETURN(std::optional<int32_t> top_k, GetInt32(request, "top_k"));
  if (top_k) {
    if (*top_k < -1) return InvalidParam("top_k", CatMessage("'top_k' must be -1 or 0 (disabled) or at least 1, got ",
                                                             *top_k));
    sampling.set_top_k(*top_k);
  }
  ASSIGN_OR_RETURN(std::optional<double> min_p, GetNumber(request, "min_p"));
  if (min_p) {
    RETURN_IF_ERROR(CheckRange("min_p", *min_p, 0.0, 1.0));
    sampling.set_min_p(static_cast<float>(*min_p));
  }
  ASSIGN_OR_RETURN(std::optional<int64_t> seed, GetInt(request, "seed"));
  if (seed) sampling.set_seed(static_cast<uint64_t>(*seed));
  ASSIGN_OR_RETURN(std::optional<double> presence_penalty, GetNumber(request, "presence_penalty"));
  if (presence_penalty) {
    RETURN_IF_ERROR(CheckRange("presence_penalty", *presence_penalty, -2.0, 2.0));
    sampling.set_presence_penalty(static_cast<float>(*presence_penalty));
  }
  ASSIGN_OR_RETURN(std::optional<double> frequency_penalty, GetNumber(request, "frequency_penalty"));
  if (frequency_penalty) {
    RETURN_IF_ERROR(CheckRange("frequency_penalty", *frequency_penalty, -2.0, 2.0));
    sampling.set_frequency_penalty(static_cast<float>(*frequency_penalty));
  }
  ASSIGN_OR_RETURN(std::optional<double> repetition_penalty, GetNumber(request, "repetition_penalty"));
  if (repetition_penalty) {
    if (*repetition_penalty <= 0) {
      return InvalidParam("repetition_penalty",
                          CatMessage("'repetition_penalty' must be greater than zero, got ", *repetition_penalty));
    }
    sampling.set_repetition_penalty(static_cast<float>(*repetition_penalty));
  }
  if (const Json* logit_bias = Find(request, "logit_bias")) {
    if (!logit_bias->is_object()) return WrongType("logit_bias", "an object of token id to bias", *logit_bias);
    for (const auto& [key, bias] : logit_bias->items()) {
      int64_t token_id = 0;
      size_t consumed = 0;
      try {
        token_id = std::stoll(key, &consumed);
      } catch (const std::exception&) {
        consumed = 0;
      }
      if (consumed == 0 || consumed != key.size() || token_id < 0 || token_id > INT32_MAX) {
        return InvalidParam("logit_bias", CatMessage("'logit_bias' key '", key, "' is not a token id"));
      }
      if (!bias.is_number()) return WrongType("logit_bias", "an object of token id to number", bias);
      // OpenAI documents [-100, 100]; vLLM clamps rather than rejects.
      const double clamped = std::clamp(bias.get<double>(), -100.0, 100.0);
      (*sampling.mutable_logit_bias())[static_cast<int32_t>(token_id)] = static_cast<float>(clamped);
    }
  }
  RETURN_IF_ERROR(ParseIntList(request, "allowed_token_ids", *sampling.mutable_allowed_token_ids()));
  if (const Json* bad_words = Find(request, "bad_words")) {
    if (!bad_words->is_array()) return WrongType("bad_words", "a list of strings", *bad_words);
    for (const Json& word : *bad_words) {
      if (!word.is_string()) return WrongType("bad_words", "a list of strings", word);
      sampling.add_bad_words(word.get<std::string>());
    }
  }
  RETURN_IF_ERROR(ParseStop(request, sampling));
  RETURN_IF_ERROR(ParseIntList(request, "stop_token_ids", *sampling.mutable_stop_token_ids()));
  ASSIGN_OR_RETURN(std::optional<bool> include_stop, GetBool(request, "include_stop_str_in_output"));
  if (include_stop) sampling.set_include_stop_str_in_output(*include_stop);
  ASSIGN_OR_RETURN(std::optional<bool> ignore_eos, GetBool(request, "ignore_eos"));
  if (ignore_eos) sampling.set_ignore_eos(*ignore_eos);
  ASSIGN_OR_RETURN(std::optional<int32_t> min_tokens, GetInt32(request, "min_tokens"));
  if (min_tokens) {
    if (*min_tokens < 0) return InvalidParam("min_tokens", CatMessage("'min_tokens' must be non-negative, got ",
                                                                      *min_tokens));
    sampling.set_min_tokens(*min_tokens);
  }
  ASSIGN_OR_RETURN(std::optional<bool> skip_special, GetBool(request, "skip_special_tokens"));
  if (skip_special) sampling.set_skip_special_tokens(*skip_special);
  ASSIGN_OR_RETURN(std::optional<bool> spaces_between, GetBool(request, "spaces_between_special_tokens"));
  if (spaces_between) sampling.set_spaces_between_special_tokens(*spaces_between);
  ASSIGN_OR_RETURN(std::optional<int32_t> prompt_logprobs, GetInt32(request, "prompt_logprobs"));
  if (prompt_logprobs) {
    if (*prompt_logprobs < 0 || *prompt_logprobs > kMaxLogprobs) {
      return InvalidParam("prompt_logprobs", CatMessage("'prompt_logprobs' must be in [0, ", kMaxLogprobs, "], got ",
                                                        *prompt_logprobs));
    }
    sampling.set_prompt_logprobs(*prompt_logprobs);
  }
  ASSIGN_OR_RETURN(std::optional<int32_t> truncate, GetInt32(request, "truncate_prompt_tokens"));
  if (truncate) {
    if (*truncate < 1) return InvalidParam("truncate_prompt_tokens",
                                           CatMessage("'truncate_prompt_tokens' must be at least 1, got ", *truncate));
    sampling.set_truncate_prompt_tokens(*truncate);
  }
  return absl::OkStatus();
}

absl::Status SetMaxTokens(std::string_view param, int32_t max_tokens, tessera::v1::SamplingParameters& sampling) {
  if (max_tokens < 1) return InvalidParam(param, CatMessage("'", param, "' must be at least 1, got ", max_tokens));
  sampling.set_max_tokens(max_tokens);
  return absl::OkStatus();
}

// Fields every endpoint shares outside of sampling.
absl::Status ParseCommon(const Json& request, OpenAIRequest& parsed) {
  ASSIGN_OR_RETURN(std::optional<std::string> model, GetString(request, "model"));
  if (model) parsed.generate.set_model(*model);
  ASSIGN_OR_RETURN(std::optional<bool> stream, GetBool(request, "stream"));
  parsed.stream = stream.value_or(false);
  if (const Json* options = Find(request, "stream_options")) {
    if (!options->is_object()) return WrongType("stream_options", "an object", *options);
    if (!parsed.stream) {
      return InvalidParam("stream_options", "Stream options can only be defined when `stream=True`.");
    }
    const Json* include_usage = Find(*options, "include_usage");
    if (include_usage != nullptr) {
      if (!include_usage->is_boolean()) return WrongType("stream_options.include_usage", "a boolean", *include_usage);
      parsed.include_usage = include_usage->get<bool>();
    }
  }
  ASSIGN_OR_RETURN(std::optional<std::string> user, GetString(request, "user"));
  if (user) parsed.user = *user;
  ASSIGN_OR_RETURN(std::optional<int32_t> priority, GetInt32(request, "priority"));
  if (priority) parsed.generate.set_priority(*priority);
  return ParseSampling(request, *parsed.generate.mutable_sampling());
}

absl::Status CheckMinTokens(const tessera::v1::SamplingParameters& sampling) {
  if (sampling.has_min_tokens() && sampling.has_max_tokens() && sampling.min_tokens() > sampling.max_tokens()) {
    return InvalidParam("min_tokens", CatMessage("'min_tokens' (", sampling.min_tokens(),
                                                 ") must be at most max_tokens (", sampling.max_tokens(), ")"));
  }
  return absl::OkStatus();
}

// Content is a string, null, or a list of parts of which only text parts are understood; parts are joined by
// newlines as vLLM does when the template wants a string.
absl::StatusOr<std::string> FlattenContent(const Json& content, std::string_view param) {
  if (content.is_null()) return std::string();
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return WrongType(param, "a string or a list of content parts", content);
  std::string text;
  for (size_t j = 0; j < content.size(); ++j) {
    const Json& part = content[j];
    const std::string part_param = CatMessage(param, "[", j, "]");
    if (!part.is_object()) return WrongType(part_param, "an object", part);
    const Json* type = Find(part, "type");
    if (type == nullptr || !type->is_string()) {
      return InvalidParam(CatMessage(part_param, ".type"), CatMessage("'", part_param, ".type' must be a string"));
    }
    const std::string type_name = type->get<std::string>();
    if (type_name != "text") {
      return InvalidParam(CatMessage(part_param, ".type"),
                          CatMessage("content part type '", type_name, "' is not supported; only 'text' is"));
    }
    const Json* part_text = Find(part, "text");
    if (part_text == nullptr || !part_text->is_string()) {
      return InvalidParam(CatMessage(part_param, ".text"), CatMessage("'", part_param, ".text' must be a string"));
    }
    if (j > 0) text += '\n';
    text += part_text->get<std::string>();
  }
  return text;
}

bool IsKnownRole(std::string_view role) {
  return role == "system" || role == "user" || role == "assistant" || role == "tool" || role == "developer" ||
         role == "function";
}

absl::Status ParseMessages(const Json& request, tessera::v1::ChatPrompt& chat) {
  const Json* messages = Find(request, "messages");
  if (messages == nullptr) return InvalidParam("messages", "'messages' is required");
  if (!messages->is_array()) return WrongType("messages", "a list of messages", *messages);
  if (messages->empty()) return InvalidParam("messages", "'messages' must contain at least one message");
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& message = (*messages)[i];
    const std::string param = CatMessage("messages[", i, "]");
    if (!message.is_object()) return WrongType(param, "an object", message);
    const Json* role = Find(message, "role");
    if (role == nullptr) return InvalidParam(CatMessage(param, ".role"), CatMessage("'", param, ".role' is required"));
    if (!role->is_string()) return WrongType(CatMessage(param, ".role"), "a string", *role);
    if (!IsKnownRole(role->get<std::string>())) {
      return InvalidParam(CatMessage(param, ".role"), CatMessage("unknown role '", role->get<std::string>(),
                                                                 "' in ", param));
    }
    tessera::v1::ChatMessage* out = chat.add_messages();
    out->set_role(role->get<std::string>());
    auto content = message.find("content");
    if (content != message.end()) {
      ASSIGN_OR_RETURN(std::string text, FlattenContent(*content, CatMessage(param, ".content")));
      out->set_content(std::move(text));
    }
    Json extra = Json::object();
    for (const auto& [key, value] : message.items()) {
      if (key != "role" && key != "content") extra[key] = value;
    }
    if (!extra.empty()) out->set_extra_json(extra.dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return absl::OkStatus();
}

// How the messages are rendered: shared by chat completions and chat-form /tokenize.
absl::Status ParseChatOptions(const Json& request, tessera::v1::ChatPrompt& chat) {
  ASSIGN_OR_RETURN(std::optional<bool> add_generation_prompt, GetBool(request, "add_generation_prompt"));
  ASSIGN_OR_RETURN(std::optional<bool> continue_final, GetBool(request, "continue_final_message"));
  if (continue_final.value_or(false) && add_generation_prompt.value_or(false)) {
    return InvalidParam("continue_final_message",
                        "Cannot set both `continue_final_message` and `add_generation_prompt` to True.");
  }
  chat.set_continue_final_message(continue_final.value_or(false));
  chat.set_add_generation_prompt(add_generation_prompt.value_or(!continue_final.value_or(false)));
  if (const Json* kwargs = Find(request, "chat_template_kwargs")) {
    if (!kwargs->is_object()) return WrongType("chat_template_kwargs", "an object", *kwargs);
    chat.set_chat_template_kwargs_json(kwargs->dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  if (const Json* tools = Find(request, "tools")) {
    if (!tools->is_array()) return WrongType("tools", "a list of tools", *tools);
    chat.set_tools_json(tools->dump(-1, ' ', false, Json::error_handler_t::replace));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<OpenAIRequest> ParseChatCompletionRequest(std::string_view body) {
  ASSIGN_OR_RETURN(Json request, ParseBody(body));
  OpenAIRequest parsed;
  parsed.endpoint = Endpoint::kChatCompletions;
  tessera::v1::ChatPrompt& chat = *parsed.generate.mutable_chat();
  RETURN_IF_ERROR(ParseMessages(request, chat));
  RETURN_IF_ERROR(ParseCommon(request, parsed));
  tessera::v1::SamplingParameters& sampling = *parsed.generate.mutable_sampling();

  // max_completion_tokens replaces the deprecated max_tokens; when both are given it wins, as in vLLM.
  ASSIGN_OR_RETURN(std::optional<int32_t> max_completion_tokens, GetInt32(request, "max_completion_tokens"));
  ASSIGN_OR_RETURN(std::optional<int32_t> max_tokens, GetInt32(request, "max_tokens"));
  if (max_completion_tokens) {
    RETURN_IF_ERROR(SetMaxTokens("max_completion_tokens", *max_completion_tokens, sampling));
  } else if (max_tokens) {
    RETURN_IF_ERROR(SetMaxTokens("max_tokens", *max_tokens, sampling));
  }
  RETURN_IF_ERROR(CheckMinTokens(sampling));

  ASSIGN_OR_RETURN(std::optional<bool> logprobs, GetBool(request, "logprobs"));
  ASSIGN_OR_RETURN(std::optional<int32_t> top_logprobs, GetInt32(request, "top_logprobs"));
  if (top_logprobs) {
    if (*top_logprobs < 0 || *top_logprobs > kMaxLogprobs) {
      return InvalidParam("top_logprobs", CatMessage("'top_logprobs' must be in [0, ", kMaxLogprobs, "], got ",
                                                     *top_logprobs));
    }
    if (*top_logprobs > 0 && !logprobs.value_or(false)) {
      return InvalidParam("top_logprobs", "when using `top_logprobs`, `logprobs` must be set to true.");
    }
  }
  if (logprobs.value_or(false)) {
    parsed.return_logprobs = true;
    parsed.top_logprobs = top_logprobs.value_or(0);
    sampling.set_logprobs(parsed.top_logprobs);
  }

  RETURN_IF_ERROR(ParseChatOptions(request, chat));
  return parsed;
}

absl::StatusOr<OpenAIRequest> ParseCompletionRequest(std::string_view body) {
  ASSIGN_OR_RETURN(Json request, ParseBody(body));
  OpenAIRequest parsed;
  parsed.endpoint = Endpoint::kCompletions;

  // prompt: a string or a token id list, or a one-element batch of either. Batches of several prompts would be
  // several generations; they are not supported yet.
  const Json* prompt = Find(request, "prompt");
  if (prompt == nullptr) return InvalidParam("prompt", "'prompt' is required");
  const Json* single = prompt;
  if (prompt->is_array() && !prompt->empty() && (prompt->front().is_string() || prompt->front().is_array())) {
    if (prompt->size() != 1) return InvalidParam("prompt", "batches of several prompts are not supported");
    single = &prompt->front();
  }
  if (single->is_string()) {
    parsed.generate.set_text(single->get<std::string>());
  } else if (single->is_array()) {
    if (single->empty()) return InvalidParam("prompt", "'prompt' must not be empty");
    tessera::v1::TokenIds& ids = *parsed.generate.mutable_token_ids();
    for (const Json& id : *single) {
      if (!id.is_number()) return WrongType("prompt", "a string or a list of token ids", id);
      ASSIGN_OR_RETURN(int32_t token_id, AsInt32(id, "prompt"));
      if (token_id < 0) return InvalidParam("prompt", CatMessage("token id ", token_id, " in 'prompt' is negative"));
      ids.add_ids(token_id);
    }
  } else {
    return WrongType("prompt", "a string or a list of token ids", *single);
  }

  RETURN_IF_ERROR(ParseCommon(request, parsed));
  tessera::v1::SamplingParameters& sampling = *parsed.generate.mutable_sampling();
  ASSIGN_OR_RETURN(std::optional<int32_t> max_tokens, GetInt32(request, "max_tokens"));
  RETURN_IF_ERROR(SetMaxTokens("max_tokens", max_tokens.value_or(kDefaultCompletionMaxTokens), sampling));
  RETURN_IF_ERROR(CheckMinTokens(sampling));
  ASSIGN_OR_RETURN(std::optional<int32_t> best_of, GetInt32(request, "best_of"));
  if (best_of) {
    const int32_t n = sampling.has_n() ? sampling.n() : 1;
    if (*best_of > kMaxChoices) {
      return InvalidParam("best_of", CatMessage("'best_of' must be at most ", kMaxChoices, ", got ", *best_of));
    }
    if (*best_of < n) {
      return InvalidParam("best_of", CatMessage("'best_of' (", *best_of, ") must be at least n (", n, ")"));
    }
    if (parsed.stream && *best_of > n) return InvalidParam("best_of", "'best_of' is not supported when streaming");
    sampling.set_best_of(*best_of);
  }
  ASSIGN_OR_RETURN(std::optional<int32_t> logprobs, GetInt32(request, "logprobs"));
  if (logprobs) {
    if (*logprobs < 0 || *logprobs > kMaxLogprobs) {
      return InvalidParam("logprobs", CatMessage("'logprobs' must be in [0, ", kMaxLogprobs, "], got ", *logprobs));
    }
    parsed.return_logprobs = true;
    parsed.top_logprobs = *logprobs;
    sampling.set_logprobs(*logprobs);
  }
  ASSIGN_OR_RETURN(std::optional<bool> echo, GetBool(request, "echo"));
  parsed.echo = echo.value_or(false);
  parsed.generate.set_echo_prompt_text(parsed.echo);
  if (const Json* suffix = Find(request, "suffix")) {
    (void)suffix;
    return InvalidParam("suffix", "'suffix' is not currently supported");
  }
  return parsed;
}

absl::StatusOr<tessera::v1::TokenizeRequest> ParseTokenizeRequest(std::string_view body) {
  ASSIGN_OR_RETURN(Json request, ParseBody(body));
  tessera::v1::TokenizeRequest parsed;
  ASSIGN_OR_RETURN(std::optional<std::string> model, GetString(request, "model"));
  if (model) parsed.set_model(*model);
  ASSIGN_OR_RETURN(std::optional<bool> add_special_tokens, GetBool(request, "add_special_tokens"));
  if (Find(request, "messages") != nullptr) {
    if (Find(request, "prompt") != nullptr) {
      return InvalidParam("prompt", "give either 'prompt' or 'messages', not both");
    }
    tessera::v1::ChatPrompt& chat = *parsed.mutable_chat();
    RETURN_IF_ERROR(ParseMessages(request, chat));
    RETURN_IF_ERROR(ParseChatOptions(request, chat));
    // The chat template writes the special tokens itself, so vLLM adds none by default here.
    parsed.set_add_special_tokens(add_special_tokens.value_or(false));
    return parsed;
  }
  ASSIGN_OR_RETURN(std::optional<std::string> prompt, GetString(request, "prompt"));
  if (!prompt) return InvalidParam("prompt", "'prompt' (a string) or 'messages' is required");
  parsed.set_text(*prompt);
  parsed.set_add_special_tokens(add_special_tokens.value_or(true));
  return parsed;
}

absl::StatusOr<tessera::v1::DetokenizeRequest> ParseDetokenizeRequest(std::string_view body) {
  ASSIGN_OR_RETURN(Json request, ParseBody(body));
  tessera::v1::DetokenizeRequest parsed;
  ASSIGN_OR_RETURN(std::optional<std::string> model, GetString(request, "model"));
  if (model) parsed.set_model(*model);
  if (Find(request, "tokens") == nullptr) return InvalidParam("tokens", "'tokens' is required");
  RETURN_IF_ERROR(ParseIntList(request, "tokens", *parsed.mutable_token_ids()));
  for (int i = 0; i < parsed.token_ids_size(); ++i) {
    if (parsed.token_ids(i) < 0) {
      return InvalidParam("tokens", CatMessage("tokens[", i, "] = ", parsed.token_ids(i), " is negative"));
    }
  }
  return parsed;
}

}  // namespace tessera::gateway
