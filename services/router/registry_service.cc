#include "services/router/registry_service.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "services/router/worker_address.h"

namespace tessera::router {

grpc::Status RegistryService::Register(grpc::ServerContext* context, grpc::ServerReader<v1::LoadReport>* reader,
                                       v1::RegisterResponse*) {
  v1::LoadReport report;
  if (!reader->Read(&report)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the registration stream ended before its first report");
  }
  if (report.model().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first load report names no model");
  }
  absl::StatusOr<std::string> address = ReachableWorkerAddress(report.worker_address(), context->peer());
  if (!address.ok()) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(address.status().message()));

  registry_->AddWorker(*address, WorkerSource::kRegistered);
  registry_->RecordLoadReport(*address, report);
  std::fprintf(stderr, "tessera-router: worker %s registered (model '%s')\n", address->c_str(), report.model().c_str());
  while (reader->Read(&report)) registry_->RecordLoadReport(*address, report);
  registry_->RemoveWorker(*address, WorkerSource::kRegistered);
  std::fprintf(stderr, "tessera-router: worker %s ended its registration\n", address->c_str());
  return grpc::Status::OK;
}

}  // namespace tessera::router
