// The tessera-grpc backend of `tessera bench serve`: tessera.v1.Generation/Generate streamed straight from a worker
// (or the router), so that the same workload measured here and through the gateway shows what the HTTP edge adds
// per token. Calls run on gRPC's callback API; each response carrying tokens is timestamped when it is read.
#pragma once

// g++ 12 in C++20 needs <utility> ahead of Asio's headers.
#include <utility>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "tools/tessera/bench_serve_backend.h"

namespace tessera::cli {

struct GrpcBackendOptions {
  std::string target;  // host:port
  BenchSampling sampling;
  double request_timeout_s = 6 * 3600;
};

class GrpcGenerateBackend : public ServeBackend {
 public:
  static absl::StatusOr<std::unique_ptr<GrpcGenerateBackend>> Create(GrpcBackendOptions options);
  ~GrpcGenerateBackend() override;

  boost::asio::awaitable<RequestOutcome> Send(const BenchRequest& request, BenchClock::time_point run_start) override;
  boost::asio::awaitable<absl::StatusOr<std::string>> FirstModel() override;
  std::string Describe() const override;

 private:
  struct State;
  explicit GrpcGenerateBackend(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace tessera::cli
