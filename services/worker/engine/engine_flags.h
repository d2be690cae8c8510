// The engine flags every model-running program shares (the tessera CLI's subcommands and tessera-worker: model,
// device, dtype, cache and batching limits), in the spelling vLLM users know, and their translation into an
// EngineConfig. A --model that names a hub id (org/name) is resolved to a cached snapshot, downloading it first.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "common/command_line.h"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/llm_engine.h"

namespace tessera::engine {

std::vector<FlagSpec> EngineFlagSpecs();
// config.model is always a local folder: --model itself, or the snapshot of the hub id it names.
absl::StatusOr<EngineConfig> EngineConfigFromFlags(const CommandLine& flags);
// One stderr line on what was loaded: backend, weights, KV capacity.
void LogEngineInfo(const LLMEngine& engine);
void LogEngineInfo(const ModelConfig& model, const EngineInfo& info);

}  // namespace tessera::engine
