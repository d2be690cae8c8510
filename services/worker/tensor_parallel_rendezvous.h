// How the processes of one tensor-parallel worker group find each other: the leader serves
// tessera.v1.TensorParallel.Join on its rendezvous port and answers with the address of its host links and NCCL's
// unique id; followers call it (retrying while the leader starts) and then connect.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "tessera/v1/worker.grpc.pb.h"

namespace tessera::worker {

struct RendezvousInfo {
  std::string group_address;
  std::string nccl_unique_id;
  int world_size = 1;
  std::string model;
  std::string device;
};

class RendezvousServer {
 public:
  // Serves Join (and grpc.health.v1) on host:port; port 0 picks one.
  static absl::StatusOr<std::unique_ptr<RendezvousServer>> Start(const std::string& host, int port,
                                                                 const RendezvousInfo& info);
  ~RendezvousServer();
  int port() const { return port_; }

 private:
  class Service;
  RendezvousServer() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// A server with only grpc.health.v1 (SERVING), for follower ranks' probes. *bound_port receives the port.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthServer(const std::string& host, int port, int* bound_port);

// Follower: asks the leader at `leader_address` how to join as `rank`, retrying until `deadline`.
absl::StatusOr<tessera::v1::JoinResponse> JoinTensorParallelGroup(const std::string& leader_address, int rank,
                                                                 int world_size, const std::string& model,
                                                                 const std::string& device,
                                                                 std::chrono::steady_clock::time_point deadline);

}  // namespace tessera::worker
