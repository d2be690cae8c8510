// Offline batch generation, the counterpart of vLLM's `LLM(model=...).generate(prompts, SamplingParams)`: load a
// model folder once, then generate for one prompt or a batch, with progress reported as prompts finish.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/llm_engine.h"
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
  static absl::StatusOr<std::unique_ptr<LLM>> Create(const EngineConfig& config);

  // Generates for every prompt; `params` holds one entry for all prompts or one per prompt. Outputs come back in
  // prompt order. Invalid prompts or parameters fail the whole call before anything runs.
  absl::StatusOr<std::vector<RequestOutput>> Generate(const std::vector<std::vector<int32_t>>& prompts,
                                                      const std::vector<SamplingParams>& params,
                                                      const ProgressCallback& progress = nullptr);
  absl::StatusOr<RequestOutput> Generate(const std::vector<int32_t>& prompt, const SamplingParams& params);

  LLMEngine& engine() { return *engine_; }

 private:
  explicit LLM(std::unique_ptr<LLMEngine> engine) : engine_(std::move(engine)) {}
  std::unique_ptr<LLMEngine> engine_;
  uint64_t next_batch_ = 0;
};

}  // namespace tessera::engine
