#include "services/worker/engine/device_buffer.h"

#include "common/status_macros.h"

namespace tessera::engine {

absl::Status GrowableBuffer::Reserve(kernels::Backend& backend, size_t bytes) {
  if (bytes <= capacity()) return absl::OkStatus();
  // Grow geometrically so that a slowly rising batch size does not reallocate every step.
  const size_t target = std::max(bytes, capacity() + capacity() / 2);
  memory_.reset();
  ASSIGN_OR_RETURN(memory_, backend.Allocate(target));
  return absl::OkStatus();
}

}  // namespace tessera::engine
