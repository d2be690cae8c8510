// The router's Prometheus series (prefix tessera_router_): per-worker in-flight requests and health, routing
// decisions by policy and outcome, rejected requests by reason, retries, the admission queue's length and finished
// Generate calls by status code. Worker gauges are refreshed from the registry at each scrape; workers that left
// are kept at zero so that their series do not go stale mid-graph.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/registry.h"
#include "grpcpp/support/status.h"
#include "services/router/admission_queue.h"
#include "services/router/worker_registry.h"

namespace tessera::router {

class RouterMetrics {
 public:
  // Registers the families in `registry`; the refresh hook reads `workers` and `admission`, which (like `registry`)
  // must outlive every Render() of the registry.
  static absl::StatusOr<std::unique_ptr<RouterMetrics>> Create(metrics::Registry* registry,
                                                               const WorkerRegistry* workers,
                                                               const AdmissionQueue* admission, std::string policy);

  void RecordDecision(std::string_view outcome);
  // reason: queue_full, no_healthy_worker, unknown_model, draining, invalid_request
  void RecordRejection(std::string_view reason);
  void RecordRetry();
  void RecordGenerateStatus(grpc::StatusCode code);

 private:
  RouterMetrics() = default;
  void Refresh();

  const WorkerRegistry* workers_ = nullptr;
  const AdmissionQueue* admission_ = nullptr;
  std::string policy_;
  metrics::GaugeFamily* in_flight_ = nullptr;
  metrics::GaugeFamily* healthy_ = nullptr;
  metrics::CounterFamily* decisions_ = nullptr;
  metrics::CounterFamily* rejected_ = nullptr;
  metrics::Counter* retries_ = nullptr;
  metrics::Gauge* queued_ = nullptr;
  metrics::Gauge* healthy_workers_ = nullptr;
  metrics::CounterFamily* generate_calls_ = nullptr;
  absl::Mutex mutex_;
  std::set<std::string> seen_workers_ ABSL_GUARDED_BY(mutex_);
};

// The status code's name as gRPC spells it (OK, UNAVAILABLE, ...).
std::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace tessera::router
