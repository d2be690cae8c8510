#include "common/hub/modelscope_hub.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/hub/file_digest.h"
#include "common/hub/hub_errors.h"
#include "nlohmann/json.hpp"

namespace tessera::hub {
namespace {

using nlohmann::json;

constexpr int kApiAttempts = 3;

bool IsLowerHex64(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

class ModelScopeHub : public HubClient {
 public:
  explicit ModelScopeHub(const HubEnvironment& env)
      : endpoint_(env.modelscope_endpoint), token_(env.modelscope_token), http_{env.ca_bundle} {}

  HubKind kind() const override { return HubKind::kModelScope; }
  std::string default_revision() const override { return "master"; }
  std::string endpoint() const override { return endpoint_; }

  absl::StatusOr<RepoListing> ListFiles(const ModelId& id, const std::string& revision) override {
    HttpRequest request{absl::StrCat(endpoint_, "/api/v1/models/", id.org, "/", id.name,
                                     "/repo/files?Revision=", UrlEncode(revision), "&Recursive=true"),
                        AuthHeaders()};
    absl::StatusOr<HttpResponse> response = HttpGetWithRetries(request, http_, kApiAttempts);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor(id, revision, "", *response);
    return ParseListing(id, revision, response->body);
  }

  HttpRequest FileRequest(const ModelId& id, const std::string& revision, const RepoListing& /*listing*/,
                          const RepoFile& file) const override {
    return HttpRequest{absl::StrCat(endpoint_, "/api/v1/models/", id.org, "/", id.name, "/repo?Revision=",
                                    UrlEncode(revision), "&FilePath=", UrlEncode(file.path)),
                       AuthHeaders()};
  }

  absl::Status ErrorFor(const ModelId& id, const std::string& revision, const std::string& file,
                        const HttpResponse& response) const override {
    const std::string detail = JsonErrorField(response.body, "Message");
    const std::string model = id.ToString();
    const std::string what = file.empty() ? absl::StrCat("model '", model, "'")
                                          : absl::StrCat("file '", file, "' of model '", model, "'");
    const std::string suffix = absl::StrCat(" (HTTP ", response.status, detail.empty() ? "" : ": ", detail, ")");
    switch (response.status) {
      case 404:
        if (!file.empty()) return absl::NotFoundError(absl::StrCat(what, " was not found on ModelScope", suffix));
        return absl::NotFoundError(absl::StrCat("model '", model, "' (revision '", revision,
                                                "') was not found on ModelScope (", endpoint_, "); check the id",
                                                token_.empty() ? ", or set MODELSCOPE_API_TOKEN if it is private"
                                                               : "",
                                                suffix));
      case 401:
      case 403:
        return absl::PermissionDeniedError(
            token_.empty()
                ? absl::StrCat(what, " needs an account with access: set MODELSCOPE_API_TOKEN", suffix)
                : absl::StrCat("the token in MODELSCOPE_API_TOKEN has no access to ", what, suffix));
      default:
        return HttpStatusError(endpoint_, what, response.status, detail);
    }
  }

 private:
  std::vector<std::string> AuthHeaders() const {
    if (token_.empty()) return {};
    return {absl::StrCat("Cookie: m_session_id=", token_)};
  }

  absl::StatusOr<RepoListing> ParseListing(const ModelId& id, const std::string& revision,
                                           const std::string& body) const {
    auto unexpected = [&](const std::string& why) {
      return absl::InternalError(
          absl::StrCat("unexpected answer from ", endpoint_, " listing model '", id.ToString(), "': ", why));
    };
    json root = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded() || !root.is_object()) return unexpected("not a JSON object");
    // Some failures come back as HTTP 200 with Success false and the reason in Message.
    if (auto success = root.find("Success"); success != root.end() && success->is_boolean() && !success->get<bool>()) {
      return absl::NotFoundError(absl::StrCat("ModelScope could not list model '", id.ToString(), "' at revision '",
                                              revision, "': ", JsonErrorField(body, "Message")));
    }
    auto data = root.find("Data");
    if (data == root.end() || !data->is_object()) return unexpected("no \"Data\" object");
    auto files = data->find("Files");
    if (files == data->end() || !(files->is_array() || files->is_null())) return unexpected("no \"Data.Files\" list");
    RepoListing listing;
    std::string fingerprint = absl::StrCat(id.ToString(), "@", revision, "\n");
    if (files->is_array()) {
      for (const json& entry : *files) {
        if (!entry.is_object()) return unexpected("a file entry that is not an object");
        if (entry.value("Type", "") == "tree") continue;
        if (!entry.contains("Path") || !entry["Path"].is_string()) return unexpected("a file without \"Path\"");
        RepoFile file;
        file.path = entry["Path"].get<std::string>();
        if (absl::Status valid = ValidateRepoFilePath(file.path); !valid.ok()) return valid;
        if (auto size = entry.find("Size"); size != entry.end() && size->is_number_integer())
          file.size = size->get<int64_t>();
        if (auto digest = entry.find("Sha256"); digest != entry.end() && digest->is_string() &&
                                                !digest->get<std::string>().empty()) {
          file.sha256 = absl::AsciiStrToLower(digest->get<std::string>());
          if (!IsLowerHex64(file.sha256)) return unexpected(absl::StrCat("bad Sha256 for ", file.path));
        }
        listing.files.push_back(std::move(file));
      }
    }
    // ModelScope's listing names no repository commit, so the snapshot is named by the listing itself: it changes
    // exactly when a file does. A commit given as the revision names itself.
    std::sort(listing.files.begin(), listing.files.end(),
              [](const RepoFile& a, const RepoFile& b) { return a.path < b.path; });
    for (const RepoFile& file : listing.files)
      absl::StrAppend(&fingerprint, file.path, " ", file.size, " ", file.sha256, "\n");
    listing.snapshot_id = IsCommitHash(revision) ? revision : Sha256Hex(fingerprint).substr(0, 40);
    return listing;
  }

  std::string endpoint_;
  std::string token_;
  HttpSettings http_;
};

}  // namespace

std::unique_ptr<HubClient> MakeModelScopeHub(const HubEnvironment& env) {
  return std::make_unique<ModelScopeHub>(env);
}

}  // namespace tessera::hub
