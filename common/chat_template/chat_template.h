// Hugging Face chat templates: parses a model's Jinja2 `chat_template` once and renders conversations into the
// prompt text exactly as transformers' apply_chat_template does (trim_blocks, lstrip_blocks, HF's tojson,
// raise_exception, strftime_now). Hostile templates fail with an error naming the template line, never crash.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera {

namespace jinja {
struct Node;
}

class ChatTemplate {
 public:
  // Parse once; syntax error -> InvalidArgument "chat template: line L, column C: ...".
  static absl::StatusOr<ChatTemplate> Parse(std::string_view source);

  // Renders with the context {messages, add_generation_prompt, tools?, bos_token, eos_token, ...extra kwargs}.
  // Runtime errors (including raise_exception's message) -> InvalidArgument "chat template: line L: ...";
  // runaway templates (endless loops, huge outputs) -> ResourceExhausted. Thread-safe.
  // Key order matters to templates (`tools | tojson`, `for k, v in d.items()`): nlohmann::json sorts object keys,
  // so pass nlohmann::ordered_json (parsed from the request) to render exactly what transformers renders.
  absl::StatusOr<std::string> Render(const nlohmann::ordered_json& context) const;
  absl::StatusOr<std::string> Render(const nlohmann::json& context) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<jinja::Node>>> nodes_;
};

// Ordered JSON keeps the caller's key order (see Render); plain nlohmann::json values convert implicitly.
struct ChatTemplateOptions {
  bool add_generation_prompt = true;
  nlohmann::ordered_json kwargs = nlohmann::ordered_json::object();  // extra variables, e.g. {"enable_thinking": false}
  nlohmann::ordered_json tools = nullptr;                              // OpenAI-style tool list, or null
};

// A model folder's template and the special tokens transformers passes to it.
struct ModelChatTemplate {
  std::string source;
  // bos_token, eos_token, unk_token, pad_token, additional_special_tokens: those the config sets.
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
};

// Reads chat_template.jinja if present (as transformers does), else `chat_template` from tokenizer_config.json:
// a string, or a list of {name, template} where "tool_use" is picked when `has_tools` and exists, else "default".
absl::StatusOr<ModelChatTemplate> LoadModelChatTemplate(const std::string& model_dir, bool has_tools = false);

// The render context apply_chat_template builds: special tokens, then messages, tools, documents (null),
// add_generation_prompt, then `options.kwargs` (which override everything else).
nlohmann::ordered_json BuildChatTemplateContext(const ModelChatTemplate& model, const nlohmann::ordered_json& messages,
                                                const ChatTemplateOptions& options);

// Convenience for model folders: load, parse and render in one call.
absl::StatusOr<std::string> ApplyChatTemplate(const std::string& model_dir, const nlohmann::ordered_json& messages,
                                              const ChatTemplateOptions& options);
absl::StatusOr<std::string> ApplyChatTemplate(const std::string& model_dir, const nlohmann::json& messages,
                                              const ChatTemplateOptions& options);

}  // namespace tessera
