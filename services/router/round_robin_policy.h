// Round-robin routing: each request goes to the next available worker in address order, regardless of load.
#pragma once

#include <atomic>
#include <cstdint>

#include "services/router/routing_policy.h"

namespace tessera::router {

class RoundRobinPolicy final : public RoutingPolicy {
 public:
  std::string_view name() const override { return kRoundRobinPolicy; }
  RoutingDecision Choose(const RoutingRequest& request, const std::vector<RoutingCandidate>& candidates) override;

 private:
  std::atomic<uint64_t> next_{0};
};

}  // namespace tessera::router
