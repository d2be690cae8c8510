// Content digests the hubs publish for their files: sha256 (LFS files on the Hugging Face hub, every file on
// ModelScope) and git's blob sha1 (small files on the Hugging Face hub), computed here to verify downloads.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tessera::hub {

// Lower-case hex digests. The file variants stream the file, so size does not matter.
std::string Sha256Hex(const std::string& data);
absl::StatusOr<std::string> FileSha256Hex(const std::string& path);
// sha1("blob <size>\0" + content), the id git (and the hub's `blobId`) gives a file's content.
absl::StatusOr<std::string> FileGitBlobSha1Hex(const std::string& path);

}  // namespace tessera::hub
