// Neox-style rotary embedding applied in place to q and k, one block per token, angles from the float32 cos/sin
// table the engine builds (kernels/rope_cache.h).
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_utils.cuh"

namespace tessera::kernels::cuda {
namespace {

__global__ void RopeKernel(const int32_t* positions, bf16* q, int64_t q_heads, int64_t q_stride, bf16* k,
                           int64_t k_heads, int64_t k_stride, int64_t head_dim, const float* cos_sin,
                           int64_t max_positions, int64_t cos_sin_stride, int half, DeviceErrorRecord* errors) {
  const int64_t token = blockIdx.x;
  const int32_t position = positions[token];
  if (position < 0 || position >= max_positions) {
    if (threadIdx.x == 0) ReportDeviceError(errors, kRopePositionOutOfRange, token, position, max_positions);
    return;
  }
  const float* cos = cos_sin + static_cast<int64_t>(position) * cos_sin_stride;
  const float* sin = cos + half;
  const int64_t pairs = (q_heads + k_heads) * half;
  for (int64_t p = threadIdx.x; p < pairs; p += blockDim.x) {
    const int64_t head = p / half;
    const int i = static_cast<int>(p % half);
    bf16* v = head < q_heads ? q + token * q_stride + head * head_dim
                             : k + token * k_stride + (head - q_heads) * head_dim;
    const float x1 = ToFloat(v[i]);
    const float x2 = ToFloat(v[i + half]);
    const float c = cos[i];
    const float s = sin[i];
    v[i] = FromFloat<bf16>(x1 * c - x2 * s);
    v[i + half] = FromFloat<bf16>(x2 * c + x1 * s);
  }
}

}  // namespace

cudaError_t LaunchRope(const int32_t* positions, int64_t tokens, void* q, int64_t q_heads, int64_t q_stride, void* k,
                       int64_t k_heads, int64_t k_stride, int64_t head_dim, const float* cos_sin,
                       int64_t max_positions, int64_t cos_sin_stride, int rotary_dim, DeviceErrorRecord* errors,
                       cudaStream_t stream) {
  if (tokens == 0 || rotary_dim < 2) return cudaSuccess;
  RopeKernel<<<static_cast<unsigned>(tokens), 256, 0, stream>>>(
      positions, static_cast<bf16*>(q), q_heads, q_stride, static_cast<bf16*>(k), k_heads, k_stride, head_dim,
      cos_sin, max_positions, cos_sin_stride, rotary_dim / 2, errors);
  return cudaGetLastError();
}

}  // namespace tessera::kernels::cuda
