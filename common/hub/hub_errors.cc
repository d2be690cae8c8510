#include "common/hub/hub_errors.h"

#include "absl/strings/str_cat.h"
#include "common/hub/http_client.h"
#include "nlohmann/json.hpp"

namespace tessera::hub {

std::string JsonErrorField(const std::string& body, const std::string& field) {
  constexpr size_t kMaxLength = 300;
  nlohmann::json root = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return "";
  auto it = root.find(field);
  if (it == root.end() || !it->is_string()) return "";
  std::string text = it->get<std::string>();
  if (text.size() > kMaxLength) text = absl::StrCat(text.substr(0, kMaxLength), "...");
  return text;
}

absl::Status HttpStatusError(const std::string& endpoint, const std::string& what, long status,
                             const std::string& detail) {
  std::string message = absl::StrCat(endpoint, " answered HTTP ", status, " for ", what,
                                     detail.empty() ? "" : ": ", detail);
  return IsTransientHttpStatus(status) ? absl::UnavailableError(message) : absl::UnknownError(message);
}

}  // namespace tessera::hub
