// One gRPC channel per worker address, shared by the health prober and the request path. The channels retry
// connecting quickly (at most a second apart) so that a restarted worker is seen again within a probe or two,
// instead of after gRPC's default backoff of up to two minutes.
#pragma once

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/channel.h"

namespace tessera::router {

class WorkerChannels {
 public:
  std::shared_ptr<grpc::Channel> Get(const std::string& address);

 private:
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::router
