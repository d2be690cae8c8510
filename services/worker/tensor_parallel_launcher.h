// Sets up the tensor-parallel group of a worker. The leader (rank 0) opens the group's links, serves the
// rendezvous, and by default starts one follower process per further rank on this host (one per GPU, as a pod
// with N GPUs runs them); followers started by hand (--tp-followers external) join through --leader instead.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include "absl/status/statusor.h"
#include "common/command_line.h"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/llm_engine.h"
#include "services/worker/parallel/tcp_group.h"
#include "services/worker/tensor_parallel_rendezvous.h"

namespace tessera::worker {

// The worker's tensor-parallel flags, for --help and parsing.
std::vector<FlagSpec> TensorParallelFlagSpecs();

// What a leader holds while its group lives. Destroy it after the engine: the engine's teardown stops the
// followers, and this then reaps the processes it started.
class TensorParallelLeader {
 public:
  // Returns null when the model is whole (size 1).
  static absl::StatusOr<std::unique_ptr<TensorParallelLeader>> Start(const CommandLine& flags,
                                                                     const std::vector<FlagSpec>& engine_specs,
                                                                     engine::EngineConfig& config,
                                                                     const std::string& host);
  ~TensorParallelLeader();

  // Waits for every follower to connect (they load their shards meanwhile; so does the leader afterwards).
  absl::Status AwaitFollowers();
  const engine::TensorParallelGroup* group() const { return &group_; }

 private:
  TensorParallelLeader() = default;

  std::unique_ptr<parallel::TcpGroup> links_;
  std::unique_ptr<RendezvousServer> rendezvous_;
  engine::TensorParallelGroup group_;
  std::vector<pid_t> children_;
  std::chrono::seconds join_timeout_{600};
};

// Whether these flags make this process a follower (--tp-rank > 0).
bool IsTensorParallelFollower(const CommandLine& flags);

// Runs a follower until its leader stops the group (OK) or the group breaks (the error). `config` is the
// follower's engine configuration; its device gets this rank's GPU.
absl::Status RunTensorParallelFollower(const CommandLine& flags, engine::EngineConfig config);

}  // namespace tessera::worker
