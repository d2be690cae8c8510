// A device allocation that grows to the largest size asked of it and is then reused, so that steady-state engine
// steps allocate nothing.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "kernels/ops.h"

namespace tessera::engine {

class GrowableBuffer {
 public:
  absl::Status Reserve(kernels::Backend& backend, size_t bytes);
  void* data() const { return memory_ ? memory_->data() : nullptr; }
  size_t capacity() const { return memory_ ? memory_->bytes() : 0; }

 private:
  std::unique_ptr<kernels::DeviceMemory> memory_;
};

}  // namespace tessera::engine
