#include "kernels/backend.h"

#include <charconv>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/cpu_backend.h"

namespace tessera::kernels {

#ifdef TESSERA_HAVE_CUDA
// Defined by the CUDA backend (kernels/cuda/); opens GPU `device_index` and its stream.
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device_index);
#endif

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view device) {
  if (device == "cpu") return std::unique_ptr<Backend>(std::make_unique<CpuBackend>());
  if (device == "cuda" || device.starts_with("cuda:")) {
    int device_index = 0;
    if (device.size() > 4) {
      const std::string_view digits = device.substr(5);
      const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), device_index);
      if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || device_index < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("device \"", std::string(device), "\": expected \"cuda\" or \"cuda:N\" with N a GPU index"));
      }
    }
#ifdef TESSERA_HAVE_CUDA
    return CreateCudaBackend(device_index);
#else
    return absl::UnimplementedError(
        absl::StrCat("device \"", std::string(device),
                     "\": the CUDA backend is not built in this binary (rebuild with nvcc available and "
                     "TESSERA_ENABLE_CUDA=ON), use device \"cpu\""));
#endif
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown device \"", std::string(device),
                                                 "\"; supported devices are \"cpu\" and \"cuda\" (or \"cuda:N\")"));
}

}  // namespace tessera::kernels
