#include "services/router/routing_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "services/router/least_load_policy.h"
#include "services/router/prefix_affinity_policy.h"
#include "services/router/round_robin_policy.h"

namespace tessera::router {

double LoadScore(const WorkerLoad& load) {
  const int queued_or_running = std::max(load.in_flight, load.num_running + load.num_waiting);
  return static_cast<double>(queued_or_running) + std::clamp(load.kv_cache_usage, 0.0, 1.0) * 0.5;
}

absl::StatusOr<std::unique_ptr<RoutingPolicy>> MakeRoutingPolicy(std::string_view name,
                                                                 const RoutingPolicyOptions& options) {
  if (name == kRoundRobinPolicy) return std::make_unique<RoundRobinPolicy>();
  if (name == kLeastLoadPolicy) return std::make_unique<LeastLoadPolicy>();
  if (name == kPrefixAffinityPolicy) {
    if (options.virtual_nodes < 1) return absl::InvalidArgumentError("the number of virtual nodes must be at least 1");
    if (options.load_guard_abs < 0 || options.load_guard_ratio < 1) {
      return absl::InvalidArgumentError("the load guard needs an absolute margin >= 0 and a ratio >= 1");
    }
    return std::make_unique<PrefixAffinityPolicy>(options);
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown routing policy '", std::string(name), "'; use ",
                                                 std::string(kRoundRobinPolicy), ", ", std::string(kLeastLoadPolicy),
                                                 " or ", std::string(kPrefixAffinityPolicy)));
}

}  // namespace tessera::router
