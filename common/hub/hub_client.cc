#include "common/hub/hub_client.h"

#include "common/hub/hf_hub.h"
#include "common/hub/modelscope_hub.h"

namespace tessera::hub {

std::unique_ptr<HubClient> MakeHubClient(HubKind kind, const HubEnvironment& env) {
  return kind == HubKind::kHuggingFace ? MakeHuggingFaceHub(env) : MakeModelScopeHub(env);
}

}  // namespace tessera::hub
