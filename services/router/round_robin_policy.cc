#include "services/router/round_robin_policy.h"

namespace tessera::router {

RoutingDecision RoundRobinPolicy::Choose(const RoutingRequest&, const std::vector<RoutingCandidate>& candidates) {
  const size_t n = candidates.size();
  const uint64_t start = next_.fetch_add(1, std::memory_order_relaxed);
  for (size_t step = 0; step < n; ++step) {
    const size_t index = (start + step) % n;
    if (candidates[index].available) return {index, "round_robin"};
  }
  return {0, "round_robin"};  // unreachable: the caller guarantees an available candidate
}

}  // namespace tessera::router
