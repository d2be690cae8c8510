// Offline batch generation, the counterpart of vLLM's `LLM(model=...).generate(prompts, SamplingParams)` and
// `LLM.chat(messages)`: load a model folder once, then generate for token ids, text or chat conversations, one or
// a batch at a time, with text detokenized incrementally, stop strings applied and progress reported.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/chat_template/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/llm_engine.h"
#include "services/worker/engine/output_processor.h"
#include "services/worker/engine/prompt_processor.h"
#include "services/worker/engine/request_output.h"

namespace tessera::engine {

struct GenerationProgress {
  int completed = 0;
  int total = 0;
  int64_t prompt_tokens = 0;     // prompt tokens prefilled so far
  int64_t generated_tokens = 0;  // tokens generated so far
  double elapsed_seconds = 0.0;
};
using ProgressCallback = std::function<void(const GenerationProgress&)>;

class LLM {
 public:
  // Loads the model, and its tokenizer when the folder has a tokenizer.json (text prompts need it).
  static absl::StatusOr<std::unique_ptr<LLM>> Create(const EngineConfig& config);

  // Generates for every prompt; `params` holds one entry for all prompts or one per prompt. Outputs come back in
  // prompt order with their text. Invalid prompts or parameters fail the whole call before anything runs.
  absl::StatusOr<std::vector<RequestOutput>> Generate(const std::vector<Prompt>& prompts,
                                                      const std::vector<SamplingParams>& params,
                                                      const ProgressCallback& progress = nullptr,
                                                      const ChatTemplateOptions& chat_options = {});
  absl::StatusOr<std::vector<RequestOutput>> Generate(const std::vector<std::vector<int32_t>>& prompts,
                                                      const std::vector<SamplingParams>& params,
                                                      const ProgressCallback& progress = nullptr);
  absl::StatusOr<RequestOutput> Generate(const std::vector<int32_t>& prompt, const SamplingParams& params);

  // Turns a prompt into token ids as Generate does (tokenizing text, rendering chats).
  absl::StatusOr<std::vector<int32_t>> PromptTokenIds(const Prompt& prompt, const ChatTemplateOptions& chat_options);
  // The model's default sampling parameters (generation_config.json), as vLLM's get_default_sampling_params.
  SamplingParams DefaultSamplingParams() const { return engine_->DefaultSamplingParams(); }

  LLMEngine& engine() { return *engine_; }
  const Tokenizer* tokenizer() const { return prompts_->tokenizer(); }

 private:
  LLM(std::unique_ptr<LLMEngine> engine, std::unique_ptr<PromptProcessor> prompts);

  std::unique_ptr<LLMEngine> engine_;
  std::unique_ptr<PromptProcessor> prompts_;
  OutputProcessor output_processor_;
  uint64_t next_batch_ = 0;
};

}  // namespace tessera::engine
