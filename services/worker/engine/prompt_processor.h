// Turns prompts into the token ids the engine runs, the same way for the offline LLM and the worker service: text
// is tokenized with the model's special tokens, chat conversations are rendered with the model's chat template and
// tokenized without adding special tokens again, token ids pass through. Also tokenizes bad_words for the sampler.
// Thread-safe: the worker calls it on its gRPC threads, never on the engine thread.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/chat_template/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "services/worker/engine/sampling_params.h"

namespace tessera::engine {

// One prompt: token ids, text (tokenized with the model's special tokens, e.g. BOS), or a chat conversation
// (rendered with the model's chat template). Exactly one is set.
struct Prompt {
  std::vector<int32_t> token_ids;
  std::optional<std::string> text;
  std::optional<nlohmann::ordered_json> messages;

  static Prompt Ids(std::vector<int32_t> ids) { return Prompt{std::move(ids), std::nullopt, std::nullopt}; }
  static Prompt Text(std::string text) { return Prompt{{}, std::move(text), std::nullopt}; }
  static Prompt Chat(nlohmann::ordered_json messages) { return Prompt{{}, std::nullopt, std::move(messages)}; }
};

// A prompt ready for the engine. `text` is what the model reads (the rendered chat or the given text); it is empty
// for token-id prompts.
struct ProcessedPrompt {
  std::vector<int32_t> token_ids;
  std::string text;
};

class PromptProcessor {
 public:
  // Loads the tokenizer when the folder has a tokenizer.json; without one only token-id prompts work.
  static absl::StatusOr<std::unique_ptr<PromptProcessor>> Create(const std::string& model_dir);

  absl::StatusOr<ProcessedPrompt> Process(const Prompt& prompt, const ChatTemplateOptions& chat_options) const;
  // Renders a conversation with the model's chat template (loaded and parsed on first use).
  absl::StatusOr<std::string> RenderChat(const nlohmann::ordered_json& messages,
                                         const ChatTemplateOptions& chat_options) const;
  // Fills bad_words_token_ids by tokenizing each bad word with and without a leading space, as vLLM does.
  absl::Status PrepareParams(SamplingParams& params) const;

  // Null when the model folder has no tokenizer.json.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  // FailedPrecondition naming the folder when there is no tokenizer, for callers that need one.
  absl::Status RequireTokenizer() const;

 private:
  PromptProcessor(std::string model_dir, std::unique_ptr<Tokenizer> tokenizer)
      : model_dir_(std::move(model_dir)), tokenizer_(std::move(tokenizer)) {}

  struct LoadedTemplate {
    ModelChatTemplate model;
    ChatTemplate parsed;
  };
  // The template for conversations with or without tools (a folder may ship a separate "tool_use" template).
  absl::StatusOr<const LoadedTemplate*> Template(bool has_tools) const;

  std::string model_dir_;
  std::unique_ptr<Tokenizer> tokenizer_;
  mutable std::mutex template_mutex_;
  mutable std::unique_ptr<LoadedTemplate> templates_[2];  // [has_tools]
};

}  // namespace tessera::engine
