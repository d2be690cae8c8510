// Bearer API-key authentication for the gateway. Keys come from --api-key or TESSERA_API_KEYS (comma-separated) and
// --api-key-file (one per line); comparison takes the same time whatever the mismatch, so response timing leaks
// nothing about a key.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::gateway {

// True when `a` equals `b`; the time depends only on the lengths, never on where the first difference is.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Splits "k1,k2" into keys, trimming blanks and dropping empty items.
std::vector<std::string> ParseApiKeyList(std::string_view comma_separated);

// Reads one key per line; blank lines and lines starting with '#' are skipped, surrounding blanks trimmed. A file
// that cannot be read, or holds no key, is an error naming the path (a typo must not leave the gateway open).
absl::StatusOr<std::vector<std::string>> ReadApiKeyFile(const std::string& path);

class ApiKeyAuthenticator {
 public:
  explicit ApiKeyAuthenticator(std::vector<std::string> keys) : keys_(std::move(keys)) {}

  // Without keys every request is allowed.
  bool enabled() const { return !keys_.empty(); }

  // Checks an Authorization header value ("Bearer <key>"). Every configured key is compared, so the time does not
  // reveal which one matched.
  bool Authorize(std::string_view authorization_header) const;

 private:
  std::vector<std::string> keys_;
};

}  // namespace tessera::gateway
