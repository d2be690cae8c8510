// The routing key prefix affinity hashes: the start of what the model will read, taken from the request as sent
// (the router never tokenizes or renders templates). Chat messages contribute "role\ncontent\n" each, in order, so
// that requests sharing a system prompt share a key; text prompts contribute their first characters and token-id
// prompts their first ids.
#pragma once

#include <string>

#include "tessera/v1/generation.pb.h"

namespace tessera::router {

struct RoutingKeyOptions {
  int prefix_chars = 256;   // for chat and text prompts (bytes of UTF-8)
  int prefix_tokens = 64;   // for token-id prompts
};

// Empty when the request has no prompt.
std::string RoutingKey(const v1::GenerateRequest& request, const RoutingKeyOptions& options);

}  // namespace tessera::router
