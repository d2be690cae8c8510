#include "kernels/cuda/cuda_allocator.h"

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {
namespace {

// Small blocks round to 512 bytes, large ones to 2 MiB, so that similar sizes share pool entries.
size_t RoundedSize(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t{2} << 20;
  if (bytes == 0) bytes = 1;
  const size_t unit = bytes < kLarge ? kSmall : kLarge;
  return (bytes + unit - 1) / unit * unit;
}

}  // namespace

CachingAllocator::~CachingAllocator() { ReleaseCached(); }

absl::StatusOr<std::unique_ptr<DeviceMemory>> CachingAllocator::Allocate(size_t bytes) {
  const size_t rounded = RoundedSize(bytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Best fit, but never a block more than twice the size: a huge cached block stays for a huge request.
    auto it = free_blocks_.lower_bound(rounded);
    if (it != free_blocks_.end() && it->first <= 2 * rounded) {
      const size_t capacity = it->first;
      void* data = it->second;
      free_blocks_.erase(it);
      cached_bytes_ -= capacity;
      return std::unique_ptr<DeviceMemory>(new CudaMemory(shared_from_this(), data, bytes, capacity));
    }
  }
  TESSERA_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_));
  void* data = nullptr;
  cudaError_t error = cudaMalloc(&data, rounded);
  if (error == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // clear the error before retrying with the pool handed back
    ReleaseCached();
    error = cudaMalloc(&data, rounded);
  }
  if (error != cudaSuccess) {
    (void)cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    return absl::ResourceExhaustedError(absl::StrCat("CUDA backend: cannot allocate ", bytes, " bytes on GPU ",
                                                     device_, " (", free_bytes, " of ", total_bytes,
                                                     " bytes free): ", cudaGetErrorString(error)));
  }
  return std::unique_ptr<DeviceMemory>(new CudaMemory(shared_from_this(), data, bytes, rounded));
}

void CachingAllocator::Free(void* data, size_t capacity) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_blocks_.emplace(capacity, data);
  cached_bytes_ += capacity;
}

size_t CachingAllocator::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_bytes_;
}

void CachingAllocator::ReleaseCached() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_blocks_.empty()) return;
  cudaSetDevice(device_);
  // cudaFree waits for the device, so no queued kernel still uses a block once it returns.
  for (auto& [capacity, data] : free_blocks_) cudaFree(data);
  free_blocks_.clear();
  cached_bytes_ = 0;
}

}  // namespace tessera::kernels::cuda
