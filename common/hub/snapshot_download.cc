#include "common/hub/snapshot_download.h"

#include <fnmatch.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/hub/download_progress.h"
#include "common/hub/file_downloader.h"
#include "common/hub/model_cache.h"
#include "common/json_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace tessera::hub {
namespace fs = std::filesystem;

namespace {

constexpr const char* kWeightIndex = "model.safetensors.index.json";

int64_t FileSizeOrZero(const std::string& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

bool Exists(const std::string& path) {
  std::error_code error;
  return fs::exists(path, error);
}

// Everything one snapshot download shares between its worker threads.
struct FetchContext {
  const SnapshotRequest* request;
  HubClient* client;
  ModelId id;
  std::string revision;
  const ModelCache* cache;
  const RepoListing* listing;
  DownloadPolicy policy;
};

// Makes blobs/<blob> hold `file`'s verified bytes. `counted` is what the progress bar already shows for it.
absl::Status FetchBlob(const FetchContext& context, const RepoFile& file, const std::string& blob,
                       DownloadProgress& progress, int64_t counted) {
  const ModelCache& cache = *context.cache;
  const std::string blob_path = cache.BlobPath(blob);
  auto account_rest = [&] {
    if (file.size >= 0) progress.Add(file.size - counted);
  };
  if (Exists(blob_path)) {
    account_rest();
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(FileLock lock, FileLock::Acquire(cache.LockPath(blob)));
  if (Exists(blob_path)) {  // another process fetched it while this one waited for the lock
    account_rest();
    return absl::OkStatus();
  }
  const std::string incomplete = cache.IncompletePath(blob);
  DownloadHooks hooks;
  hooks.on_bytes = [&](int64_t delta) {
    counted += delta;
    progress.Add(delta);
  };
  hooks.explain_error = [&](const HttpResponse& response) {
    return context.client->ErrorFor(context.id, context.revision, file.path, response);
  };
  // The file may have grown or vanished while another process held the lock; count what it holds now.
  const int64_t present = FileSizeOrZero(incomplete);
  progress.Add(present - counted);
  counted = present;
  RETURN_IF_ERROR(DownloadResumable(context.client->FileRequest(context.id, context.revision, *context.listing, file),
                                    incomplete, file.size, context.policy, hooks));
  if (absl::Status verified = VerifyDownloadedFile(incomplete, file); !verified.ok()) {
    std::error_code ignored;
    fs::remove(incomplete, ignored);
    return verified;
  }
  RETURN_IF_ERROR(SyncFile(incomplete));
  std::error_code error;
  fs::rename(incomplete, blob_path, error);
  if (error) return absl::InternalError(absl::StrCat("cannot rename ", incomplete, " to ", blob_path, ": ", error.message()));
  account_rest();
  return absl::OkStatus();
}

// Fetches and links `files` with up to max_workers threads; the first error stops the remaining files.
absl::Status FetchFiles(const FetchContext& context, const std::vector<const RepoFile*>& files) {
  const ModelCache& cache = *context.cache;
  const std::string& snapshot = context.listing->snapshot_id;
  struct Pending {
    const RepoFile* file;
    std::string blob;
    int64_t resumed;
  };
  std::vector<Pending> pending;
  int64_t total = 0, resumed = 0, needed = 0;
  for (const RepoFile* file : files) {
    const std::string blob = ModelCache::BlobName(*file, snapshot);
    if (cache.HasSnapshotFile(snapshot, file->path, blob)) continue;
    if (Exists(cache.BlobPath(blob))) {  // the content is cached under another path or snapshot
      RETURN_IF_ERROR(cache.LinkSnapshotFile(snapshot, file->path, blob));
      continue;
    }
    const int64_t have = FileSizeOrZero(cache.IncompletePath(blob));
    if (file->size >= 0) {
      total += file->size;
      needed += std::max<int64_t>(file->size - have, 0);
    }
    resumed += have;
    pending.push_back({file, blob, have});
  }
  if (pending.empty()) return absl::OkStatus();
  const std::string blobs_dir = absl::StrCat(cache.repo_dir(), "/blobs");
  RETURN_IF_ERROR(EnsureDirectory(blobs_dir));
  RETURN_IF_ERROR(CheckFreeSpace(blobs_dir, needed));

  DownloadProgress progress(absl::StrCat("Downloading ", context.id.ToString()), total, resumed,
                            context.request->show_progress && needed > 0);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  absl::Status first_error;
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < pending.size() && !failed.load(); i = next.fetch_add(1)) {
      const Pending& item = pending[i];
      absl::Status status = FetchBlob(context, *item.file, item.blob, progress, item.resumed);
      if (status.ok()) status = cache.LinkSnapshotFile(snapshot, item.file->path, item.blob);
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (first_error.ok()) first_error = status;
        failed = true;
      }
    }
  };
  const int workers = std::clamp<int>(context.request->max_workers, 1, static_cast<int>(pending.size()));
  std::vector<std::thread> threads;
  for (int i = 1; i < workers; ++i) threads.emplace_back(work);
  work();
  for (std::thread& thread : threads) thread.join();
  if (first_error.ok()) progress.Finish();
  return first_error;
}

