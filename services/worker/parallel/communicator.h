// The collectives tensor parallelism needs between the ranks of one worker group: an all-reduce after every
// row-parallel projection and an all-gather of vocab-parallel logits. Two implementations: NCCL on GPUs, and one
// over the group's TCP links for CPU processes on one host (so tensor parallelism runs in tests without GPUs).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace tessera::parallel {

class TcpGroup;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // Sums `tensor` (memory of this rank's backend, contiguous) over every rank, in place, ordered with the
  // backend's ops.
  virtual absl::Status AllReduceSum(kernels::Tensor& tensor) = 0;
  // out holds world_size copies of in's shape, rank r's `in` at offset r * in.numel(). Same dtype; contiguous.
  virtual absl::Status AllGather(const kernels::Tensor& in, kernels::Tensor& out) = 0;
};

// The CPU implementation: exchanges through `group` (which must outlive it); the backend's memory is host memory.
absl::StatusOr<std::unique_ptr<Communicator>> CreateCpuCommunicator(TcpGroup* group, kernels::Backend* backend);

}  // namespace tessera::parallel

namespace tessera::parallel {

// The communicator that fits the backend: NCCL for CUDA (joining `nccl_unique_id`), TCP for the CPU.
absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(TcpGroup* group, const std::string& nccl_unique_id,
                                                                 kernels::Backend* backend);

}  // namespace tessera::parallel
