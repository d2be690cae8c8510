#include "services/worker/engine/prompt_processor.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::engine {

absl::StatusOr<std::unique_ptr<PromptProcessor>> PromptProcessor::Create(const std::string& model_dir) {
  std::unique_ptr<Tokenizer> tokenizer;
  if (std::filesystem::exists(std::filesystem::path(model_dir) / "tokenizer.json")) {
    ASSIGN_OR_RETURN(tokenizer, Tokenizer::FromFolder(model_dir));
  }
  return std::unique_ptr<PromptProcessor>(new PromptProcessor(model_dir, std::move(tokenizer)));
}

absl::Status PromptProcessor::RequireTokenizer() const {
  if (tokenizer_) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("the model folder ", model_dir_, " has no tokenizer.json; give prompts as token ids"));
}

absl::StatusOr<const PromptProcessor::LoadedTemplate*> PromptProcessor::Template(bool has_tools) const {
  std::lock_guard<std::mutex> lock(template_mutex_);
  std::unique_ptr<LoadedTemplate>& slot = templates_[has_tools ? 1 : 0];
  if (!slot) {
    ASSIGN_OR_RETURN(ModelChatTemplate model, LoadModelChatTemplate(model_dir_, has_tools));
    ASSIGN_OR_RETURN(ChatTemplate parsed, ChatTemplate::Parse(model.source));
    slot = std::make_unique<LoadedTemplate>(LoadedTemplate{std::move(model), std::move(parsed)});
  }
  return slot.get();
}

absl::StatusOr<std::string> PromptProcessor::RenderChat(const nlohmann::ordered_json& messages,
                                                        const ChatTemplateOptions& chat_options) const {
  if (!messages.is_array()) return absl::InvalidArgumentError("messages must be a list");
  const bool has_tools = chat_options.tools.is_array() && !chat_options.tools.empty();
  ASSIGN_OR_RETURN(const LoadedTemplate* loaded, Template(has_tools));
  // Rendering is thread-safe; only loading needs the lock.
  return loaded->parsed.Render(BuildChatTemplateContext(loaded->model, messages, chat_options));
}

absl::StatusOr<ProcessedPrompt> PromptProcessor::Process(const Prompt& prompt,
                                                         const ChatTemplateOptions& chat_options) const {
  const int kinds = !prompt.token_ids.empty() + prompt.text.has_value() + prompt.messages.has_value();
  if (kinds > 1) return absl::InvalidArgumentError("a prompt gives exactly one of token ids, text or messages");
  ProcessedPrompt out;
  if (!prompt.text && !prompt.messages) {
    out.token_ids = prompt.token_ids;
    return out;
  }
  RETURN_IF_ERROR(RequireTokenizer());
  if (prompt.text) {
    out.text = *prompt.text;
    ASSIGN_OR_RETURN(out.token_ids, tokenizer_->Encode(out.text, /*add_special_tokens=*/true));
    return out;
  }
  ASSIGN_OR_RETURN(out.text, RenderChat(*prompt.messages, chat_options));
  // The template already wrote the special tokens (BOS), so none are added again, as vLLM's chat does.
  ASSIGN_OR_RETURN(out.token_ids, tokenizer_->Encode(out.text, /*add_special_tokens=*/false));
  return out;
}

absl::Status PromptProcessor::PrepareParams(SamplingParams& params) const {
  if (params.bad_words.empty()) return absl::OkStatus();
  if (!tokenizer_) return absl::FailedPreconditionError("bad_words need the model's tokenizer.json");
  params.bad_words_token_ids.clear();
  for (const std::string& word : params.bad_words) {
    for (const std::string& variant : {word, " " + word}) {
      ASSIGN_OR_RETURN(std::vector<int32_t> ids, tokenizer_->Encode(variant, /*add_special_tokens=*/false));
      if (!ids.empty() && std::find(params.bad_words_token_ids.begin(), params.bad_words_token_ids.end(), ids) ==
                              params.bad_words_token_ids.end()) {
        params.bad_words_token_ids.push_back(std::move(ids));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace tessera::engine
