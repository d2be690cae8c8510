// Writes each token's k and v rows into their slots of the paged KV cache, one block per token.
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_utils.cuh"

namespace tessera::kernels::cuda {
namespace {

template <int kVec>
__global__ void WriteKvCacheKernel(const bf16* k, int64_t k_stride, const bf16* v, int64_t v_stride,
                                   const int32_t* slots, int64_t row_elements, bf16* k_cache, int64_t k_cache_stride,
                                   bf16* v_cache, int64_t v_cache_stride, int64_t num_slots,
                                   DeviceErrorRecord* errors) {
  const int64_t token = blockIdx.x;
  const int64_t slot = slots[token];
  if (slot < 0) return;  // padding rows and tokens whose cache entry already exists
  if (slot >= num_slots) {
    if (threadIdx.x == 0) ReportDeviceError(errors, kKvSlotOutOfRange, token, slot, num_slots);
    return;
  }
  const bf16* k_row = k + token * k_stride;
  const bf16* v_row = v + token * v_stride;
  bf16* k_dst = k_cache + slot * k_cache_stride;
  bf16* v_dst = v_cache + slot * v_cache_stride;
  for (int64_t i = threadIdx.x * kVec; i < row_elements; i += blockDim.x * kVec) {
    StoreVec<bf16, kVec>(k_dst + i, LoadVec<bf16, kVec>(k_row + i));
    StoreVec<bf16, kVec>(v_dst + i, LoadVec<bf16, kVec>(v_row + i));
  }
}

}  // namespace

cudaError_t LaunchWriteKvCache(const void* k, int64_t k_stride, const void* v, int64_t v_stride, const int32_t* slots,
                               int64_t tokens, int64_t row_elements, void* k_cache, int64_t k_cache_stride,
                               void* v_cache, int64_t v_cache_stride, int64_t num_slots, DeviceErrorRecord* errors,
                               cudaStream_t stream) {
  if (tokens == 0 || row_elements == 0) return cudaSuccess;
  const bool vectorized = row_elements % 8 == 0 && Aligned(k, k_stride, 2, 16) && Aligned(v, v_stride, 2, 16) &&
                          Aligned(k_cache, k_cache_stride, 2, 16) && Aligned(v_cache, v_cache_stride, 2, 16);
  auto* kp = static_cast<const bf16*>(k);
  auto* vp = static_cast<const bf16*>(v);
  auto* kc = static_cast<bf16*>(k_cache);
  auto* vc = static_cast<bf16*>(v_cache);
  const unsigned blocks = static_cast<unsigned>(tokens);
  if (vectorized) {
    WriteKvCacheKernel<8><<<blocks, 128, 0, stream>>>(kp, k_stride, vp, v_stride, slots, row_elements, kc,
                                                      k_cache_stride, vc, v_cache_stride, num_slots, errors);
  } else {
    WriteKvCacheKernel<1><<<blocks, 128, 0, stream>>>(kp, k_stride, vp, v_stride, slots, row_elements, kc,
                                                      k_cache_stride, vc, v_cache_stride, num_slots, errors);
  }
  return cudaGetLastError();
}

}  // namespace tessera::kernels::cuda
