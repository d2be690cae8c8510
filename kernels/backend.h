// Chooses the backend the engine runs on from a device name ("cpu", "cuda"), so that nothing above kernels/ names
// a concrete backend class.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "kernels/ops.h"

namespace tessera::kernels {

// "cpu" always works. "cuda" (or "cuda:N" for GPU N) needs a binary built with the CUDA backend; otherwise it is an
// Unimplemented error. Any other name is an InvalidArgument error that lists the known devices.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view device);

}  // namespace tessera::kernels
