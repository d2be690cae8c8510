// Fetches one file over HTTP(S) into its `.incomplete` name: resumes from the bytes already there with a Range
// request, retries transfers that were cut or stalled, reports progress in bytes, and verifies the result against
// the size and digests the hub listed. The caller renames the verified file into place.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "common/hub/http_client.h"
#include "common/hub/hub_client.h"

namespace tessera::hub {

struct DownloadHooks {
  // Bytes added to the file (negative when the server ignored a Range request and the file restarts at zero).
  std::function<void(int64_t delta)> on_bytes;
  // Turns an error answer (401, 404, ...) into a clear error; without it a generic message names the status.
  std::function<absl::Status(const HttpResponse&)> explain_error;
};

struct DownloadPolicy {
  HttpSettings http;
  int max_attempts = 5;  // a cut transfer resumes up to this many times in all
  int first_retry_pause_ms = 1000;  // doubles after each failed attempt
};

// Downloads `request` into `incomplete_path`, keeping what the file already holds when the server honours Range.
// `expected_size` < 0 means unknown. Disk full is ResourceExhausted; error answers go through explain_error.
absl::Status DownloadResumable(const HttpRequest& request, const std::string& incomplete_path, int64_t expected_size,
                               const DownloadPolicy& policy, const DownloadHooks& hooks);

// Checks the file's size and its sha256 (or else git blob sha1) against the listing; DataLoss naming the file and
// both values when they differ.
absl::Status VerifyDownloadedFile(const std::string& path, const RepoFile& file);

// Flushes the file's data to disk, so that a rename after it never exposes a file whose bytes were lost in a crash.
absl::Status SyncFile(const std::string& path);

}  // namespace tessera::hub
