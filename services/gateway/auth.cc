#include "services/gateway/auth.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "common/json_util.h"

namespace tessera::gateway {

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Walk the longer length so that a short guess costs as much as a long one; out-of-range bytes compare as 0 and
  // the length difference is folded into the result.
  const size_t length = std::max(a.size(), b.size());
  unsigned int difference = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < length; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference |= static_cast<unsigned int>(x ^ y);
  }
  // Keep the compiler from short-circuiting the loop.
  volatile unsigned int result = difference;
  return result == 0;
}

namespace {

std::string_view Trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

}  // namespace

std::vector<std::string> ParseApiKeyList(std::string_view comma_separated) {
  std::vector<std::string> keys;
  size_t start = 0;
  while (start <= comma_separated.size()) {
    size_t end = comma_separated.find(',', start);
    if (end == std::string_view::npos) end = comma_separated.size();
    const std::string_view item = Trim(comma_separated.substr(start, end - start));
    if (!item.empty()) keys.emplace_back(item);
    start = end + 1;
  }
  return keys;
}

absl::StatusOr<std::vector<std::string>> ReadApiKeyFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(CatMessage("cannot read the API key file '", path, "'"));
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(file, line)) {
    const std::string_view key = Trim(line);
    if (!key.empty() && key.front() != '#') keys.emplace_back(key);
  }
  if (file.bad()) return absl::DataLossError(CatMessage("error while reading the API key file '", path, "'"));
  if (keys.empty()) return absl::InvalidArgumentError(CatMessage("the API key file '", path, "' holds no key"));
  return keys;
}

bool ApiKeyAuthenticator::Authorize(std::string_view authorization_header) const {
  if (keys_.empty()) return true;
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization_header.size() < kScheme.size()) return false;
  // The scheme name is case-insensitive (RFC 7235).
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization_header[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  std::string_view presented = authorization_header.substr(kScheme.size());
  while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
  while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
  bool matched = false;
  for (const std::string& key : keys_) matched |= ConstantTimeEquals(presented, key);
  return matched;
}

}  // namespace tessera::gateway
