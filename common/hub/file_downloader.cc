#include "common/hub/file_downloader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/hub/curl_session.h"
#include "common/hub/file_digest.h"

namespace tessera::hub {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxErrorBodyBytes = 64 * 1024;

int64_t FileSizeOrZero(const std::string& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  return error ? 0 : static_cast<int64_t>(size);
}

absl::Status WriteError(const std::string& path, int error) {
  if (error == ENOSPC || error == EDQUOT) {
    return absl::ResourceExhaustedError(
        absl::StrCat("disk full while writing ", path, " (", std::strerror(error),
                     "); free some space or choose another --download-dir, then run again to resume"));
  }
  return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(error)));
}

// One GET, appending to the file; which bytes the answer carries decides whether the file keeps its prefix.
struct Transfer {
  CurlSession* session = nullptr;
  std::FILE* out = nullptr;
  std::string path;
  int64_t offset = 0;  // bytes the file held when the request was sent
  const DownloadHooks* hooks = nullptr;
  bool answer_seen = false;
  bool collecting_error = false;
  std::string error_body;
  absl::Status write_status;

  static size_t OnData(char* data, size_t size, size_t count, void* self) {
    return static_cast<Transfer*>(self)->Write(data, size * count);
  }

  size_t Write(const char* data, size_t length) {
    if (!answer_seen) {
      answer_seen = true;
      const long status = session->head().status;
      if (status == 200 && offset > 0) {
        // The server sent the whole file, not the requested range: start over.
        if (::ftruncate(::fileno(out), 0) != 0) {
          write_status = WriteError(path, errno);
          return 0;
        }
        if (hooks->on_bytes) hooks->on_bytes(-offset);
        offset = 0;
      } else if (status != 200 && status != 206) {
        collecting_error = true;
      }
    }
    if (collecting_error) {
      if (error_body.size() < kMaxErrorBodyBytes) error_body.append(data, std::min(length, kMaxErrorBodyBytes));
      return length;
    }
    if (std::fwrite(data, 1, length, out) != length) {
      write_status = WriteError(path, errno);
      return 0;
    }
    if (hooks->on_bytes) hooks->on_bytes(static_cast<int64_t>(length));
    return length;
  }
};

enum class AttemptOutcome { kDone, kRetry, kFailed };

struct AttemptResult {
  AttemptOutcome outcome;
  absl::Status status;  // the failure, or the reason for the retry
};

