// The Hugging Face hub (or a mirror at HF_ENDPOINT). Endpoints used, from the hub's public API:
//   GET {endpoint}/api/models/{org}/{name}/revision/{revision}?blobs=true
//       -> {"sha": commit, "siblings": [{"rfilename", "size", "blobId", "lfs": {"sha256", "size"}}]}
//   GET {endpoint}/{org}/{name}/resolve/{commit}/{path}   (LFS files redirect to a CDN; Range is honoured)
// with `Authorization: Bearer $HF_TOKEN` when a token is set. Errors carry an X-Error-Code header
// (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound) that picks the message.
#pragma once

#include <memory>

#include "common/hub/hub_client.h"

namespace tessera::hub {

std::unique_ptr<HubClient> MakeHuggingFaceHub(const HubEnvironment& env);

}  // namespace tessera::hub
