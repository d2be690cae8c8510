#include "kernels/cuda/gemm.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace tessera::kernels::cuda {
namespace {

// Largest power of two (up to 256) dividing the address: what cuBLASLt may assume about the pointer.
int PointerAlignment(const void* p) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p);
  int alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

cudaDataType_t CudaType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return CUDA_R_32F;
    case DType::kF16:
      return CUDA_R_16F;
    default:
      return CUDA_R_16BF;
  }
}

}  // namespace

CublasLtGemm::Plan::~Plan() {
  if (a) cublasLtMatrixLayoutDestroy(a);
  if (b) cublasLtMatrixLayoutDestroy(b);
  if (c) cublasLtMatrixLayoutDestroy(c);
  if (desc) cublasLtMatmulDescDestroy(desc);
}

absl::StatusOr<std::unique_ptr<CublasLtGemm>> CublasLtGemm::Create(void* workspace, size_t workspace_bytes) {
  cublasLtHandle_t handle = nullptr;
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&handle));
  return std::unique_ptr<CublasLtGemm>(new CublasLtGemm(handle, workspace, workspace_bytes));
}

CublasLtGemm::~CublasLtGemm() {
  plans_.clear();
  cublasLtDestroy(handle_);
}

absl::StatusOr<std::unique_ptr<CublasLtGemm::Plan>> CublasLtGemm::MakePlan(const Key& key, bool bias_in_epilogue) {
  auto plan = std::make_unique<Plan>();
  plan->bias_in_epilogue = bias_in_epilogue;
  // Column-major view of the row-major product: yᵀ [n, rows] = w [k, n]ᵀ · xᵀ [k, rows].
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t transpose = CUBLAS_OP_T, no_transpose = CUBLAS_OP_N;
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &transpose,
                                                                sizeof(transpose)));
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                                &no_transpose, sizeof(no_transpose)));
  if (bias_in_epilogue) {
    const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    TESSERA_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)));
    const cudaDataType_t bias_type = CudaType(static_cast<DType>(key.bias_dtype));
    TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE,
                                                                  &bias_type, sizeof(bias_type)));
  }
  const cudaDataType_t y_type = CudaType(static_cast<DType>(key.y_dtype));
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan->a, CUDA_R_16BF, key.k, key.n, key.ldw));
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan->b, CUDA_R_16BF, key.k, key.rows, key.ldx));
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&plan->c, y_type, key.n, key.rows, key.ldy));

  cublasLtMatmulPreference_t preference = nullptr;
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&preference));
  auto set_preference = [&](cublasLtMatmulPreferenceAttributes_t attribute, const auto& value) {
    return cublasLtMatmulPreferenceSetAttribute(preference, attribute, &value, sizeof(value));
  };
  const uint64_t workspace_bytes = workspace_bytes_;
  const uint32_t align_x = key.align_x, align_w = key.align_w, align_y = key.align_y;
  cublasStatus_t status = set_preference(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace_bytes);
  if (status == CUBLAS_STATUS_SUCCESS) status = set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_w);
  if (status == CUBLAS_STATUS_SUCCESS) status = set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_x);
  if (status == CUBLAS_STATUS_SUCCESS) status = set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_y);
  if (status == CUBLAS_STATUS_SUCCESS) status = set_preference(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_y);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  if (status == CUBLAS_STATUS_SUCCESS) {
    status = cublasLtMatmulAlgoGetHeuristic(handle_, plan->desc, plan->a, plan->b, plan->c, plan->c, preference, 1,
                                            &result, &found);
  }
  cublasLtMatmulPreferenceDestroy(preference);
  // With a bias epilogue, cuBLASLt answers INVALID_VALUE for type combinations it lacks (seen on H100 with a
  // float32 bias and bfloat16 output): the caller then retries without the epilogue.
  const bool unsupported = status == CUBLAS_STATUS_NOT_SUPPORTED ||
                           (bias_in_epilogue && status == CUBLAS_STATUS_INVALID_VALUE);
  if (status != CUBLAS_STATUS_SUCCESS && !unsupported) {
    TESSERA_CUBLAS_RETURN_IF_ERROR(status);
  }
  if (status != CUBLAS_STATUS_SUCCESS || found == 0) {
    return absl::NotFoundError(absl::StrCat("cuBLASLt has no algorithm for y[", key.rows, ", ", key.n, "] = x[",
                                            key.rows, ", ", key.k, "] * w^T (ldx ", key.ldx, ", ldw ", key.ldw,
                                            ", ldy ", key.ldy, ")", bias_in_epilogue ? " with a bias epilogue" : ""));
  }
  plan->algo = result.algo;
  return plan;
}

absl::Status CublasLtGemm::Run(const GemmArgs& args, cudaStream_t stream) {
  if (args.rows == 0 || args.n == 0) return absl::OkStatus();
  if (args.k == 0) {  // an empty sum: y = bias (or zeros)
    TESSERA_CUDA_RETURN_IF_ERROR(cudaMemset2DAsync(args.y, args.ldy * DTypeSize(args.y_dtype), 0,
                                                   args.n * DTypeSize(args.y_dtype), args.rows, stream));
    if (args.bias) {
      TESSERA_CUDA_RETURN_IF_ERROR(
          LaunchAddBias(args.y, args.y_dtype, args.rows, args.n, args.ldy, args.bias, args.bias_dtype, stream));
    }
    return absl::OkStatus();
  }
  const Key key{args.rows,
                args.n,
                args.k,
                args.ldx,
                args.ldw,
                args.ldy,
                static_cast<int>(args.y_dtype),
                args.bias ? static_cast<int>(args.bias_dtype) : -1,
                PointerAlignment(args.x),
                PointerAlignment(args.w),
                PointerAlignment(args.y),
                args.bias ? PointerAlignment(args.bias) : 0};
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    absl::StatusOr<std::unique_ptr<Plan>> plan = MakePlan(key, args.bias != nullptr);
    if (!plan.ok() && args.bias != nullptr && absl::IsNotFound(plan.status())) plan = MakePlan(key, false);
    if (!plan.ok()) return plan.status();
    it = plans_.emplace(key, std::move(plan).value()).first;
  }
  Plan& plan = *it->second;
  if (plan.bias_in_epilogue) {
    TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                                  &args.bias, sizeof(args.bias)));
  }
  const float alpha = 1.0f, beta = 0.0f;
  TESSERA_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(handle_, plan.desc, &alpha, args.w, plan.a, args.x, plan.b, &beta,
                                                args.y, plan.c, args.y, plan.c, &plan.algo, workspace_,
                                                workspace_bytes_, stream));
  if (args.bias != nullptr && !plan.bias_in_epilogue) {
    TESSERA_CUDA_RETURN_IF_ERROR(
        LaunchAddBias(args.y, args.y_dtype, args.rows, args.n, args.ldy, args.bias, args.bias_dtype, stream));
  }
  return absl::OkStatus();
}

}  // namespace tessera::kernels::cuda
