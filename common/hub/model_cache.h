// The on-disk model cache, shared safely by concurrent processes. The layout is huggingface_hub's, so either tool
// can use the other's cache:
//   <root>/models--<org>--<name>/blobs/<sha256 or git sha1>     file contents, named by their digest
//                               /blobs/<digest>.incomplete      a download in progress (resumable, never "complete")
//                               /snapshots/<commit>/<path>      relative symlinks into blobs/
//                               /refs/<revision>                the commit a branch or tag last resolved to
//   <root>/.locks/models--<org>--<name>/<digest>.lock           flock(2) held while one process fetches a blob
// ModelScope models live the same way under <root>/modelscope/. Every file that readers look at appears by an
// atomic rename, so a crash leaves at most an .incomplete blob or a temporary name, never a half file.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "common/hub/hub_client.h"
#include "common/hub/hub_environment.h"
#include "common/hub/model_id.h"

namespace tessera::hub {

// An exclusive advisory lock on a lock file, released on destruction or when the process dies.
class FileLock {
 public:
  static absl::StatusOr<FileLock> Acquire(const std::string& path);
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

class ModelCache {
 public:
  ModelCache(const std::string& root, HubKind hub, const ModelId& id);

  const std::string& repo_dir() const { return repo_dir_; }
  std::string BlobPath(const std::string& blob) const;
  std::string IncompletePath(const std::string& blob) const;
  std::string LockPath(const std::string& blob) const;
  std::string SnapshotDir(const std::string& snapshot_id) const;

  // The commit that `revision` resolved to when last online; NotFound when never.
  absl::StatusOr<std::string> ReadRef(const std::string& revision) const;
  absl::Status WriteRef(const std::string& revision, const std::string& snapshot_id) const;

  // Points snapshots/<snapshot_id>/<path> at blobs/<blob> (atomically replacing an older link).
  absl::Status LinkSnapshotFile(const std::string& snapshot_id, const std::string& path, const std::string& blob) const;
  // True when that link exists, points at `blob`, and the blob is complete.
  bool HasSnapshotFile(const std::string& snapshot_id, const std::string& path, const std::string& blob) const;

  // The cached snapshot folder for a commit, or for a branch or tag through its ref; NotFound when absent.
  absl::StatusOr<std::string> FindSnapshot(const std::string& revision) const;

  // The blob name of a listed file: its sha256, else its git blob sha1, else a digest of where it was listed.
  static std::string BlobName(const RepoFile& file, const std::string& snapshot_id);

 private:
  std::string repo_dir_;
  std::string locks_dir_;
};

// mkdir -p, tolerant of other processes creating the same folders.
absl::Status EnsureDirectory(const std::string& path);
// Writes `content` to a temporary name next to `path`, then renames it into place.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content);
// ResourceExhausted, naming the folder and both sizes, when `dir`'s file system has fewer than `bytes` free.
absl::Status CheckFreeSpace(const std::string& dir, int64_t bytes);
// A name no other thread or process uses at the same time, for temporaries beside `path`.
std::string UniqueTemporaryName(const std::string& path);

}  // namespace tessera::hub
