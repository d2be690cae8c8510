#include "services/router/router_server.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/metrics/process_collector.h"
#include "common/status_macros.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace tessera::router {

absl::StatusOr<std::unique_ptr<RouterServer>> RouterServer::Start(RouterServerOptions options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " is outside [0, 65535]"));
  }
  std::unique_ptr<RouterServer> server(new RouterServer());
  if (options.log_health_changes) {
    options.registry.on_health_change = [](const std::string& address, WorkerHealth health, std::string_view reason) {
      const std::string why(reason);
      if (why == "removed") {
        std::fprintf(stderr, "tessera-router: worker %s removed\n", address.c_str());
      } else {
        std::fprintf(stderr, "tessera-router: worker %s is %s (%s)\n", address.c_str(),
                     std::string(WorkerHealthName(health)).c_str(), why.c_str());
      }
    };
  }
  server->registry_ = std::make_unique<WorkerRegistry>(options.registry);
  ASSIGN_OR_RETURN(server->policy_, MakeRoutingPolicy(options.policy, options.policy_options));
  server->admission_ =
      std::make_unique<AdmissionQueue>(server->registry_.get(), server->policy_.get(), options.admission);
  RETURN_IF_ERROR(metrics::AddProcessCollector(server->metrics_registry_));
  ASSIGN_OR_RETURN(server->metrics_, RouterMetrics::Create(&server->metrics_registry_, server->registry_.get(),
                                                           server->admission_.get(), options.policy));
  server->generation_ = std::make_unique<GenerationProxy>(server->registry_.get(), server->admission_.get(),
                                                          &server->channels_, server->metrics_.get(), options.proxy);
  server->registry_service_ = std::make_unique<RegistryService>(server->registry_.get());

  for (const std::string& address : options.static_workers) {
    server->registry_->AddWorker(address, WorkerSource::kStatic);
  }
  if (options.dns) {
    server->dns_ = std::make_unique<DnsDiscovery>(server->registry_.get(), *options.dns, options.dns_refresh_interval);
    // A failed first lookup is logged; the periodic refresh keeps trying.
    server->dns_->RefreshOnce().IgnoreError();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string listen = absl::StrCat(options.host, ":", options.port);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->generation_.get());
  builder.RegisterService(server->registry_service_.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, " (address in use or not local?)"));
  }
  server->address_ = absl::StrCat(options.host, ":", server->port_);
  if (grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService()) {
    health->SetServingStatus(false);  // until a worker answers
  }

  server->prober_ = std::make_unique<HealthProber>(server->registry_.get(), &server->channels_, options.prober);
  server->prober_->Start();
  if (server->dns_) server->dns_->Start();
  RouterServer* self = server.get();
  server->health_thread_ = std::thread([self] { self->PublishHealthLoop(); });
  return server;
}

RouterServer::~RouterServer() { Shutdown(absl::Now()); }

void RouterServer::PublishHealthLoop() {
  std::optional<bool> published;
  while (true) {
    const uint64_t seen = registry_->version();
    bool serving;
    {
      absl::MutexLock lock(&mutex_);
      if (stopping_) return;
      serving = !draining_;
    }
    serving = serving && registry_->NumHealthy() > 0;
    if (published != serving) {
      if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
        health->SetServingStatus(serving);
      }
      published = serving;
    }
    registry_->WaitForChange(seen, absl::Now() + absl::Milliseconds(500));
  }
}

void RouterServer::Drain() {
  {
    absl::MutexLock lock(&mutex_);
    draining_ = true;
  }
  generation_->StartDraining();
  registry_->NotifyChange();  // the health loop publishes NOT_SERVING now
}

void RouterServer::Shutdown(absl::Time until) {
  // A server whose Start failed half-way has nothing running to stop.
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  Drain();
  generation_->WaitIdle(until);
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  registry_->NotifyChange();
  if (health_thread_.joinable()) health_thread_.join();
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) health->SetServingStatus(false);
  // Generate calls are done (or out of grace). Registration streams never end on their own, so only calls finishing
  // right now (Tokenize, a probe) get a moment before everything still open is cancelled.
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Milliseconds(500)));
  server_->Wait();
  prober_->Stop();
  if (dns_) dns_->Stop();
}

}  // namespace tessera::router
