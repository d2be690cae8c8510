#include "services/router/routing_key.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace tessera::router {

std::string RoutingKey(const v1::GenerateRequest& request, const RoutingKeyOptions& options) {
  const size_t limit = static_cast<size_t>(std::max(0, options.prefix_chars));
  std::string key;
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kChat:
      // Distinct prefixes for the three prompt kinds, so that a text prompt never shares a key with token ids.
      key = "chat:";
      for (const v1::ChatMessage& message : request.chat().messages()) {
        if (key.size() >= limit + 5) break;
        absl::StrAppend(&key, message.role(), "\n", message.content(), "\n");
      }
      key.resize(std::min(key.size(), limit + 5));
      return key;
    case v1::GenerateRequest::kText:
      return absl::StrCat("text:", request.text().substr(0, limit));
    case v1::GenerateRequest::kTokenIds: {
      key = "ids:";
      const int count = std::min(request.token_ids().ids_size(), std::max(0, options.prefix_tokens));
      for (int i = 0; i < count; ++i) absl::StrAppend(&key, request.token_ids().ids(i), ",");
      return key;
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      break;
  }
  return "";
}

}  // namespace tessera::router
