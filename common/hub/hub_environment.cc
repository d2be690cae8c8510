#include "common/hub/hub_environment.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tessera::hub {
namespace {

std::string GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string FirstEnv(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    std::string value = GetEnv(name);
    if (!value.empty()) return value;
  }
  return "";
}

std::string WithoutTrailingSlashes(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

}  // namespace

absl::StatusOr<HubKind> ParseHubKind(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "hf" || lower == "huggingface") return HubKind::kHuggingFace;
  if (lower == "modelscope" || lower == "ms") return HubKind::kModelScope;
  return absl::InvalidArgumentError(absl::StrCat("unknown hub '", name, "': expected hf or modelscope"));
}

const char* HubKindFlagName(HubKind kind) { return kind == HubKind::kHuggingFace ? "hf" : "modelscope"; }

const char* HubKindDisplayName(HubKind kind) {
  return kind == HubKind::kHuggingFace ? "the Hugging Face hub" : "ModelScope";
}

bool IsTruthy(const std::string& value) {
  const std::string lower = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  return lower == "1" || lower == "true" || lower == "yes" || lower == "on";
}

HubEnvironment HubEnvironment::FromProcessEnvironment() {
  HubEnvironment env;
  if (std::string endpoint = GetEnv("HF_ENDPOINT"); !endpoint.empty()) {
    env.hf_endpoint = WithoutTrailingSlashes(endpoint);
  }
  env.hf_token = FirstEnv({"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"});
  // ModelScope's own client takes a bare domain here and prepends https://; a full URL is accepted too so that
  // mirrors on plain HTTP or another port work.
  if (std::string domain = GetEnv("MODELSCOPE_DOMAIN"); !domain.empty()) {
    env.modelscope_endpoint =
        WithoutTrailingSlashes(absl::StrContains(domain, "://") ? domain : absl::StrCat("https://", domain));
  }
  env.modelscope_token = GetEnv("MODELSCOPE_API_TOKEN");
  if (std::string cache = GetEnv("TESSERA_CACHE"); !cache.empty()) {
    env.cache_dir = cache;
  } else if (std::string home = GetEnv("HOME"); !home.empty()) {
    env.cache_dir = absl::StrCat(home, "/.cache/tessera");
  }
  env.offline = IsTruthy(GetEnv("TESSERA_OFFLINE")) || IsTruthy(GetEnv("HF_HUB_OFFLINE"));
  env.ca_bundle = FirstEnv({"TESSERA_CA_BUNDLE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"});
  return env;
}

}  // namespace tessera::hub
