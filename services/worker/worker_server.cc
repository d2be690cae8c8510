#include "services/worker/worker_server.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace tessera::worker {

absl::StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(AsyncEngine* engine,
                                                                  const WorkerServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", options.port, " is outside [0, 65535]"));
  }
  std::unique_ptr<WorkerServer> server(new WorkerServer());
  server->engine_ = engine;
  GenerationServiceOptions generation_options;
  generation_options.served_model_name = options.served_model_name;
  server->generation_ = std::make_unique<GenerationService>(engine, generation_options);
  WorkerServer* self = server.get();
  server->control_ = std::make_unique<WorkerControlService>(
      engine, options.served_model_name, options.advertised_address, [self] { self->SetNotServing(); });

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string listen = absl::StrCat(options.host, ":", options.port);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->generation_.get());
  builder.RegisterService(server->control_.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", listen, " (address in use or not local?)"));
  }
  server->address_ = absl::StrCat(options.host, ":", server->port_);
  // With port 0 the address is only known now that the port is bound.
  if (options.advertised_address.empty()) server->control_->set_worker_address(server->address_);
  return server;
}

WorkerServer::~WorkerServer() {
  if (!shut_down_) Shutdown(std::chrono::steady_clock::now());
}

void WorkerServer::SetNotServing() {
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) health->SetServingStatus(false);
}

void WorkerServer::Drain(std::optional<std::chrono::steady_clock::duration> grace) {
  engine_->Drain(grace);
  SetNotServing();
}

void WorkerServer::Shutdown(std::chrono::steady_clock::time_point until) {
  if (shut_down_) return;
  shut_down_ = true;
  engine_->Drain();
  SetNotServing();
  engine_->WaitIdle(until);
  // Convert the steady deadline to the system clock gRPC wants.
  const auto remaining = until - std::chrono::steady_clock::now();
  server_->Shutdown(std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                        std::max(remaining, std::chrono::steady_clock::duration::zero())));
}

}  // namespace tessera::worker
