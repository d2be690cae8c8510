// Matrix products y = x · wᵀ (+ bias) through cuBLASLt: bfloat16 operands, float32 accumulation, bfloat16 or
// float32 output, the bias added in the epilogue. The chosen algorithm and descriptors are cached per shape,
// stride, type and alignment, so a repeated shape costs no heuristic query.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/dtype.h"

namespace tessera::kernels::cuda {

struct GemmArgs {
  const void* x = nullptr;  // [rows, k] bfloat16, rows `ldx` apart
  int64_t ldx = 0;
  const void* w = nullptr;  // [n, k] bfloat16, rows `ldw` apart
  int64_t ldw = 0;
  const void* bias = nullptr;  // [n] or null
  DType bias_dtype = DType::kF32;
  void* y = nullptr;  // [rows, n], rows `ldy` apart
  int64_t ldy = 0;
  DType y_dtype = DType::kBF16;
  int64_t rows = 0, n = 0, k = 0;
};

class CublasLtGemm {
 public:
  // `workspace` (device memory of `workspace_bytes`) must outlive this object.
  static absl::StatusOr<std::unique_ptr<CublasLtGemm>> Create(void* workspace, size_t workspace_bytes);
  ~CublasLtGemm();
  CublasLtGemm(const CublasLtGemm&) = delete;
  CublasLtGemm& operator=(const CublasLtGemm&) = delete;

  absl::Status Run(const GemmArgs& args, cudaStream_t stream);

 private:
  struct Key {
    int64_t rows, n, k, ldx, ldw, ldy;
    int y_dtype, bias_dtype;  // bias_dtype -1: no bias
    int align_x, align_w, align_y, align_bias;
    bool operator==(const Key&) const = default;
    template <typename H>
    friend H AbslHashValue(H h, const Key& key) {
      return H::combine(std::move(h), key.rows, key.n, key.k, key.ldx, key.ldw, key.ldy, key.y_dtype,
                        key.bias_dtype, key.align_x, key.align_w, key.align_y, key.align_bias);
    }
  };
  // A prepared product: descriptors and the algorithm, or (bias_in_epilogue false) a plain product whose bias is
  // added by a separate kernel because no epilogue algorithm fits.
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
    cublasLtMatmulAlgo_t algo{};
    bool bias_in_epilogue = false;
    ~Plan();
  };

  CublasLtGemm(cublasLtHandle_t handle, void* workspace, size_t workspace_bytes)
      : handle_(handle), workspace_(workspace), workspace_bytes_(workspace_bytes) {}
  absl::StatusOr<std::unique_ptr<Plan>> MakePlan(const Key& key, bool bias_in_epilogue);

  cublasLtHandle_t handle_;
  void* workspace_;
  size_t workspace_bytes_;
  absl::flat_hash_map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace tessera::kernels::cuda
