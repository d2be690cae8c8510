// What `--model` names, turned into a local model folder: an existing folder as it is, otherwise a hub model id
// (`org/name`) fetched into the cache (or found there in offline mode), checked to hold what the engine loads.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/hub/hub_environment.h"

namespace tessera::hub {

struct ModelSource {
  std::string model;     // folder or org/name
  std::string revision;  // empty: the hub's default branch
  HubKind hub = HubKind::kHuggingFace;
  std::string download_dir;   // empty: TESSERA_CACHE or ~/.cache/tessera
  bool need_weights = true;   // false for dummy weights: config and tokenizer suffice
  bool show_progress = true;
};

// Reads the environment (HubEnvironment::FromProcessEnvironment).
absl::StatusOr<std::string> ResolveModelPath(const ModelSource& source);
absl::StatusOr<std::string> ResolveModelPath(const ModelSource& source, const HubEnvironment& env);

// OK when `dir` has config.json and safetensors weights (every shard its index names); otherwise FailedPrecondition
// naming what is missing.
absl::Status CheckModelFolder(const std::string& dir, bool need_weights);

}  // namespace tessera::hub
