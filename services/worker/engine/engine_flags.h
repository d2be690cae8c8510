// The engine flags every model-running program shares (the tessera CLI's subcommands and tessera-worker: model,
// device, dtype, cache and batching limits), in the spelling vLLM users know, and their translation into an
// EngineConfig.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/command_line.h"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/llm_engine.h"

namespace tessera::engine {

std::vector<FlagSpec> EngineFlagSpecs();
absl::StatusOr<EngineConfig> EngineConfigFromFlags(const CommandLine& flags);
// One stderr line on what was loaded: backend, weights, KV capacity.
void LogEngineInfo(const LLMEngine& engine);
void LogEngineInfo(const ModelConfig& model, const EngineInfo& info);

}  // namespace tessera::engine
