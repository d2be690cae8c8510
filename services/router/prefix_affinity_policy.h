// Prefix-affinity routing (cache-aware, as in SGLang's router): requests whose prompts start alike hash to the same
// worker on a consistent-hash ring over the model's healthy workers, so that they find their prefix's KV blocks
// already cached there. A load guard keeps one hot prefix from overloading its worker: when the ring's choice is
// much busier than the least loaded worker, or cannot take the request now, least-load decides instead.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "services/router/consistent_hash_ring.h"
#include "services/router/routing_policy.h"

namespace tessera::router {

class PrefixAffinityPolicy final : public RoutingPolicy {
 public:
  explicit PrefixAffinityPolicy(const RoutingPolicyOptions& options);

  std::string_view name() const override { return kPrefixAffinityPolicy; }
  // Outcomes: "affinity" (the ring's choice), "load_guard" (overruled for load), "owner_unavailable" (the ring's
  // choice is full or failed this request), "no_key" (a request without a prompt goes least-loaded).
  RoutingDecision Choose(const RoutingRequest& request, const std::vector<RoutingCandidate>& candidates) override;

 private:
  // The ring over these candidates' addresses, rebuilt only when the membership changed.
  std::shared_ptr<const ConsistentHashRing> RingFor(const std::vector<RoutingCandidate>& candidates);

  const RoutingPolicyOptions options_;
  std::atomic<uint64_t> rotation_{0};
  std::mutex mutex_;
  std::shared_ptr<const ConsistentHashRing> ring_;
};

}  // namespace tessera::router
