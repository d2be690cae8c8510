// Elementwise kernels over [rows, width] views: the SwiGLU activation, in-place addition and bias addition. The
// grid covers the width in x and strides over rows in y; rows whose width and addresses allow it move 16 bytes
// per access.
#include <algorithm>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_utils.cuh"

namespace tessera::kernels::cuda {
namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxGridRows = 65535;

dim3 RowGrid(int64_t rows, int64_t width, int vec) {
  const int64_t per_block = static_cast<int64_t>(kThreads) * vec;
  return dim3(static_cast<unsigned>((width + per_block - 1) / per_block),
              static_cast<unsigned>(std::min<int64_t>(rows, kMaxGridRows)));
}

template <int kVec>
__global__ void SiluMulKernel(const bf16* gate_up, int64_t gate_up_stride, int64_t rows, int64_t inter, bf16* out,
                              int64_t out_stride) {
  const int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kVec;
  if (i >= inter) return;
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const bf16* gate = gate_up + row * gate_up_stride;
    const Vec<bf16, kVec> g = LoadVec<bf16, kVec>(gate + i);
    const Vec<bf16, kVec> u = LoadVec<bf16, kVec>(gate + inter + i);
    Vec<bf16, kVec> o;
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      const float gf = ToFloat(g.v[j]);
      o.v[j] = FromFloat<bf16>(gf / (1.0f + __expf(-gf)) * ToFloat(u.v[j]));
    }
    StoreVec<bf16, kVec>(out + row * out_stride + i, o);
  }
}

template <int kVec>
__global__ void AddKernel(const bf16* x, int64_t x_stride, bf16* inout, int64_t inout_stride, int64_t rows,
                          int64_t width) {
  const int64_t i = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) * kVec;
  if (i >= width) return;
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    const Vec<bf16, kVec> a = LoadVec<bf16, kVec>(x + row * x_stride + i);
    Vec<bf16, kVec> b = LoadVec<bf16, kVec>(inout + row * inout_stride + i);
#pragma unroll
    for (int j = 0; j < kVec; ++j) b.v[j] = FromFloat<bf16>(ToFloat(a.v[j]) + ToFloat(b.v[j]));
    StoreVec<bf16, kVec>(inout + row * inout_stride + i, b);
  }
}

template <typename Y, typename B>
__global__ void AddBiasKernel(Y* y, int64_t rows, int64_t n, int64_t y_stride, const B* bias) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float b = ToFloat(bias[i]);
  for (int64_t row = blockIdx.y; row < rows; row += gridDim.y) {
    Y* p = y + row * y_stride + i;
    *p = FromFloat<Y>(ToFloat(*p) + b);
  }
}

template <typename Y>
cudaError_t LaunchAddBiasTyped(Y* y, int64_t rows, int64_t n, int64_t y_stride, const void* bias, DType bias_dtype,
                               cudaStream_t stream) {
  const dim3 grid = RowGrid(rows, n, 1);
  switch (bias_dtype) {
    case DType::kF32:
      AddBiasKernel<<<grid, kThreads, 0, stream>>>(y, rows, n, y_stride, static_cast<const float*>(bias));
      break;
    case DType::kBF16:
      AddBiasKernel<<<grid, kThreads, 0, stream>>>(y, rows, n, y_stride, static_cast<const bf16*>(bias));
      break;
    case DType::kF16:
      AddBiasKernel<<<grid, kThreads, 0, stream>>>(y, rows, n, y_stride, static_cast<const __half*>(bias));
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchSiluMul(const void* gate_up, int64_t gate_up_stride, int64_t rows, int64_t inter, void* out,
                          int64_t out_stride, cudaStream_t stream) {
  if (rows == 0 || inter == 0) return cudaSuccess;
  auto* g = static_cast<const bf16*>(gate_up);
  auto* o = static_cast<bf16*>(out);
  if (inter % 8 == 0 && Aligned(gate_up, gate_up_stride, 2, 16) && Aligned(out, out_stride, 2, 16)) {
    SiluMulKernel<8><<<RowGrid(rows, inter, 8), kThreads, 0, stream>>>(g, gate_up_stride, rows, inter, o, out_stride);
  } else {
    SiluMulKernel<1><<<RowGrid(rows, inter, 1), kThreads, 0, stream>>>(g, gate_up_stride, rows, inter, o, out_stride);
  }
  return cudaGetLastError();
}

cudaError_t LaunchAdd(const void* x, int64_t x_stride, void* inout, int64_t inout_stride, int64_t rows, int64_t width,
                      cudaStream_t stream) {
  if (rows == 0 || width == 0) return cudaSuccess;
  auto* a = static_cast<const bf16*>(x);
  auto* b = static_cast<bf16*>(inout);
  if (width % 8 == 0 && Aligned(x, x_stride, 2, 16) && Aligned(inout, inout_stride, 2, 16)) {
    AddKernel<8><<<RowGrid(rows, width, 8), kThreads, 0, stream>>>(a, x_stride, b, inout_stride, rows, width);
  } else {
    AddKernel<1><<<RowGrid(rows, width, 1), kThreads, 0, stream>>>(a, x_stride, b, inout_stride, rows, width);
  }
  return cudaGetLastError();
}

cudaError_t LaunchAddBias(void* y, DType y_dtype, int64_t rows, int64_t n, int64_t y_stride, const void* bias,
                          DType bias_dtype, cudaStream_t stream) {
  if (rows == 0 || n == 0) return cudaSuccess;
  switch (y_dtype) {
    case DType::kF32:
      return LaunchAddBiasTyped(static_cast<float*>(y), rows, n, y_stride, bias, bias_dtype, stream);
    case DType::kBF16:
      return LaunchAddBiasTyped(static_cast<bf16*>(y), rows, n, y_stride, bias, bias_dtype, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace tessera::kernels::cuda
