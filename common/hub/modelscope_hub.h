// ModelScope (or a mirror at MODELSCOPE_DOMAIN). Endpoints used, as ModelScope's own client calls them:
//   GET {endpoint}/api/v1/models/{org}/{name}/repo/files?Revision={revision}&Recursive=true
//       -> {"Code": 200, "Success": true, "Data": {"Files": [{"Path", "Type": "blob"|"tree", "Size", "Sha256"}]}}
//   GET {endpoint}/api/v1/models/{org}/{name}/repo?Revision={revision}&FilePath={path}
// with the cookie `m_session_id=$MODELSCOPE_API_TOKEN` when a token is set. The default revision is "master".
#pragma once

#include <memory>

#include "common/hub/hub_client.h"

namespace tessera::hub {

std::unique_ptr<HubClient> MakeModelScopeHub(const HubEnvironment& env);

}  // namespace tessera::hub
