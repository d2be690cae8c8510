// `snapshot_download`: makes one revision of a hub model present in the cache and returns its snapshot folder.
// Lists the files, keeps those a model needs (or those matching allow patterns), fetches the missing ones in
// parallel (each under its blob lock, resumable, verified, renamed into place), links them into the snapshot and
// records the revision's commit. Offline, or when the hub cannot be reached, it answers from the cache alone.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/hub/hub_client.h"
#include "common/hub/hub_environment.h"

namespace tessera::hub {

struct SnapshotRequest {
  std::string model_id;  // org/name
  std::string revision;  // branch, tag or commit; empty: the hub's default branch
  HubKind hub = HubKind::kHuggingFace;
  std::string cache_dir;  // empty: the environment's (TESSERA_CACHE or ~/.cache/tessera)
  // fnmatch patterns over repository paths ('*' also crosses '/'); empty: what a model needs (top-level
  // config/tokenizer/generation files and the safetensors weights, only the shards the index names).
  std::vector<std::string> allow_patterns;
  bool need_weights = true;  // false: the default selection leaves out *.safetensors (for dummy weights)
  int max_workers = 8;
  bool show_progress = true;
  int max_attempts_per_file = 5;
};

absl::StatusOr<std::string> SnapshotDownload(const SnapshotRequest& request, const HubEnvironment& env);
// The same with a given hub client (its kind decides the cache folder).
absl::StatusOr<std::string> SnapshotDownload(const SnapshotRequest& request, const HubEnvironment& env,
                                             HubClient& client);

// The default selection: a top-level file a model folder needs (weights only when `weights`).
bool IsDefaultModelFile(const std::string& path, bool weights);
// Python fnmatch semantics: '*' and '?' match any character including '/'.
bool MatchesAnyPattern(const std::string& path, const std::vector<std::string>& patterns);

}  // namespace tessera::hub
