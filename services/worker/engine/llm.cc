#include "services/worker/engine/llm.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::engine {

LLM::LLM(std::unique_ptr<LLMEngine> engine, std::unique_ptr<PromptProcessor> prompts)
    : engine_(std::move(engine)), prompts_(std::move(prompts)), output_processor_(prompts_->tokenizer()) {}

absl::StatusOr<std::unique_ptr<LLM>> LLM::Create(const EngineConfig& config) {
  ASSIGN_OR_RETURN(auto engine, LLMEngine::Create(config));
  ASSIGN_OR_RETURN(auto prompts, PromptProcessor::Create(config.model));
  return std::unique_ptr<LLM>(new LLM(std::move(engine), std::move(prompts)));
}

absl::StatusOr<std::vector<int32_t>> LLM::PromptTokenIds(const Prompt& prompt, const ChatTemplateOptions& chat_options) {
  ASSIGN_OR_RETURN(ProcessedPrompt processed, prompts_->Process(prompt, chat_options));
  return std::move(processed.token_ids);
}

absl::StatusOr<std::vector<RequestOutput>> LLM::Generate(const std::vector<Prompt>& prompts,
                                                         const std::vector<SamplingParams>& params,
                                                         const ProgressCallback& progress,
                                                         const ChatTemplateOptions& chat_options) {
  if (params.size() != 1 && params.size() != prompts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("got ", params.size(), " sampling parameter sets for ",
                                                   prompts.size(), " prompts; pass one or one per prompt"));
  }
  // Ids are unique per call so that the engine's own bookkeeping never mixes batches.
  const std::string prefix = absl::StrCat("batch", next_batch_++, "-");
  std::vector<std::string> ids;
  auto abort_all = [&]() {
    for (const std::string& id : ids) {
      engine_->AbortRequest(id);
      output_processor_.RemoveRequest(id);
    }
  };
  for (size_t i = 0; i < prompts.size(); ++i) {
    SamplingParams p = params.size() == 1 ? params[0] : params[i];
    absl::Status status = prompts_->PrepareParams(p);
    absl::StatusOr<std::vector<int32_t>> token_ids = status.ok() ? PromptTokenIds(prompts[i], chat_options) : status;
    if (token_ids.ok()) {
      ids.push_back(absl::StrCat(prefix, i));
      status = engine_->AddRequest(ids.back(), *token_ids, p);
      if (status.ok()) output_processor_.AddRequest(ids.back(), *token_ids, p);
    } else {
      status = token_ids.status();
    }
    if (!status.ok()) {
      abort_all();
      return absl::Status(status.code(), absl::StrCat("prompt ", i, ": ", status.message()));
    }
  }

  std::vector<RequestOutput> results(prompts.size());
  std::vector<bool> started(prompts.size(), false);
  GenerationProgress state;
  state.total = static_cast<int>(prompts.size());
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> deltas;
  std::vector<StopStringMatch> stops;
  auto record = [&](RequestOutput& out) -> absl::Status {
    const size_t index = std::stoul(out.request_id.substr(prefix.size()));
    // A stop string completes a request in the output processor (with its text) before the engine's own final
    // report, which then carries no text: keep the first.
    if (results[index].finished) return absl::OkStatus();
    RETURN_IF_ERROR(output_processor_.Process(out, deltas, stops));
    for (const CompletionOutput& c : out.outputs) state.generated_tokens += c.num_new_tokens;
    if (!started[index]) {
      started[index] = true;
      state.prompt_tokens += static_cast<int64_t>(out.prompt_token_ids.size());
    }
    if (out.finished) {
      results[index] = std::move(out);
      ++state.completed;
    }
    return absl::OkStatus();
  };
  while (engine_->HasUnfinishedRequests()) {
    absl::StatusOr<std::vector<RequestOutput>> step = engine_->Step();
    absl::Status status = step.status();
    for (size_t i = 0; status.ok() && i < step->size(); ++i) status = record((*step)[i]);
    // Stop strings end sequences in the engine; a request whose last sequence ends so reports once more.
    for (size_t i = 0; status.ok() && i < stops.size(); ++i) {
      if (auto final_output = engine_->StopSequence(stops[i].request_id, stops[i].index, stops[i].stop_string)) {
        for (CompletionOutput& c : final_output->outputs) c.num_new_tokens = 0;
        status = record(*final_output);
      }
    }
    stops.clear();
    if (!status.ok()) {
      abort_all();
      return status;
    }
    state.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (progress) progress(state);
  }
  return results;
}

absl::StatusOr<std::vector<RequestOutput>> LLM::Generate(const std::vector<std::vector<int32_t>>& prompts,
                                                         const std::vector<SamplingParams>& params,
                                                         const ProgressCallback& progress) {
  std::vector<Prompt> wrapped;
  for (const auto& p : prompts) wrapped.push_back(Prompt::Ids(p));
  return Generate(wrapped, params, progress);
}

absl::StatusOr<RequestOutput> LLM::Generate(const std::vector<int32_t>& prompt, const SamplingParams& params) {
  ASSIGN_OR_RETURN(std::vector<RequestOutput> outputs,
                   Generate(std::vector<Prompt>{Prompt::Ids(prompt)}, std::vector<SamplingParams>{params}));
  return std::move(outputs[0]);
}

}  // namespace tessera::engine
