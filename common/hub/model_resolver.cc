#include "common/hub/model_resolver.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hub/model_id.h"
#include "common/hub/snapshot_download.h"
#include "common/json_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace tessera::hub {
namespace fs = std::filesystem;

absl::Status CheckModelFolder(const std::string& dir, bool need_weights) {
  std::error_code error;
  std::vector<std::string> missing;
  if (!fs::is_regular_file(fs::path(dir) / "config.json", error)) missing.push_back("config.json");
  if (need_weights) {
    const fs::path index_path = fs::path(dir) / "model.safetensors.index.json";
    if (fs::is_regular_file(index_path, error)) {
      absl::StatusOr<std::string> text = ReadFileToString(index_path.string());
      nlohmann::json index = text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
      if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
        missing.push_back("a readable model.safetensors.index.json");
      } else {
        for (const auto& [tensor, shard] : index["weight_map"].items()) {
          if (!shard.is_string()) continue;
          const std::string name = shard.get<std::string>();
          if (!fs::is_regular_file(fs::path(dir) / name, error) &&
              std::find(missing.begin(), missing.end(), name) == missing.end()) {
            missing.push_back(name);
          }
        }
      }
    } else {
      bool any_weights = false;
      for (const auto& entry : fs::directory_iterator(dir, error)) {
        if (absl::EndsWith(entry.path().filename().string(), ".safetensors") && fs::is_regular_file(entry.path()))
          any_weights = true;
      }
      if (!any_weights) missing.push_back("*.safetensors weights");
    }
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("model folder ", dir, " lacks ", absl::StrJoin(missing, ", ")));
}

absl::StatusOr<std::string> ResolveModelPath(const ModelSource& source) {
  return ResolveModelPath(source, HubEnvironment::FromProcessEnvironment());
}

absl::StatusOr<std::string> ResolveModelPath(const ModelSource& source, const HubEnvironment& env) {
  if (source.model.empty()) return absl::InvalidArgumentError("no model given: pass a model folder or org/name");
  std::error_code error;
  const fs::file_status status = fs::status(source.model, error);
  if (fs::is_directory(status)) return source.model;
  if (fs::exists(status)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", source.model, "' is a file; expected a model folder or a model id (org/name)"));
  }
  // Not a folder here: it must be a hub id.
  if (!LooksLikeModelId(source.model)) {
    return absl::NotFoundError(absl::StrCat("model folder ", source.model, " does not exist (no ", source.model,
                                            "/config.json), and it is not a model id of the form org/name"));
  }
  SnapshotRequest request;
  request.model_id = source.model;
  request.revision = source.revision;
  request.hub = source.hub;
  request.cache_dir = source.download_dir;
  request.need_weights = source.need_weights;
  request.show_progress = source.show_progress;
  ASSIGN_OR_RETURN(std::string snapshot, SnapshotDownload(request, env));
  if (absl::Status complete = CheckModelFolder(snapshot, source.need_weights); !complete.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model '", source.model, "' is incomplete: ", complete.message(),
        env.offline ? " (offline mode: run `tessera download` while online)" : ""));
  }
  return snapshot;
}

}  // namespace tessera::hub
