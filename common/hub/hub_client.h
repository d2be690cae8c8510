// The two model hubs behind one small interface: list a repository's files at a revision (with sizes and
// checksums), say how to fetch one file, and turn the hub's error answers into clear errors. Implementations:
// hf_hub.cc (Hugging Face hub and its mirrors) and modelscope_hub.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/hub/http_client.h"
#include "common/hub/hub_environment.h"
#include "common/hub/model_id.h"

namespace tessera::hub {

struct RepoFile {
  std::string path;           // relative, '/'-separated, validated
  int64_t size = -1;          // -1: the hub did not say
  std::string sha256;         // lower-case hex; empty when the hub publishes none
  std::string git_blob_sha1;  // the Hugging Face hub's blobId; empty elsewhere
};

struct RepoListing {
  // Names the snapshot folder in the cache: the commit the revision pointed at (Hugging Face), or a digest of the
  // listing where the hub names no commit (ModelScope).
  std::string snapshot_id;
  std::vector<RepoFile> files;
};

class HubClient {
 public:
  virtual ~HubClient() = default;
  virtual HubKind kind() const = 0;
  virtual std::string default_revision() const = 0;
  virtual std::string endpoint() const = 0;
  virtual absl::StatusOr<RepoListing> ListFiles(const ModelId& id, const std::string& revision) = 0;
  // The GET that fetches `file` (the same bytes for every attempt, so Range requests can resume it).
  virtual HttpRequest FileRequest(const ModelId& id, const std::string& revision, const RepoListing& listing,
                                  const RepoFile& file) const = 0;
  // Explains a non-success answer about `id` (and `file` when not empty): unknown model, gated model, missing
  // revision or file, other statuses.
  virtual absl::Status ErrorFor(const ModelId& id, const std::string& revision, const std::string& file,
                                const HttpResponse& response) const = 0;
};

std::unique_ptr<HubClient> MakeHubClient(HubKind kind, const HubEnvironment& env);

}  // namespace tessera::hub
