// The engine flags every model-running subcommand shares (model, device, dtype, cache and batching limits), in
// the spelling vLLM users know, and their translation into an EngineConfig.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/command_line.h"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/llm_engine.h"

namespace tessera::cli {

std::vector<FlagSpec> EngineFlagSpecs();
absl::StatusOr<engine::EngineConfig> EngineConfigFromFlags(const CommandLine& flags);
// One stderr line on what was loaded: backend, weights, KV capacity.
void LogEngineInfo(const engine::LLMEngine& engine);

}  // namespace tessera::cli
