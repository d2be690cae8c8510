#include "common/hub/model_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/hub/file_digest.h"

namespace tessera::hub {
namespace fs = std::filesystem;

namespace {

std::string RepoFolderName(const ModelId& id) { return absl::StrCat("models--", id.org, "--", id.name); }

std::string FormatBytes(int64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

}  // namespace

absl::StatusOr<FileLock> FileLock::Acquire(const std::string& path) {
  if (absl::Status made = EnsureDirectory(fs::path(path).parent_path().string()); !made.ok()) return made;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open lock file ", path, ": ", std::strerror(errno)));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const int error = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(error)));
  }
  return FileLock(fd);
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

ModelCache::ModelCache(const std::string& root, HubKind hub, const ModelId& id) {
  const std::string hub_root = hub == HubKind::kHuggingFace ? root : absl::StrCat(root, "/modelscope");
  repo_dir_ = absl::StrCat(hub_root, "/", RepoFolderName(id));
  locks_dir_ = absl::StrCat(hub_root, "/.locks/", RepoFolderName(id));
}

std::string ModelCache::BlobPath(const std::string& blob) const { return absl::StrCat(repo_dir_, "/blobs/", blob); }

std::string ModelCache::IncompletePath(const std::string& blob) const {
  return absl::StrCat(BlobPath(blob), ".incomplete");
}

std::string ModelCache::LockPath(const std::string& blob) const { return absl::StrCat(locks_dir_, "/", blob, ".lock"); }

std::string ModelCache::SnapshotDir(const std::string& snapshot_id) const {
  return absl::StrCat(repo_dir_, "/snapshots/", snapshot_id);
}

absl::StatusOr<std::string> ModelCache::ReadRef(const std::string& revision) const {
  const std::string path = absl::StrCat(repo_dir_, "/refs/", revision);
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("no ref ", path));
  std::string commit;
  std::getline(in, commit);
  commit = std::string(absl::StripAsciiWhitespace(commit));
  if (commit.empty()) return absl::NotFoundError(absl::StrCat("empty ref ", path));
  return commit;
}

absl::Status ModelCache::WriteRef(const std::string& revision, const std::string& snapshot_id) const {
  const std::string path = absl::StrCat(repo_dir_, "/refs/", revision);
  if (absl::Status made = EnsureDirectory(fs::path(path).parent_path().string()); !made.ok()) return made;
  return WriteFileAtomically(path, snapshot_id);
}

absl::Status ModelCache::LinkSnapshotFile(const std::string& snapshot_id, const std::string& path,
                                          const std::string& blob) const {
  const fs::path link = fs::path(SnapshotDir(snapshot_id)) / path;
  if (absl::Status made = EnsureDirectory(link.parent_path().string()); !made.ok()) return made;
  std::string target;
  const size_t depth = std::count(path.begin(), path.end(), '/');
  for (size_t i = 0; i < depth + 2; ++i) target += "../";
  absl::StrAppend(&target, "blobs/", blob);
  std::error_code error;
  if (fs::is_symlink(link, error) && fs::read_symlink(link, error).string() == target) return absl::OkStatus();
  const std::string temporary = UniqueTemporaryName(link.string());
  fs::create_symlink(target, temporary, error);
  if (error) return absl::InternalError(absl::StrCat("cannot create link ", temporary, ": ", error.message()));
  if (std::rename(temporary.c_str(), link.c_str()) != 0) {
    const int rename_error = errno;
    fs::remove(temporary, error);
    return absl::InternalError(absl::StrCat("cannot link ", link.string(), ": ", std::strerror(rename_error)));
  }
  return absl::OkStatus();
}

bool ModelCache::HasSnapshotFile(const std::string& snapshot_id, const std::string& path,
                                 const std::string& blob) const {
  std::error_code error;
  const fs::path link = fs::path(SnapshotDir(snapshot_id)) / path;
  if (!fs::is_symlink(link, error)) return false;
  const std::string target = fs::read_symlink(link, error).string();
  if (error || fs::path(target).filename().string() != blob) return false;
  return fs::is_regular_file(BlobPath(blob), error);
}

absl::StatusOr<std::string> ModelCache::FindSnapshot(const std::string& revision) const {
  std::string commit = revision;
  if (!IsCommitHash(revision)) {
    absl::StatusOr<std::string> ref = ReadRef(revision);
    if (!ref.ok()) return ref.status();
    commit = *ref;
  }
  const std::string dir = SnapshotDir(commit);
  std::error_code error;
  if (!fs::is_directory(dir, error)) return absl::NotFoundError(absl::StrCat("no snapshot folder ", dir));
  return dir;
}

std::string ModelCache::BlobName(const RepoFile& file, const std::string& snapshot_id) {
  if (!file.sha256.empty()) return file.sha256;
  if (!file.git_blob_sha1.empty()) return file.git_blob_sha1;
  return absl::StrCat("unhashed-", Sha256Hex(absl::StrCat(snapshot_id, "/", file.path)));
}

absl::Status EnsureDirectory(const std::string& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error && !fs::is_directory(path)) {
    return absl::InternalError(absl::StrCat("cannot create folder ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

std::string UniqueTemporaryName(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return absl::StrCat(path, ".tmp-", ::getpid(), "-", counter.fetch_add(1));
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string temporary = UniqueTemporaryName(path);
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      return absl::InternalError(absl::StrCat("cannot write ", temporary));
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::error_code ignored;
    fs::remove(temporary, ignored);
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path, ": ", std::strerror(error)));
  }
  return absl::OkStatus();
}

absl::Status CheckFreeSpace(const std::string& dir, int64_t bytes) {
  struct statvfs stats;
  if (::statvfs(dir.c_str(), &stats) != 0) return absl::OkStatus();  // unknown: let the writes tell
  const int64_t available = static_cast<int64_t>(stats.f_bavail) * static_cast<int64_t>(stats.f_frsize);
  if (bytes <= available) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("not enough disk space in ", dir, ": the download needs ",
                                                   FormatBytes(bytes), ", ", FormatBytes(available),
                                                   " are free (choose another --download-dir or TESSERA_CACHE)"));
}

}  // namespace tessera::hub