AttemptResult Attempt(const HttpRequest& base_request, const std::string& path, int64_t expected_size,
                      const DownloadPolicy& policy, const DownloadHooks& hooks) {
  const int64_t offset = FileSizeOrZero(path);
  if (expected_size >= 0 && offset == expected_size) return {AttemptOutcome::kDone, absl::OkStatus()};
  if (expected_size >= 0 && offset > expected_size) {
    // Longer than the listed size: not a prefix of this file.
    std::error_code ignored;
    fs::remove(path, ignored);
    if (hooks.on_bytes) hooks.on_bytes(-offset);
    return {AttemptOutcome::kRetry, absl::DataLossError(absl::StrCat(path, " was longer than the listed size"))};
  }
  HttpRequest request = base_request;
  if (offset > 0) request.headers.push_back(absl::StrCat("Range: bytes=", offset, "-"));
  auto session_or = CurlSession::Create(request, policy.http);
  if (!session_or.ok()) return {AttemptOutcome::kFailed, session_or.status()};
  CurlSession& session = **session_or;

  std::FILE* out = std::fopen(path.c_str(), "ab");
  if (out == nullptr) return {AttemptOutcome::kFailed, WriteError(path, errno)};
  Transfer transfer;
  transfer.session = &session;
  transfer.out = out;
  transfer.path = path;
  transfer.offset = offset;
  transfer.hooks = &hooks;
  curl_easy_setopt(session.handle(), CURLOPT_WRITEFUNCTION, &Transfer::OnData);
  curl_easy_setopt(session.handle(), CURLOPT_WRITEDATA, &transfer);
  const CURLcode code = curl_easy_perform(session.handle());
  const int close_error = std::fclose(out) != 0 ? errno : 0;

  if (!transfer.write_status.ok()) return {AttemptOutcome::kFailed, transfer.write_status};
  if (close_error != 0) return {AttemptOutcome::kFailed, WriteError(path, close_error)};
  if (code != CURLE_OK) {
    return {IsTransientCurlError(code) ? AttemptOutcome::kRetry : AttemptOutcome::kFailed,
            session.TransportError(code)};
  }
  HttpResponse answer;
  answer.status = session.head().status;
  answer.headers = session.head().headers;
  answer.body = transfer.error_body;
  if (answer.status == 416) {
    // Nothing left past our offset: either the file is already whole, or our prefix is stale.
    if (expected_size < 0 || FileSizeOrZero(path) == expected_size) return {AttemptOutcome::kDone, absl::OkStatus()};
    std::error_code ignored;
    fs::remove(path, ignored);
    if (hooks.on_bytes) hooks.on_bytes(-offset);
    return {AttemptOutcome::kRetry, absl::DataLossError(absl::StrCat("the server refused to resume ", path))};
  }
  if (answer.status != 200 && answer.status != 206) {
    absl::Status error = hooks.explain_error
                             ? hooks.explain_error(answer)
                             : absl::UnknownError(absl::StrCat(request.url, " answered HTTP ", answer.status));
    return {IsTransientHttpStatus(answer.status) ? AttemptOutcome::kRetry : AttemptOutcome::kFailed, error};
  }
  const int64_t size = FileSizeOrZero(path);
  if (expected_size >= 0 && size < expected_size) {
    return {AttemptOutcome::kRetry,
            absl::UnavailableError(absl::StrCat("the transfer of ", request.url, " ended after ", size, " of ",
                                                expected_size, " bytes"))};
  }
  return {AttemptOutcome::kDone, absl::OkStatus()};
}

}  // namespace

absl::Status DownloadResumable(const HttpRequest& request, const std::string& incomplete_path, int64_t expected_size,
                               const DownloadPolicy& policy, const DownloadHooks& hooks) {
  auto pause = std::chrono::milliseconds(policy.first_retry_pause_ms);
  for (int attempt = 1;; ++attempt) {
    AttemptResult result = Attempt(request, incomplete_path, expected_size, policy, hooks);
    if (result.outcome == AttemptOutcome::kDone) return absl::OkStatus();
    if (result.outcome == AttemptOutcome::kFailed) return result.status;
    if (attempt >= policy.max_attempts) {
      return absl::Status(result.status.code(),
                          absl::StrCat(result.status.message(), " (gave up after ", attempt,
                                       " attempts; run again to resume from the bytes already fetched)"));
    }
    std::this_thread::sleep_for(pause);
    pause *= 2;
  }
}

absl::Status VerifyDownloadedFile(const std::string& path, const RepoFile& file) {
  const int64_t size = FileSizeOrZero(path);
  if (file.size >= 0 && size != file.size) {
    return absl::DataLossError(absl::StrCat("size mismatch for ", file.path, ": the hub lists ", file.size,
                                            " bytes, the download has ", size));
  }
  if (!file.sha256.empty()) {
    absl::StatusOr<std::string> digest = FileSha256Hex(path);
    if (!digest.ok()) return digest.status();
    if (*digest != file.sha256) {
      return absl::DataLossError(absl::StrCat("checksum mismatch for ", file.path, ": expected sha256 ", file.sha256,
                                              ", got ", *digest, "; the download was discarded"));
    }
  } else if (!file.git_blob_sha1.empty()) {
    absl::StatusOr<std::string> digest = FileGitBlobSha1Hex(path);
    if (!digest.ok()) return digest.status();
    if (*digest != file.git_blob_sha1) {
      return absl::DataLossError(absl::StrCat("checksum mismatch for ", file.path, ": expected git blob sha1 ",
                                              file.git_blob_sha1, ", got ", *digest,
                                              "; the download was discarded"));
    }
  }
  return absl::OkStatus();
}

absl::Status SyncFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  const int result = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (result != 0) return WriteError(path, error);
  return absl::OkStatus();
}

}  // namespace tessera::hub
