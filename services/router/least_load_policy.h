// Least-load routing: the available worker with the lowest LoadScore. Ties rotate, so that idle workers share a
// trickle of sequential requests instead of the first one taking them all.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "services/router/routing_policy.h"

namespace tessera::router {

// The index of the least loaded available candidate (ties: the first at or after `rotation` modulo the size), or
// nullopt when none is available. Shared with prefix affinity's fallback.
std::optional<size_t> LeastLoadedIndex(const std::vector<RoutingCandidate>& candidates, uint64_t rotation);

class LeastLoadPolicy final : public RoutingPolicy {
 public:
  std::string_view name() const override { return kLeastLoadPolicy; }
  RoutingDecision Choose(const RoutingRequest& request, const std::vector<RoutingCandidate>& candidates) override;

 private:
  std::atomic<uint64_t> rotation_{0};
};

}  // namespace tessera::router
