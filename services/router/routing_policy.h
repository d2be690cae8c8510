// How the router picks a worker for a request: the RoutingPolicy interface shared by round-robin, least-load and
// prefix-affinity, the load figures a policy may read, and the factory that builds a policy from its flag name.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::router {

// What the router knows about a worker's load: its own count of requests it sent there and has not seen finish,
// and the worker's last load report (which also counts other routers' requests, but may be a second old).
struct WorkerLoad {
  int in_flight = 0;
  int num_running = 0;
  int num_waiting = 0;
  double kv_cache_usage = 0.0;  // 0..1
};

// One number per worker, lower is less loaded: requests queued or running there (the fresher of the router's count
// and the report), with the KV-cache usage as a tie-breaker below one request.
double LoadScore(const WorkerLoad& load);

struct RoutingCandidate {
  std::string address;
  WorkerLoad load;
  // False when the worker is healthy but may not take this request now (at its in-flight cap, or it already failed
  // this request). Policies never choose an unavailable worker; prefix affinity still counts it as a ring member so
  // that keys do not move while a worker is momentarily full.
  bool available = true;
};

struct RoutingRequest {
  std::string_view prefix_key;  // see routing_key.h; empty when the request has no prompt
};

struct RoutingDecision {
  size_t index = 0;           // into the candidate list
  std::string_view outcome;   // the routing_decisions_total{outcome} label: how the choice was made
};

class RoutingPolicy {
 public:
  virtual ~RoutingPolicy() = default;
  // The --policy name, also the metrics' policy label.
  virtual std::string_view name() const = 0;
  // `candidates` are the model's healthy workers ordered by address, at least one of them available. Thread-safe.
  virtual RoutingDecision Choose(const RoutingRequest& request, const std::vector<RoutingCandidate>& candidates) = 0;
};

struct RoutingPolicyOptions {
  // Prefix affinity: points per worker on the hash ring (more spread keys more evenly).
  int virtual_nodes = 160;
  // Prefix affinity's load guard: the ring's choice is overruled by least-load when its load score exceeds the
  // least loaded worker's by more than `load_guard_abs` requests and by more than `load_guard_ratio` times.
  double load_guard_abs = 16.0;
  double load_guard_ratio = 1.5;
};

inline constexpr std::string_view kRoundRobinPolicy = "round-robin";
inline constexpr std::string_view kLeastLoadPolicy = "least-load";
inline constexpr std::string_view kPrefixAffinityPolicy = "prefix-affinity";

// Builds the policy named by --policy; an unknown name is InvalidArgument listing the valid ones.
absl::StatusOr<std::unique_ptr<RoutingPolicy>> MakeRoutingPolicy(std::string_view name,
                                                                 const RoutingPolicyOptions& options = {});

}  // namespace tessera::router
