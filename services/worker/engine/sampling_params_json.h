// Reads sampling parameters from a JSON object spelled as vLLM's SamplingParams (the offline CLI's per-line
// "sampling_params"), on top of defaults. Unknown keys and wrong types are errors naming the key.
#pragma once

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "services/worker/engine/sampling_params.h"

namespace tessera::engine {

absl::StatusOr<SamplingParams> SamplingParamsFromJson(const nlohmann::json& j, SamplingParams base);

}  // namespace tessera::engine
