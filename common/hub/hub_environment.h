// Where models come from and where they are kept, as the environment configures it: the hub endpoints and tokens
// (HF_ENDPOINT, HF_TOKEN, MODELSCOPE_DOMAIN, MODELSCOPE_API_TOKEN), the cache folder (TESSERA_CACHE), offline mode
// (TESSERA_OFFLINE, HF_HUB_OFFLINE) and the CA bundle for HTTPS (TESSERA_CA_BUNDLE, CURL_CA_BUNDLE,
// REQUESTS_CA_BUNDLE, SSL_CERT_FILE). Read once, then passed explicitly so tests can set every field.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tessera::hub {

enum class HubKind { kHuggingFace, kModelScope };

// "hf" (or "huggingface") and "modelscope" (or "ms").
absl::StatusOr<HubKind> ParseHubKind(const std::string& name);
// The flag spelling: "hf" or "modelscope".
const char* HubKindFlagName(HubKind kind);
// For messages: "the Hugging Face hub" or "ModelScope".
const char* HubKindDisplayName(HubKind kind);

struct HubEnvironment {
  std::string hf_endpoint = "https://huggingface.co";
  std::string hf_token;
  std::string modelscope_endpoint = "https://www.modelscope.cn";
  std::string modelscope_token;
  std::string cache_dir;  // empty when neither TESSERA_CACHE nor HOME is set
  bool offline = false;
  std::string ca_bundle;  // empty: the system's CA store

  static HubEnvironment FromProcessEnvironment();
};

// True for "1", "true", "yes", "on" in any case.
bool IsTruthy(const std::string& value);

}  // namespace tessera::hub
