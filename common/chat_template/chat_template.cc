#include "common/chat_template/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/chat_template/parser.h"
#include "common/chat_template/renderer.h"
#include "common/status_macros.h"

namespace tessera {
namespace {

absl::Status Prefixed(const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat("chat template: ", status.message()));
}

absl::StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path.string()));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path.string()));
  return buffer.str();
}

// A special token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
std::optional<std::string> TokenText(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return std::nullopt;
}

template <typename Json>
absl::StatusOr<std::string> RenderJson(const jinja::NodeList* nodes, const Json& context) {
  if (nodes == nullptr) return absl::FailedPreconditionError("chat template: not parsed");
  if (!context.is_object()) return absl::InvalidArgumentError("chat template: the context must be a JSON object");
  auto value = jinja::Value::FromJson(context);
  if (!value.ok()) return Prefixed(value.status());
  jinja::Renderer renderer{jinja::RenderLimits()};
  auto text = renderer.Render(*nodes, *value);
  if (!text.ok()) return Prefixed(text.status());
  return text;
}

}  // namespace

absl::StatusOr<ChatTemplate> ChatTemplate::Parse(std::string_view source) {
  auto nodes = jinja::ParseTemplate(absl::string_view(source.data(), source.size()));
  if (!nodes.ok()) return Prefixed(nodes.status());
  ChatTemplate result;
  result.nodes_ = std::make_shared<const jinja::NodeList>(std::move(*nodes));
  return result;
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::json& context) const {
  return RenderJson(nodes_.get(), context);
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context) const {
  return RenderJson(nodes_.get(), context);
}

absl::StatusOr<ModelChatTemplate> LoadModelChatTemplate(const std::string& model_dir, bool has_tools) {
  namespace fs = std::filesystem;
  ModelChatTemplate model;
  const fs::path dir(model_dir);
  const fs::path config_path = dir / "tokenizer_config.json";
  nlohmann::json config = nlohmann::json::object();
  std::error_code ec;
  if (fs::exists(config_path, ec)) {
    ASSIGN_OR_RETURN(std::string text, ReadFile(config_path));
    config = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(config_path.string(), ": not a JSON object"));
    }
  }
  for (const char* name : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    if (!config.contains(name)) continue;
    if (auto text = TokenText(config[name])) model.special_tokens[name] = *text;
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    nlohmann::ordered_json tokens = nlohmann::ordered_json::array();
    for (const auto& token : config["additional_special_tokens"]) {
      if (auto text = TokenText(token)) tokens.push_back(*text);
    }
    model.special_tokens["additional_special_tokens"] = std::move(tokens);
  }

  const fs::path jinja_path = dir / "chat_template.jinja";
  if (fs::exists(jinja_path, ec)) {
    ASSIGN_OR_RETURN(model.source, ReadFile(jinja_path));
    return model;
  }
  if (!config.contains("chat_template") || config["chat_template"].is_null()) {
    return absl::NotFoundError(absl::StrCat(model_dir, ": no chat_template in tokenizer_config.json and no "
                                                       "chat_template.jinja"));
  }
  const nlohmann::json& field = config["chat_template"];
  if (field.is_string()) {
    model.source = field.get<std::string>();
    return model;
  }
  if (!field.is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(config_path.string(), ": chat_template must be a string or a list"));
  }
  const nlohmann::json* chosen = nullptr;
  const nlohmann::json* fallback = nullptr;
  for (const auto& entry : field) {
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("template") ||
        !entry["template"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(config_path.string(), ": chat_template entries must be {\"name\", \"template\"} strings"));
    }
    const std::string name = entry["name"].get<std::string>();
    if (name == "tool_use" && has_tools) chosen = &entry;
    if (name == "default") fallback = &entry;
  }
  if (chosen == nullptr) chosen = fallback;
  if (chosen == nullptr) {
    return absl::NotFoundError(absl::StrCat(config_path.string(), ": chat_template list has no \"default\" entry"));
  }
  model.source = (*chosen)["template"].get<std::string>();
  return model;
}

nlohmann::ordered_json BuildChatTemplateContext(const ModelChatTemplate& model, const nlohmann::ordered_json& messages,
                                                const ChatTemplateOptions& options) {
  nlohmann::ordered_json context =
      model.special_tokens.is_object() ? model.special_tokens : nlohmann::ordered_json::object();
  context["messages"] = messages;
  context["tools"] = options.tools;
  context["documents"] = nullptr;
  context["add_generation_prompt"] = options.add_generation_prompt;
  if (options.kwargs.is_object()) {
    for (auto it = options.kwargs.begin(); it != options.kwargs.end(); ++it) context[it.key()] = it.value();
  }
  return context;
}

absl::StatusOr<std::string> ApplyChatTemplate(const std::string& model_dir, const nlohmann::json& messages,
                                              const ChatTemplateOptions& options) {
  return ApplyChatTemplate(model_dir, nlohmann::ordered_json(messages), options);
}

absl::StatusOr<std::string> ApplyChatTemplate(const std::string& model_dir, const nlohmann::ordered_json& messages,
                                              const ChatTemplateOptions& options) {
  bool has_tools = options.tools.is_array() && !options.tools.empty();
  ASSIGN_OR_RETURN(ModelChatTemplate model, LoadModelChatTemplate(model_dir, has_tools));
  ASSIGN_OR_RETURN(ChatTemplate chat_template, ChatTemplate::Parse(model.source));
  return chat_template.Render(BuildChatTemplateContext(model, messages, options));
}

}  // namespace tessera
