// Device memory for the CUDA backend through a caching allocator: freed blocks go back to a pool that later
// allocations of a similar size reuse, so that buffers which the engine drops and re-asks for never reach
// cudaMalloc/cudaFree (both of which synchronize the device). All work runs on one stream, so a block freed while
// queued kernels still use it is only handed out to work queued after them.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>

#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace tessera::kernels::cuda {

class CachingAllocator : public std::enable_shared_from_this<CachingAllocator> {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  ~CachingAllocator();

  absl::StatusOr<std::unique_ptr<DeviceMemory>> Allocate(size_t bytes);
  // Bytes held in the pool, free for reuse by this backend.
  size_t cached_bytes() const;
  // Returns every pooled block to the driver.
  void ReleaseCached();

 private:
  friend class CudaMemory;
  void Free(void* data, size_t capacity);

  const int device_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;  // capacity → block
  size_t cached_bytes_ = 0;
};

class CudaMemory : public DeviceMemory {
 public:
  CudaMemory(std::shared_ptr<CachingAllocator> allocator, void* data, size_t bytes, size_t capacity)
      : allocator_(std::move(allocator)), data_(data), bytes_(bytes), capacity_(capacity) {}
  ~CudaMemory() override { allocator_->Free(data_, capacity_); }
  CudaMemory(const CudaMemory&) = delete;
  CudaMemory& operator=(const CudaMemory&) = delete;

  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  std::shared_ptr<CachingAllocator> allocator_;
  void* data_;
  size_t bytes_;
  size_t capacity_;
};

}  // namespace tessera::kernels::cuda
