// The engine flags of the model-running subcommands; they live with the engine (services/worker/engine/
// engine_flags.h) so that tessera-worker takes the same flags. Re-exported here under the CLI's namespace.
#pragma once

#include "services/worker/engine/engine_flags.h"

namespace tessera::cli {

using engine::EngineConfigFromFlags;
using engine::EngineFlagSpecs;
using engine::LogEngineInfo;

}  // namespace tessera::cli
