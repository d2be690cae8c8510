// The worker's gRPC server: Generation, WorkerControl and the standard grpc.health.v1 service around one
// AsyncEngine. Draining (the Drain RPC, or SIGTERM in tessera-worker) stops admissions and turns health to
// NOT_SERVING so that routers and Kubernetes stop sending traffic while in-flight requests finish.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server.h"
#include "services/worker/async_engine.h"
#include "services/worker/generation_service.h"

namespace tessera::worker {

struct WorkerServerOptions {
  std::string host = "0.0.0.0";
  int port = 0;  // 0 picks a free port (see WorkerServer::port)
  std::string served_model_name;
  // host:port the router should call; default host:port as bound.
  std::string advertised_address;
};

class WorkerServer {
 public:
  // Health turns NOT_SERVING (draining, or an engine that can no longer run requests).
  void SetNotServing();
  // Binds and starts serving. `engine` must outlive the server.
  static absl::StatusOr<std::unique_ptr<WorkerServer>> Start(AsyncEngine* engine, const WorkerServerOptions& options);
  ~WorkerServer();

  int port() const { return port_; }
  const std::string& address() const { return address_; }

  // Stops admitting requests and reports NOT_SERVING; with a grace period, requests still running after it are
  // aborted.
  void Drain(std::optional<std::chrono::steady_clock::duration> grace = std::nullopt);
  // Waits for in-flight requests (until `until`), then stops the server. Calls still open at the end are cancelled.
  void Shutdown(std::chrono::steady_clock::time_point until);

 private:
  WorkerServer() = default;

  AsyncEngine* engine_ = nullptr;
  std::unique_ptr<GenerationService> generation_;
  std::unique_ptr<WorkerControlService> control_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

}  // namespace tessera::worker
