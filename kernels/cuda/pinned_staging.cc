#include "kernels/cuda/pinned_staging.h"

#include <algorithm>
#include <cstring>

#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {

absl::StatusOr<std::unique_ptr<PinnedStaging>> PinnedStaging::Create(size_t slot_bytes, int num_slots) {
  auto staging = std::unique_ptr<PinnedStaging>(new PinnedStaging(slot_bytes));
  for (int i = 0; i < num_slots; ++i) {
    Slot slot;
    TESSERA_CUDA_RETURN_IF_ERROR(cudaMallocHost(&slot.host, slot_bytes));
    const cudaError_t error = cudaEventCreateWithFlags(&slot.done, cudaEventDisableTiming);
    staging->slots_.push_back(slot);
    TESSERA_CUDA_RETURN_IF_ERROR(error);
  }
  return staging;
}

PinnedStaging::~PinnedStaging() {
  for (Slot& slot : slots_) {
    if (slot.done) {
      cudaEventSynchronize(slot.done);
      cudaEventDestroy(slot.done);
    }
    if (slot.host) cudaFreeHost(slot.host);
  }
}

absl::StatusOr<PinnedStaging::Slot*> PinnedStaging::NextSlot() {
  Slot* slot = &slots_[next_];
  next_ = (next_ + 1) % slots_.size();
  TESSERA_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(slot->done));
  return slot;
}

absl::Status PinnedStaging::ToDevice(void* device_dst, const void* host_src, size_t bytes, cudaStream_t stream) {
  for (size_t offset = 0; offset < bytes; offset += slot_bytes_) {
    const size_t chunk = std::min(slot_bytes_, bytes - offset);
    absl::StatusOr<Slot*> slot = NextSlot();
    if (!slot.ok()) return slot.status();
    std::memcpy((*slot)->host, static_cast<const char*>(host_src) + offset, chunk);
    TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(static_cast<char*>(device_dst) + offset, (*slot)->host, chunk,
                                                 cudaMemcpyHostToDevice, stream));
    TESSERA_CUDA_RETURN_IF_ERROR(cudaEventRecord((*slot)->done, stream));
  }
  return absl::OkStatus();
}

absl::Status PinnedStaging::ToHost(void* host_dst, const void* device_src, size_t bytes, cudaStream_t stream) {
  for (size_t offset = 0; offset < bytes; offset += slot_bytes_) {
    const size_t chunk = std::min(slot_bytes_, bytes - offset);
    absl::StatusOr<Slot*> slot = NextSlot();
    if (!slot.ok()) return slot.status();
    TESSERA_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync((*slot)->host, static_cast<const char*>(device_src) + offset, chunk,
                                                 cudaMemcpyDeviceToHost, stream));
    TESSERA_CUDA_RETURN_IF_ERROR(cudaEventRecord((*slot)->done, stream));
    TESSERA_CUDA_RETURN_IF_ERROR(cudaEventSynchronize((*slot)->done));
    std::memcpy(static_cast<char*>(host_dst) + offset, (*slot)->host, chunk);
  }
  return absl::OkStatus();
}

}  // namespace tessera::kernels::cuda
