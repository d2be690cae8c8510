// tessera-router's server: tessera.v1.Generation (routed to workers), tessera.v1.Registry (worker registration)
// and grpc.health.v1 (SERVING while at least one worker is healthy and the router is not draining), with the
// worker registry, health prober, optional DNS discovery, routing policy, admission queue and metrics behind them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics/registry.h"
#include "grpcpp/server.h"
#include "services/router/admission_queue.h"
#include "services/router/dns_discovery.h"
#include "services/router/generation_proxy.h"
#include "services/router/health_prober.h"
#include "services/router/registry_service.h"
#include "services/router/router_metrics.h"
#include "services/router/routing_policy.h"
#include "services/router/worker_channels.h"
#include "services/router/worker_registry.h"

namespace tessera::router {

struct RouterServerOptions {
  std::string host = "0.0.0.0";
  int port = 0;  // 0 picks a free port (see RouterServer::port)
  std::vector<std::string> static_workers;  // host:port
  std::optional<DnsTarget> dns;
  absl::Duration dns_refresh_interval = absl::Seconds(5);
  std::string policy = std::string(kPrefixAffinityPolicy);
  RoutingPolicyOptions policy_options;
  WorkerRegistryOptions registry;
  AdmissionOptions admission;
  HealthProberOptions prober;
  GenerationProxyOptions proxy;
  // Log worker health transitions to stderr.
  bool log_health_changes = true;
};

class RouterServer {
 public:
  // Binds, resolves the DNS name once, starts the prober and serves.
  static absl::StatusOr<std::unique_ptr<RouterServer>> Start(RouterServerOptions options);
  ~RouterServer();  // Shutdown(now)

  int port() const { return port_; }
  const std::string& address() const { return address_; }
  WorkerRegistry& registry() { return *registry_; }
  // The router's series (plus process metrics), for a MetricsHttpServer; it must be stopped before the server dies.
  const metrics::Registry& metrics_registry() const { return metrics_registry_; }

  // Refuses new Generate calls and reports NOT_SERVING; running calls go on.
  void Drain();
  // Drains, waits for running Generate calls until `until`, then stops serving (cancelling what still runs).
  void Shutdown(absl::Time until);

 private:
  RouterServer() = default;
  // Keeps grpc.health.v1 in step with the registry until Shutdown.
  void PublishHealthLoop();

  metrics::Registry metrics_registry_;
  std::unique_ptr<WorkerRegistry> registry_;
  WorkerChannels channels_;
  std::unique_ptr<RoutingPolicy> policy_;
  std::unique_ptr<AdmissionQueue> admission_;
  std::unique_ptr<RouterMetrics> metrics_;
  std::unique_ptr<GenerationProxy> generation_;
  std::unique_ptr<RegistryService> registry_service_;
  std::unique_ptr<HealthProber> prober_;
  std::unique_ptr<DnsDiscovery> dns_;
  std::unique_ptr<grpc::Server> server_;
  std::thread health_thread_;
  int port_ = 0;
  std::string address_;

  absl::Mutex mutex_;
  bool draining_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool shut_down_ = false;
};

}  // namespace tessera::router
