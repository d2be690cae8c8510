#include "common/hub/model_id.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tessera::hub {
namespace {

constexpr size_t kMaxIdPartLength = 96;

bool IsIdPart(const std::string& part) {
  if (part.empty() || part.size() > kMaxIdPartLength) return false;
  if (!absl::ascii_isalnum(static_cast<unsigned char>(part[0]))) return false;
  for (char c : part) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  }
  return !absl::StrContains(part, "..");
}

}  // namespace

absl::StatusOr<ModelId> ParseModelId(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  if (parts.size() != 2 || !IsIdPart(parts[0]) || !IsIdPart(parts[1])) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a model id of the form org/name (letters, digits, '.', '_', '-')"));
  }
  return ModelId{parts[0], parts[1]};
}

bool LooksLikeModelId(const std::string& text) { return ParseModelId(text).ok(); }

absl::Status ValidateRevision(const std::string& revision) {
  auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat("invalid revision '", revision,
                                                    "': expected a branch, tag or commit (letters, digits, '.', '_', "
                                                    "'-', '/')"));
  };
  if (revision.empty() || revision.size() > 256) return invalid();
  for (char c : revision) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' && c != '/')
      return invalid();
  }
  for (absl::string_view part : absl::StrSplit(revision, '/')) {
    if (part.empty() || part == "." || part == "..") return invalid();
  }
  return absl::OkStatus();
}

absl::Status ValidateRepoFilePath(const std::string& path) {
  auto invalid = [&](const char* why) {
    return absl::InvalidArgumentError(absl::StrCat("the hub listed an unsafe file path '", path, "' (", why, ")"));
  };
  if (path.empty() || path.size() > 1024) return invalid("empty or too long");
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) return invalid("control character");
    if (c == '\\') return invalid("backslash");
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty()) return invalid("empty component or absolute path");
    if (part == "." || part == "..") return invalid("'.' or '..' component");
  }
  return absl::OkStatus();
}

bool IsCommitHash(const std::string& revision) {
  if (revision.size() != 40) return false;
  for (char c : revision) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

}  // namespace tessera::hub
