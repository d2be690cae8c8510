// Host↔device copies through a ring of pinned host buffers: the host data is copied into a pinned slot and the
// transfer is queued on the stream, so copies are truly asynchronous, run at full bus speed and leave the caller's
// buffer free at once. Each slot's event tells when the slot can be refilled.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace tessera::kernels::cuda {

class PinnedStaging {
 public:
  static absl::StatusOr<std::unique_ptr<PinnedStaging>> Create(size_t slot_bytes, int num_slots);
  ~PinnedStaging();
  PinnedStaging(const PinnedStaging&) = delete;
  PinnedStaging& operator=(const PinnedStaging&) = delete;

  // Queues host → device on `stream`; returns once `host_src` has been read.
  absl::Status ToDevice(void* device_dst, const void* host_src, size_t bytes, cudaStream_t stream);
  // Device → host after everything queued on `stream`; returns when the data is in `host_dst`.
  absl::Status ToHost(void* host_dst, const void* device_src, size_t bytes, cudaStream_t stream);

 private:
  struct Slot {
    void* host = nullptr;
    cudaEvent_t done = nullptr;
  };
  explicit PinnedStaging(size_t slot_bytes) : slot_bytes_(slot_bytes) {}
  // The next slot, once the transfer that last used it has finished.
  absl::StatusOr<Slot*> NextSlot();

  size_t slot_bytes_;
  std::vector<Slot> slots_;
  size_t next_ = 0;
};

}  // namespace tessera::kernels::cuda
