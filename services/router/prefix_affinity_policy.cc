#include "services/router/prefix_affinity_policy.h"

#include <string>

#include "services/router/least_load_policy.h"

namespace tessera::router {

PrefixAffinityPolicy::PrefixAffinityPolicy(const RoutingPolicyOptions& options) : options_(options) {}

std::shared_ptr<const ConsistentHashRing> PrefixAffinityPolicy::RingFor(
    const std::vector<RoutingCandidate>& candidates) {
  std::lock_guard<std::mutex> lock(mutex_);
  bool same = ring_ != nullptr && ring_->members().size() == candidates.size();
  for (size_t i = 0; same && i < candidates.size(); ++i) same = ring_->members()[i] == candidates[i].address;
  if (!same) {
    std::vector<std::string> members;
    members.reserve(candidates.size());
    for (const RoutingCandidate& candidate : candidates) members.push_back(candidate.address);
    ring_ = std::make_shared<const ConsistentHashRing>(members, options_.virtual_nodes);
  }
  return ring_;
}

RoutingDecision PrefixAffinityPolicy::Choose(const RoutingRequest& request,
                                             const std::vector<RoutingCandidate>& candidates) {
  const uint64_t rotation = rotation_.fetch_add(1, std::memory_order_relaxed);
  const size_t least = LeastLoadedIndex(candidates, rotation).value_or(0);
  if (request.prefix_key.empty()) return {least, "no_key"};
  const std::shared_ptr<const ConsistentHashRing> ring = RingFor(candidates);
  const size_t owner = ring->Owner(request.prefix_key);
  if (!candidates[owner].available) return {least, "owner_unavailable"};
  const double owner_score = LoadScore(candidates[owner].load);
  const double least_score = LoadScore(candidates[least].load);
  if (owner_score - least_score > options_.load_guard_abs && owner_score > least_score * options_.load_guard_ratio) {
    return {least, "load_guard"};
  }
  return {owner, "affinity"};
}

}  // namespace tessera::router
