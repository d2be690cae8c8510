#include "services/worker/engine/sampling_params.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace tessera::engine {

absl::Status SamplingParams::Validate() const {
  if (max_tokens < 1) return absl::InvalidArgumentError(absl::StrCat("max_tokens must be at least 1, got ", max_tokens));
  if (!std::isfinite(temperature) || temperature < 0.0f)
    return absl::InvalidArgumentError(absl::StrCat("temperature must be non-negative, got ", temperature));
  return absl::OkStatus();
}

}  // namespace tessera::engine
