// RMSNorm kernels: plain and fused with the residual add over [rows, hidden], and per head in place (Qwen3's
// q_norm / k_norm). One block per row, sums of squares in float32; rows whose width and addresses allow it move
// 16 bytes per access.
#include <algorithm>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_utils.cuh"

namespace tessera::kernels::cuda {
namespace {

// kVec consecutive elements per access; the hidden size must be a multiple of kVec.
template <typename W, bool kAddResidual, int kVec>
__global__ void RmsNormKernel(bf16* residual, int64_t residual_stride, const bf16* x, int64_t x_stride,
                              const W* weight, float eps, int64_t hidden, bf16* out, int64_t out_stride) {
  const int64_t row = blockIdx.x;
  const bf16* x_row = x + row * x_stride;
  bf16* r_row = kAddResidual ? residual + row * residual_stride : nullptr;
  bf16* o_row = out + row * out_stride;
  float sum_squares = 0.0f;
  for (int64_t i = threadIdx.x * kVec; i < hidden; i += blockDim.x * kVec) {
    Vec<bf16, kVec> xv = LoadVec<bf16, kVec>(x_row + i);
    if constexpr (kAddResidual) {
      Vec<bf16, kVec> rv = LoadVec<bf16, kVec>(r_row + i);
#pragma unroll
      for (int j = 0; j < kVec; ++j) xv.v[j] = FromFloat<bf16>(ToFloat(rv.v[j]) + ToFloat(xv.v[j]));
      StoreVec<bf16, kVec>(r_row + i, xv);
    }
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      const float f = ToFloat(xv.v[j]);
      sum_squares += f * f;
    }
  }
  const float inv_rms = rsqrtf(BlockSum(sum_squares) / static_cast<float>(hidden) + eps);
  // Each thread reads back exactly the elements it wrote above, so no barrier is needed for the residual.
  const bf16* src = kAddResidual ? r_row : x_row;
  for (int64_t i = threadIdx.x * kVec; i < hidden; i += blockDim.x * kVec) {
    const Vec<bf16, kVec> sv = LoadVec<bf16, kVec>(src + i);
    Vec<bf16, kVec> ov;
#pragma unroll
    for (int j = 0; j < kVec; ++j) ov.v[j] = FromFloat<bf16>(ToFloat(weight[i + j]) * (ToFloat(sv.v[j]) * inv_rms));
    StoreVec<bf16, kVec>(o_row + i, ov);
  }
}

// One warp per (row, head).
template <typename W>
__global__ void HeadRmsNormKernel(bf16* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t row_stride,
                                  const W* weight, float eps) {
  const int64_t item = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (item >= rows * heads) return;  // whole warps leave together
  bf16* v = x + (item / heads) * row_stride + (item % heads) * head_dim;
  float sum_squares = 0.0f;
  for (int64_t d = lane; d < head_dim; d += 32) {
    const float f = ToFloat(v[d]);
    sum_squares += f * f;
  }
  const float inv_rms = rsqrtf(WarpSum(sum_squares) / static_cast<float>(head_dim) + eps);
  for (int64_t d = lane; d < head_dim; d += 32) v[d] = FromFloat<bf16>(ToFloat(weight[d]) * (ToFloat(v[d]) * inv_rms));
}

template <typename W, bool kAddResidual>
cudaError_t LaunchRmsNormTyped(void* residual, int64_t residual_stride, const void* x, int64_t x_stride,
                               const void* weight, float eps, int64_t rows, int64_t hidden, void* out,
                               int64_t out_stride, cudaStream_t stream) {
  const bool vectorized = hidden % 8 == 0 && Aligned(x, x_stride, 2, 16) && Aligned(out, out_stride, 2, 16) &&
                          (!kAddResidual || Aligned(residual, residual_stride, 2, 16));
  const int vec = vectorized ? 8 : 1;
  const int64_t lanes = (hidden + vec - 1) / vec;
  const int threads = static_cast<int>(std::clamp<int64_t>((lanes + 31) / 32 * 32, 32, 1024));
  auto* r = static_cast<bf16*>(residual);
  auto* xp = static_cast<const bf16*>(x);
  auto* w = static_cast<const W*>(weight);
  auto* o = static_cast<bf16*>(out);
  if (vectorized) {
    RmsNormKernel<W, kAddResidual, 8>
        <<<static_cast<unsigned>(rows), threads, 0, stream>>>(r, residual_stride, xp, x_stride, w, eps, hidden, o,
                                                              out_stride);
  } else {
    RmsNormKernel<W, kAddResidual, 1>
        <<<static_cast<unsigned>(rows), threads, 0, stream>>>(r, residual_stride, xp, x_stride, w, eps, hidden, o,
                                                              out_stride);
  }
  return cudaGetLastError();
}

template <bool kAddResidual>
cudaError_t DispatchRmsNorm(void* residual, int64_t residual_stride, const void* x, int64_t x_stride,
                            const void* weight, DType weight_dtype, float eps, int64_t rows, int64_t hidden, void* out,
                            int64_t out_stride, cudaStream_t stream) {
  switch (weight_dtype) {
    case DType::kF32:
      return LaunchRmsNormTyped<float, kAddResidual>(residual, residual_stride, x, x_stride, weight, eps, rows, hidden,
                                                     out, out_stride, stream);
    case DType::kBF16:
      return LaunchRmsNormTyped<bf16, kAddResidual>(residual, residual_stride, x, x_stride, weight, eps, rows, hidden,
                                                    out, out_stride, stream);
    case DType::kF16:
      return LaunchRmsNormTyped<__half, kAddResidual>(residual, residual_stride, x, x_stride, weight, eps, rows,
                                                      hidden, out, out_stride, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t LaunchRmsNorm(void* residual, int64_t residual_stride, const void* x, int64_t x_stride,
                          const void* weight, DType weight_dtype, float eps, int64_t rows, int64_t hidden, void* out,
                          int64_t out_stride, cudaStream_t stream) {
  if (rows == 0 || hidden == 0) return cudaSuccess;
  if (residual != nullptr) {
    return DispatchRmsNorm<true>(residual, residual_stride, x, x_stride, weight, weight_dtype, eps, rows, hidden, out,
                                 out_stride, stream);
  }
  return DispatchRmsNorm<false>(nullptr, 0, x, x_stride, weight, weight_dtype, eps, rows, hidden, out, out_stride,
                                stream);
}

cudaError_t LaunchHeadRmsNorm(void* x, int64_t rows, int64_t heads, int64_t head_dim, int64_t row_stride,
                              const void* weight, DType weight_dtype, float eps, cudaStream_t stream) {
  const int64_t items = rows * heads;
  if (items == 0 || head_dim == 0) return cudaSuccess;
  constexpr int kThreads = 128;
  const unsigned blocks = static_cast<unsigned>((items * 32 + kThreads - 1) / kThreads);
  auto* xp = static_cast<bf16*>(x);
  switch (weight_dtype) {
    case DType::kF32:
      HeadRmsNormKernel<float><<<blocks, kThreads, 0, stream>>>(xp, rows, heads, head_dim, row_stride,
                                                                static_cast<const float*>(weight), eps);
      break;
    case DType::kBF16:
      HeadRmsNormKernel<bf16><<<blocks, kThreads, 0, stream>>>(xp, rows, heads, head_dim, row_stride,
                                                               static_cast<const bf16*>(weight), eps);
      break;
    case DType::kF16:
      HeadRmsNormKernel<__half><<<blocks, kThreads, 0, stream>>>(xp, rows, heads, head_dim, row_stride,
                                                                 static_cast<const __half*>(weight), eps);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace tessera::kernels::cuda
