#include "services/router/router_metrics.h"

#include <vector>

#include "common/status_macros.h"

namespace tessera::router {

std::string_view GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

absl::StatusOr<std::unique_ptr<RouterMetrics>> RouterMetrics::Create(metrics::Registry* registry,
                                                                     const WorkerRegistry* workers,
                                                                     const AdmissionQueue* admission,
                                                                     std::string policy) {
  std::unique_ptr<RouterMetrics> m(new RouterMetrics());
  m->workers_ = workers;
  m->admission_ = admission;
  m->policy_ = std::move(policy);
  ASSIGN_OR_RETURN(m->in_flight_, registry->AddGauge("tessera_router_worker_in_flight_requests",
                                                     "Requests the router has in flight on each worker.", {"worker"}));
  ASSIGN_OR_RETURN(m->healthy_, registry->AddGauge("tessera_router_worker_healthy",
                                                   "1 when the worker is healthy and takes requests, else 0.",
                                                   {"worker"}));
  ASSIGN_OR_RETURN(m->decisions_,
                   registry->AddCounter("tessera_router_routing_decisions_total",
                                        "Routing decisions by policy and outcome (how the worker was chosen).",
                                        {"policy", "outcome"}));
  ASSIGN_OR_RETURN(m->rejected_, registry->AddCounter("tessera_router_requests_rejected_total",
                                                      "Requests refused before reaching a worker, by reason.",
                                                      {"reason"}));
  ASSIGN_OR_RETURN(metrics::CounterFamily * retries,
                   registry->AddCounter("tessera_router_retries_total",
                                        "Generate calls retried on another worker before the first response."));
  ASSIGN_OR_RETURN(m->retries_, retries->WithLabels({}));
  ASSIGN_OR_RETURN(metrics::GaugeFamily * queued,
                   registry->AddGauge("tessera_router_queued_requests",
                                      "Requests waiting in the admission queue for a worker slot."));
  ASSIGN_OR_RETURN(m->queued_, queued->WithLabels({}));
  ASSIGN_OR_RETURN(metrics::GaugeFamily * healthy_workers,
                   registry->AddGauge("tessera_router_healthy_workers", "Workers that are healthy now."));
  ASSIGN_OR_RETURN(m->healthy_workers_, healthy_workers->WithLabels({}));
  ASSIGN_OR_RETURN(m->generate_calls_,
                   registry->AddCounter("tessera_router_generate_requests_total",
                                        "Generate calls finished by the router, by gRPC status code.", {"code"}));
  RouterMetrics* self = m.get();
  registry->AddCollectHook([self] { self->Refresh(); });
  return m;
}

void RouterMetrics::Refresh() {
  const std::vector<WorkerStatus> workers = workers_->Snapshot();
  int healthy_count = 0;
  absl::MutexLock lock(&mutex_);
  std::set<std::string> gone = seen_workers_;
  for (const WorkerStatus& worker : workers) {
    gone.erase(worker.address);
    seen_workers_.insert(worker.address);
    const bool healthy = worker.health == WorkerHealth::kHealthy;
    healthy_count += healthy ? 1 : 0;
    if (absl::StatusOr<metrics::Gauge*> g = in_flight_->WithLabels({worker.address}); g.ok()) {
      (*g)->Set(worker.in_flight);
    }
    if (absl::StatusOr<metrics::Gauge*> g = healthy_->WithLabels({worker.address}); g.ok()) {
      (*g)->Set(healthy ? 1 : 0);
    }
  }
  for (const std::string& address : gone) {
    if (absl::StatusOr<metrics::Gauge*> g = in_flight_->WithLabels({address}); g.ok()) (*g)->Set(0);
    if (absl::StatusOr<metrics::Gauge*> g = healthy_->WithLabels({address}); g.ok()) (*g)->Set(0);
  }
  healthy_workers_->Set(healthy_count);
  queued_->Set(admission_->queued());
}

void RouterMetrics::RecordDecision(std::string_view outcome) {
  if (absl::StatusOr<metrics::Counter*> c = decisions_->WithLabels({policy_, std::string(outcome)}); c.ok()) {
    (*c)->Increment();
  }
}

void RouterMetrics::RecordRejection(std::string_view reason) {
  if (absl::StatusOr<metrics::Counter*> c = rejected_->WithLabels({std::string(reason)}); c.ok()) (*c)->Increment();
}

void RouterMetrics::RecordRetry() { retries_->Increment(); }

void RouterMetrics::RecordGenerateStatus(grpc::StatusCode code) {
  if (absl::StatusOr<metrics::Counter*> c = generate_calls_->WithLabels({std::string(GrpcCodeName(code))}); c.ok()) {
    (*c)->Increment();
  }
}

}  // namespace tessera::router