// The shard names model.safetensors.index.json maps weights to; empty when the index cannot be read.
std::set<std::string> IndexedShards(const std::string& index_path) {
  std::set<std::string> shards;
  absl::StatusOr<std::string> text = ReadFileToString(index_path);
  if (!text.ok()) return shards;
  nlohmann::json index = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.is_object()) return shards;
  auto map = index.find("weight_map");
  if (map == index.end() || !map->is_object()) return shards;
  for (const auto& [tensor, shard] : map->items()) {
    if (shard.is_string()) shards.insert(shard.get<std::string>());
  }
  return shards;
}

}  // namespace

bool IsDefaultModelFile(const std::string& path, bool weights) {
  if (absl::StrContains(path, '/')) return false;
  if (absl::EndsWith(path, ".safetensors")) return weights;
  for (const char* suffix : {".json", ".model", ".txt", ".jinja", ".tiktoken"}) {
    if (absl::EndsWith(path, suffix)) return true;
  }
  return false;
}

bool MatchesAnyPattern(const std::string& path, const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    if (::fnmatch(pattern.c_str(), path.c_str(), 0) == 0) return true;
  }
  return false;
}

absl::StatusOr<std::string> SnapshotDownload(const SnapshotRequest& request, const HubEnvironment& env) {
  std::unique_ptr<HubClient> client = MakeHubClient(request.hub, env);
  return SnapshotDownload(request, env, *client);
}

absl::StatusOr<std::string> SnapshotDownload(const SnapshotRequest& request, const HubEnvironment& env,
                                             HubClient& client) {
  ASSIGN_OR_RETURN(ModelId id, ParseModelId(request.model_id));
  const std::string revision = request.revision.empty() ? client.default_revision() : request.revision;
  RETURN_IF_ERROR(ValidateRevision(revision));
  const std::string root = request.cache_dir.empty() ? env.cache_dir : request.cache_dir;
  if (root.empty()) {
    return absl::FailedPreconditionError("no model cache folder: set TESSERA_CACHE (or HOME), or pass --download-dir");
  }
  const ModelCache cache(root, client.kind(), id);

  if (env.offline) {
    absl::StatusOr<std::string> cached = cache.FindSnapshot(revision);
    if (cached.ok()) return cached;
    return absl::NotFoundError(absl::StrCat("model '", id.ToString(), "' (revision '", revision,
                                            "') is not in the cache at ", root,
                                            " and offline mode is on (TESSERA_OFFLINE / HF_HUB_OFFLINE): download it "
                                            "first with `tessera download ", id.ToString(), "`"));
  }

  absl::StatusOr<RepoListing> listing = client.ListFiles(id, revision);
  if (!listing.ok()) {
    if (absl::IsUnavailable(listing.status())) {
      if (absl::StatusOr<std::string> cached = cache.FindSnapshot(revision); cached.ok()) {
        std::fprintf(stderr, "tessera: %s; using the cached snapshot %s\n",
                     std::string(listing.status().message()).c_str(), cached->c_str());
        return cached;
      }
    }
    return listing.status();
  }

  std::vector<const RepoFile*> first_pass, weights;
  const bool default_selection = request.allow_patterns.empty();
  bool has_index = false;
  for (const RepoFile& file : listing->files) {
    if (default_selection) {
      if (!IsDefaultModelFile(file.path, request.need_weights)) continue;
      if (absl::EndsWith(file.path, ".safetensors")) {
        weights.push_back(&file);
        continue;
      }
      has_index |= file.path == kWeightIndex;
    } else if (!MatchesAnyPattern(file.path, request.allow_patterns)) {
      continue;
    }
    first_pass.push_back(&file);
  }
  if (first_pass.empty() && weights.empty()) {
    return absl::NotFoundError(
        default_selection
            ? absl::StrCat("model '", id.ToString(), "' at revision '", revision,
                           "' has no config, tokenizer or safetensors files")
            : absl::StrCat("no file of model '", id.ToString(), "' at revision '", revision, "' matches ",
                           absl::StrJoin(request.allow_patterns, ", ")));
  }

  FetchContext context{&request, &client, id, revision, &cache, &*listing, DownloadPolicy{}};
  context.policy.http.ca_bundle = env.ca_bundle;
  context.policy.max_attempts = request.max_attempts_per_file;
  RETURN_IF_ERROR(FetchFiles(context, first_pass));
  if (!weights.empty()) {
    // With an index, only the shards it names are weights (repositories may also carry a consolidated copy).
    const std::string snapshot_dir = cache.SnapshotDir(listing->snapshot_id);
    const std::set<std::string> shards =
        has_index ? IndexedShards(absl::StrCat(snapshot_dir, "/", kWeightIndex)) : std::set<std::string>();
    if (!shards.empty()) {
      std::erase_if(weights, [&](const RepoFile* file) { return !shards.contains(file->path); });
    }
    RETURN_IF_ERROR(FetchFiles(context, weights));
  }
  if (revision != listing->snapshot_id) RETURN_IF_ERROR(cache.WriteRef(revision, listing->snapshot_id));
  return cache.SnapshotDir(listing->snapshot_id);
}

}  // namespace tessera::hub
