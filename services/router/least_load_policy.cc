#include "services/router/least_load_policy.h"

namespace tessera::router {

std::optional<size_t> LeastLoadedIndex(const std::vector<RoutingCandidate>& candidates, uint64_t rotation) {
  const size_t n = candidates.size();
  std::optional<size_t> best;
  double best_score = 0.0;
  for (size_t step = 0; step < n; ++step) {
    const size_t index = (rotation + step) % n;
    if (!candidates[index].available) continue;
    const double score = LoadScore(candidates[index].load);
    if (!best || score < best_score) {
      best = index;
      best_score = score;
    }
  }
  return best;
}

RoutingDecision LeastLoadPolicy::Choose(const RoutingRequest&, const std::vector<RoutingCandidate>& candidates) {
  const uint64_t rotation = rotation_.fetch_add(1, std::memory_order_relaxed);
  return {LeastLoadedIndex(candidates, rotation).value_or(0), "least_load"};
}

}  // namespace tessera::router
