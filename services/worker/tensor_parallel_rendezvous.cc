#include "services/worker/tensor_parallel_rendezvous.h"

#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace tessera::worker {

class RendezvousServer::Service final : public tessera::v1::TensorParallel::Service {
 public:
  explicit Service(RendezvousInfo info) : info_(std::move(info)) {}

  grpc::Status Join(grpc::ServerContext*, const tessera::v1::JoinRequest* request,
                    tessera::v1::JoinResponse* response) override {
    // A follower started with other flags would load another model or shard it differently: refuse it by name.
    if (request->world_size() != info_.world_size) {
      return {grpc::StatusCode::FAILED_PRECONDITION,
              absl::StrCat("the leader's tensor-parallel size is ", info_.world_size, ", the follower's ",
                           request->world_size())};
    }
    if (request->rank() <= 0 || request->rank() >= info_.world_size) {
      return {grpc::StatusCode::INVALID_ARGUMENT,
              absl::StrCat("follower rank ", request->rank(), " is not in [1, ", info_.world_size, ")")};
    }
    if (request->model() != info_.model || request->device() != info_.device) {
      return {grpc::StatusCode::FAILED_PRECONDITION,
              absl::StrCat("the leader serves '", info_.model, "' on ", info_.device, ", the follower asked for '",
                           request->model(), "' on ", request->device())};
    }
    response->set_group_address(info_.group_address);
    response->set_nccl_unique_id(info_.nccl_unique_id);
    response->set_world_size(info_.world_size);
    return grpc::Status::OK;
  }

 private:
  const RendezvousInfo info_;
};

absl::StatusOr<std::unique_ptr<RendezvousServer>> RendezvousServer::Start(const std::string& host, int port,
                                                                          const RendezvousInfo& info) {
  std::unique_ptr<RendezvousServer> server(new RendezvousServer());
  server->service_ = std::make_unique<Service>(info);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string listen = absl::StrCat(host, ":", port);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &server->port_);
  builder.RegisterService(server->service_.get());
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("tensor-parallel rendezvous cannot listen on ", listen));
  }
  return server;
}

RendezvousServer::~RendezvousServer() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(const std::string& host, int port, int* bound_port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string listen = absl::StrCat(host, ":", port);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), bound_port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || *bound_port == 0) return absl::UnavailableError(absl::StrCat("cannot listen on ", listen));
  return server;
}

absl::StatusOr<tessera::v1::JoinResponse> JoinTensorParallelGroup(const std::string& leader_address, int rank,
                                                                 int world_size, const std::string& model,
                                                                 const std::string& device,
                                                                 std::chrono::steady_clock::time_point deadline) {
  auto channel = grpc::CreateChannel(leader_address, grpc::InsecureChannelCredentials());
  auto stub = tessera::v1::TensorParallel::NewStub(channel);
  tessera::v1::JoinRequest request;
  request.set_rank(rank);
  request.set_world_size(world_size);
  request.set_model(model);
  request.set_device(device);
  grpc::Status last;
  while (std::chrono::steady_clock::now() < deadline) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    tessera::v1::JoinResponse response;
    last = stub->Join(&context, request, &response);
    if (last.ok()) return response;
    // Only an unreachable leader is worth waiting for; a refusal will not change.
    if (last.error_code() != grpc::StatusCode::UNAVAILABLE &&
        last.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return absl::FailedPreconditionError(
          absl::StrCat("the tensor-parallel leader at ", leader_address, " refused rank ", rank, ": ",
                       last.error_message()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return absl::DeadlineExceededError(absl::StrCat("no tensor-parallel leader answered at ", leader_address,
                                                  " in time (last error: ", last.error_message(), ")"));
}

}  // namespace tessera::worker
