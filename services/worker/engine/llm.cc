#include "services/worker/engine/llm.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::engine {

absl::StatusOr<std::unique_ptr<LLM>> LLM::Create(const EngineConfig& config) {
  ASSIGN_OR_RETURN(auto engine, LLMEngine::Create(config));
  return std::unique_ptr<LLM>(new LLM(std::move(engine)));
}

absl::StatusOr<std::vector<RequestOutput>> LLM::Generate(const std::vector<std::vector<int32_t>>& prompts,
                                                         const std::vector<SamplingParams>& params,
                                                         const ProgressCallback& progress) {
  if (params.size() != 1 && params.size() != prompts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", params.size(), " sampling parameter sets for ",
                                                   prompts.size(), " prompts; pass one or one per prompt"));
  }
  // Ids are unique per call so that the engine's own bookkeeping never mixes batches.
  const std::string prefix = absl::StrCat("batch", next_batch_++, "-");
  std::vector<std::string> ids;
  for (size_t i = 0; i < prompts.size(); ++i) {
    ids.push_back(absl::StrCat(prefix, i));
    absl::Status added = engine_->AddRequest(ids.back(), prompts[i], params.size() == 1 ? params[0] : params[i]);
    if (!added.ok()) {
      for (const std::string& id : ids) engine_->AbortRequest(id);
      return absl::Status(added.code(), absl::StrCat("prompt ", i, ": ", added.message()));
    }
  }

  std::vector<RequestOutput> results(prompts.size());
  GenerationProgress state;
  state.total = static_cast<int>(prompts.size());
  const auto start = std::chrono::steady_clock::now();
  while (engine_->HasUnfinishedRequests()) {
    absl::StatusOr<std::vector<RequestOutput>> step = engine_->Step();
    if (!step.ok()) {
      for (const std::string& id : ids) engine_->AbortRequest(id);
      return step.status();
    }
    for (RequestOutput& out : *step) {
      state.generated_tokens += out.num_new_tokens;
      if (out.token_ids.size() == 1 && out.num_new_tokens == 1) {
        state.prompt_tokens += static_cast<int64_t>(out.prompt_token_ids.size());
      }
      if (!out.finished) continue;
      const size_t index = std::stoul(out.request_id.substr(prefix.size()));
      results[index] = std::move(out);
      ++state.completed;
    }
    state.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (progress) progress(state);
  }
  return results;
}

absl::StatusOr<RequestOutput> LLM::Generate(const std::vector<int32_t>& prompt, const SamplingParams& params) {
  const std::vector<std::vector<int32_t>> prompts = {prompt};
  ASSIGN_OR_RETURN(std::vector<RequestOutput> outputs, Generate(prompts, std::vector<SamplingParams>{params}));
  return std::move(outputs[0]);
}

}  // namespace tessera::engine
