// The GPU communicator: NCCL collectives on the backend's stream, so reductions are ordered with the model's ops
// and never wait on the host. Built only with CUDA; the engine sees it through the Communicator interface.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/worker/parallel/communicator.h"

namespace tessera::parallel {

// NCCL's unique id, created by the leader and handed to followers at rendezvous.
absl::StatusOr<std::string> CreateNcclUniqueId();

// Joins the NCCL group `unique_id` as `rank` of `world_size` on the backend's GPU; collectives are enqueued on
// `stream` (a cudaStream_t: the one the backend runs its ops on).
absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(const std::string& unique_id, int rank,
                                                                     int world_size, kernels::Backend* backend,
                                                                     void* stream);

}  // namespace tessera::parallel
