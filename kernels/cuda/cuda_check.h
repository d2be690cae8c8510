// Turns CUDA runtime and cuBLAS return codes into absl::Status values that name the failed call and where it was
// made, so that every CUDA call in the backend is checked without repeating the formatting.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tessera::kernels::cuda {

inline absl::Status CudaStatus(cudaError_t error, const char* expression, const char* file, int line) {
  if (error == cudaSuccess) return absl::OkStatus();
  const absl::StatusCode code =
      error == cudaErrorMemoryAllocation ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat("CUDA error ", cudaGetErrorName(error), " (", cudaGetErrorString(error),
                                         ") in ", expression, " at ", file, ":", line));
}

inline absl::Status CublasStatus(cublasStatus_t status, const char* expression, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const absl::StatusCode code =
      status == CUBLAS_STATUS_ALLOC_FAILED ? absl::StatusCode::kResourceExhausted : absl::StatusCode::kInternal;
  return absl::Status(code, absl::StrCat("cuBLAS error ", cublasGetStatusName(status), " (",
                                         cublasGetStatusString(status), ") in ", expression, " at ", file, ":", line));
}

}  // namespace tessera::kernels::cuda

// Evaluates a CUDA runtime call and returns its error as an absl::Status from the enclosing function.
#define TESSERA_CUDA_RETURN_IF_ERROR(expr)                                                                 \
  do {                                                                                                     \
    const absl::Status tessera_cuda_status_ = ::tessera::kernels::cuda::CudaStatus((expr), #expr, __FILE__, \
                                                                                    __LINE__);             \
    if (!tessera_cuda_status_.ok()) return tessera_cuda_status_;                                           \
  } while (0)

// The same for cuBLAS / cuBLASLt calls.
#define TESSERA_CUBLAS_RETURN_IF_ERROR(expr)                                                                 \
  do {                                                                                                       \
    const absl::Status tessera_cublas_status_ = ::tessera::kernels::cuda::CublasStatus((expr), #expr,       \
                                                                                        __FILE__, __LINE__); \
    if (!tessera_cublas_status_.ok()) return tessera_cublas_status_;                                         \
  } while (0)

// A checked CUDA call as a Status expression, for code that records errors instead of returning them.
#define TESSERA_CUDA_STATUS(expr) ::tessera::kernels::cuda::CudaStatus((expr), #expr, __FILE__, __LINE__)
#define TESSERA_CUBLAS_STATUS(expr) ::tessera::kernels::cuda::CublasStatus((expr), #expr, __FILE__, __LINE__)
