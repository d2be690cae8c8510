// tessera.v1.Registry on the router: a worker opens Register, its first LoadReport adds it to the registry (under
// the address it reports, or its peer IP when it reports a wildcard host), each later report refreshes its load and
// health, and the end of the stream (the worker stopped, crashed or lost the network) removes it.
#pragma once

#include "services/router/worker_registry.h"
#include "tessera/v1/worker.grpc.pb.h"

namespace tessera::router {

class RegistryService final : public v1::Registry::Service {
 public:
  // `registry` must outlive the service.
  explicit RegistryService(WorkerRegistry* registry) : registry_(registry) {}

  grpc::Status Register(grpc::ServerContext* context, grpc::ServerReader<v1::LoadReport>* reader,
                        v1::RegisterResponse* response) override;

 private:
  WorkerRegistry* registry_;
};

}  // namespace tessera::router
