#include "common/hub/hf_hub.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/hub/hub_errors.h"
#include "nlohmann/json.hpp"

namespace tessera::hub {
namespace {

using nlohmann::json;

constexpr int kApiAttempts = 3;

bool IsLowerHex(const std::string& text, size_t length) {
  if (text.size() != length) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

class HuggingFaceHub : public HubClient {
 public:
  explicit HuggingFaceHub(const HubEnvironment& env)
      : endpoint_(env.hf_endpoint), token_(env.hf_token), http_{env.ca_bundle} {}

  HubKind kind() const override { return HubKind::kHuggingFace; }
  std::string default_revision() const override { return "main"; }
  std::string endpoint() const override { return endpoint_; }

  absl::StatusOr<RepoListing> ListFiles(const ModelId& id, const std::string& revision) override {
    HttpRequest request{absl::StrCat(endpoint_, "/api/models/", id.org, "/", id.name, "/revision/",
                                     UrlEncode(revision), "?blobs=true"),
                        AuthHeaders()};
    absl::StatusOr<HttpResponse> response = HttpGetWithRetries(request, http_, kApiAttempts);
    if (!response.ok()) return response.status();
    if (response->status != 200) return ErrorFor(id, revision, "", *response);
    return ParseListing(id, response->body);
  }

  HttpRequest FileRequest(const ModelId& id, const std::string& /*revision*/, const RepoListing& listing,
                          const RepoFile& file) const override {
    // Files are fetched at the listed commit, so a branch that moves during the download cannot mix two versions.
    std::vector<std::string> segments;
    for (absl::string_view segment : absl::StrSplit(file.path, '/')) segments.push_back(UrlEncode(std::string(segment)));
    return HttpRequest{absl::StrCat(endpoint_, "/", id.org, "/", id.name, "/resolve/", listing.snapshot_id, "/",
                                    absl::StrJoin(segments, "/")),
                       AuthHeaders()};
  }

  absl::Status ErrorFor(const ModelId& id, const std::string& revision, const std::string& file,
                        const HttpResponse& response) const override {
    const std::string error_code = response.Header("x-error-code");
    std::string detail = response.Header("x-error-message");
    if (detail.empty()) detail = JsonErrorField(response.body, "error");
    const std::string model = id.ToString();
    const std::string what = file.empty() ? absl::StrCat("model '", model, "'")
                                          : absl::StrCat("file '", file, "' of model '", model, "'");
    const long status = response.status;
    if (error_code == "GatedRepo") {
      return absl::PermissionDeniedError(
          token_.empty()
              ? absl::StrCat("model '", model, "' is gated: accept its conditions at ", endpoint_, "/", model,
                             " and set HF_TOKEN to a token of an account with access (HTTP ", status, ")")
              : absl::StrCat("model '", model, "' is gated and the token in HF_TOKEN has no access to it: accept "
                             "its conditions at ", endpoint_, "/", model, " (HTTP ", status, ")"));
    }
    if (error_code == "RepoNotFound" || (status == 404 && error_code.empty() && file.empty())) {
      return absl::NotFoundError(absl::StrCat("model '", model, "' was not found on the Hugging Face hub (",
                                              endpoint_, "); check the id",
                                              token_.empty() ? ", or set HF_TOKEN if it is private" : "",
                                              " (HTTP ", status, ")"));
    }
    if (error_code == "RevisionNotFound") {
      return absl::NotFoundError(absl::StrCat("model '", model, "' has no revision '", revision, "' (HTTP ",
                                              status, ")"));
    }
    if (error_code == "EntryNotFound" || status == 404) {
      return absl::NotFoundError(absl::StrCat(what, " was not found on ", endpoint_, " (HTTP ", status, ")"));
    }
    if (status == 401) {
      return absl::UnauthenticatedError(
          token_.empty() ? absl::StrCat(endpoint_, " requires authentication for ", what, ": set HF_TOKEN (HTTP 401)")
                         : absl::StrCat(endpoint_, " rejected the token in HF_TOKEN for ", what, " (HTTP 401)"));
    }
    if (status == 403) {
      return absl::PermissionDeniedError(absl::StrCat(endpoint_, " denied access to ", what, " (HTTP 403)",
                                                      detail.empty() ? "" : ": ", detail));
    }
    return HttpStatusError(endpoint_, what, status, detail);
  }

 private:
  std::vector<std::string> AuthHeaders() const {
    if (token_.empty()) return {};
    return {absl::StrCat("Authorization: Bearer ", token_)};
  }

  absl::StatusOr<RepoListing> ParseListing(const ModelId& id, const std::string& body) const {
    auto unexpected = [&](const std::string& why) {
      return absl::InternalError(
          absl::StrCat("unexpected answer from ", endpoint_, " listing model '", id.ToString(), "': ", why));
    };
    json root = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded() || !root.is_object()) return unexpected("not a JSON object");
    RepoListing listing;
    auto sha = root.find("sha");
    if (sha == root.end() || !sha->is_string() || !IsLowerHex(sha->get<std::string>(), 40))
      return unexpected("no commit \"sha\"");
    listing.snapshot_id = sha->get<std::string>();
    auto siblings = root.find("siblings");
    if (siblings == root.end() || !siblings->is_array()) return unexpected("no \"siblings\" list");
    for (const json& sibling : *siblings) {
      if (!sibling.is_object() || !sibling.contains("rfilename") || !sibling["rfilename"].is_string())
        return unexpected("a sibling without \"rfilename\"");
      RepoFile file;
      file.path = sibling["rfilename"].get<std::string>();
      if (absl::Status valid = ValidateRepoFilePath(file.path); !valid.ok()) return valid;
      if (auto size = sibling.find("size"); size != sibling.end() && size->is_number_integer())
        file.size = size->get<int64_t>();
      if (auto blob = sibling.find("blobId"); blob != sibling.end() && blob->is_string()) {
        file.git_blob_sha1 = blob->get<std::string>();
        if (!IsLowerHex(file.git_blob_sha1, 40)) return unexpected(absl::StrCat("bad blobId for ", file.path));
      }
      if (auto lfs = sibling.find("lfs"); lfs != sibling.end() && lfs->is_object()) {
        if (auto digest = lfs->find("sha256"); digest != lfs->end() && digest->is_string())
          file.sha256 = digest->get<std::string>();
        if (!IsLowerHex(file.sha256, 64)) return unexpected(absl::StrCat("bad lfs.sha256 for ", file.path));
        if (auto size = lfs->find("size"); size != lfs->end() && size->is_number_integer())
          file.size = size->get<int64_t>();
      }
      listing.files.push_back(std::move(file));
    }
    return listing;
  }

  std::string endpoint_;
  std::string token_;
  HttpSettings http_;
};

}  // namespace

std::unique_ptr<HubClient> MakeHuggingFaceHub(const HubEnvironment& env) {
  return std::make_unique<HuggingFaceHub>(env);
}

}  // namespace tessera::hub
