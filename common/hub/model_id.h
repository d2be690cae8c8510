// Model ids (`org/name`), revisions and repository file paths as the hubs name them, checked before any of them
// becomes part of a URL or a cache path, so that neither a typo nor a hostile server can reach outside the cache.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tessera::hub {

struct ModelId {
  std::string org;
  std::string name;

  std::string ToString() const { return org + "/" + name; }
};

// Accepts exactly `org/name` where each part starts with a letter or digit and continues with letters, digits,
// '.', '_' or '-' (no "..", at most 96 characters each). Anything else is InvalidArgument naming the id.
absl::StatusOr<ModelId> ParseModelId(const std::string& text);

// True when `text` has the shape of a model id (used to tell an id from a local folder that does not exist).
bool LooksLikeModelId(const std::string& text);

// Branch, tag, commit or `refs/pr/N`: letters, digits, '.', '_', '-' and '/' between non-empty components that
// are neither "." nor "..".
absl::Status ValidateRevision(const std::string& revision);

// A file path inside a repository as a hub lists it: relative, '/'-separated, no empty, "." or ".." components,
// no backslashes or control characters.
absl::Status ValidateRepoFilePath(const std::string& path);

// True for a full 40-hex git commit id.
bool IsCommitHash(const std::string& revision);

}  // namespace tessera::hub
