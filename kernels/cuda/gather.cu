// Row gathers: the token embedding lookup (converting the table's type to bfloat16) and GatherRows, which copies
// whole rows of any type. One block per output row; indices are checked on the device.
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/device_utils.cuh"

namespace tessera::kernels::cuda {
namespace {

template <typename T>
__global__ void EmbeddingKernel(const int32_t* ids, const T* table, int64_t vocab, int64_t table_stride,
                                int64_t hidden, bf16* out, int64_t out_stride, DeviceErrorRecord* errors) {
  const int64_t token = blockIdx.x;
  const int32_t id = ids[token];
  bf16* dst = out + token * out_stride;
  if (id < 0 || id >= vocab) {  // -1 is a row another vocabulary shard owns: zeros, no error
    if (threadIdx.x == 0 && id != -1) ReportDeviceError(errors, kEmbeddingIdOutOfRange, token, id, vocab);
    for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = FromFloat<bf16>(0.0f);
    return;
  }
  const T* src = table + static_cast<int64_t>(id) * table_stride;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = FromFloat<bf16>(ToFloat(src[i]));
}

// The same for bfloat16 tables with 16-byte rows: a plain vector copy.
__global__ void EmbeddingCopyKernel(const int32_t* ids, const bf16* table, int64_t vocab, int64_t table_stride,
                                    int64_t hidden, bf16* out, int64_t out_stride, DeviceErrorRecord* errors) {
  const int64_t token = blockIdx.x;
  const int32_t id = ids[token];
  bf16* dst = out + token * out_stride;
  if (id < 0 || id >= vocab) {  // -1 is a row another vocabulary shard owns: zeros, no error
    if (threadIdx.x == 0 && id != -1) ReportDeviceError(errors, kEmbeddingIdOutOfRange, token, id, vocab);
    for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) dst[i] = FromFloat<bf16>(0.0f);
    return;
  }
  const bf16* src = table + static_cast<int64_t>(id) * table_stride;
  for (int64_t i = threadIdx.x * 8; i < hidden; i += blockDim.x * 8) {
    StoreVec<bf16, 8>(dst + i, LoadVec<bf16, 8>(src + i));
  }
}

template <typename Unit>
__global__ void GatherRowsKernel(const char* x, int64_t x_stride_bytes, int64_t x_rows, const int32_t* indices,
                                 int64_t row_units, char* out, int64_t out_stride_bytes, DeviceErrorRecord* errors) {
  const int64_t i = blockIdx.x;
  const int32_t index = indices[i];
  if (index < 0 || index >= x_rows) {
    if (threadIdx.x == 0) ReportDeviceError(errors, kGatherIndexOutOfRange, i, index, x_rows);
    return;
  }
  const Unit* src = reinterpret_cast<const Unit*>(x + index * x_stride_bytes);
  Unit* dst = reinterpret_cast<Unit*>(out + i * out_stride_bytes);
  for (int64_t u = threadIdx.x; u < row_units; u += blockDim.x) dst[u] = src[u];
}

template <typename T>
void LaunchEmbeddingTyped(const int32_t* ids, int64_t tokens, const void* table, int64_t vocab, int64_t table_stride,
                          int64_t hidden, bf16* out, int64_t out_stride, DeviceErrorRecord* errors,
                          cudaStream_t stream) {
  EmbeddingKernel<T><<<static_cast<unsigned>(tokens), 256, 0, stream>>>(
      ids, static_cast<const T*>(table), vocab, table_stride, hidden, out, out_stride, errors);
}

bool AlignedBytes(const void* p, int64_t stride_bytes, int bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0 && stride_bytes % bytes == 0;
}

}  // namespace

cudaError_t LaunchEmbedding(const int32_t* ids, int64_t tokens, const void* table, DType table_dtype, int64_t vocab,
                            int64_t table_stride, int64_t hidden, void* out, int64_t out_stride,
                            DeviceErrorRecord* errors, cudaStream_t stream) {
  if (tokens == 0 || hidden == 0) return cudaSuccess;
  auto* o = static_cast<bf16*>(out);
  switch (table_dtype) {
    case DType::kBF16:
      if (hidden % 8 == 0 && Aligned(table, table_stride, 2, 16) && Aligned(out, out_stride, 2, 16)) {
        EmbeddingCopyKernel<<<static_cast<unsigned>(tokens), 128, 0, stream>>>(
            ids, static_cast<const bf16*>(table), vocab, table_stride, hidden, o, out_stride, errors);
      } else {
        LaunchEmbeddingTyped<bf16>(ids, tokens, table, vocab, table_stride, hidden, o, out_stride, errors, stream);
      }
      break;
    case DType::kF32:
      LaunchEmbeddingTyped<float>(ids, tokens, table, vocab, table_stride, hidden, o, out_stride, errors, stream);
      break;
    case DType::kF16:
      LaunchEmbeddingTyped<__half>(ids, tokens, table, vocab, table_stride, hidden, o, out_stride, errors, stream);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

cudaError_t LaunchGatherRows(const void* x, int64_t x_stride_bytes, int64_t x_rows, const int32_t* indices,
                             int64_t count, int64_t row_bytes, void* out, int64_t out_stride_bytes,
                             DeviceErrorRecord* errors, cudaStream_t stream) {
  if (count == 0 || row_bytes == 0) return cudaSuccess;
  auto* src = static_cast<const char*>(x);
  auto* dst = static_cast<char*>(out);
  const unsigned blocks = static_cast<unsigned>(count);
  auto fits = [&](int bytes) {
    return row_bytes % bytes == 0 && AlignedBytes(x, x_stride_bytes, bytes) &&
           AlignedBytes(out, out_stride_bytes, bytes);
  };
  if (fits(16)) {
    GatherRowsKernel<uint4><<<blocks, 128, 0, stream>>>(src, x_stride_bytes, x_rows, indices, row_bytes / 16, dst,
                                                        out_stride_bytes, errors);
  } else if (fits(4)) {
    GatherRowsKernel<uint32_t><<<blocks, 128, 0, stream>>>(src, x_stride_bytes, x_rows, indices, row_bytes / 4, dst,
                                                           out_stride_bytes, errors);
  } else if (fits(2)) {
    GatherRowsKernel<uint16_t><<<blocks, 128, 0, stream>>>(src, x_stride_bytes, x_rows, indices, row_bytes / 2, dst,
                                                           out_stride_bytes, errors);
  } else {
    GatherRowsKernel<uint8_t><<<blocks, 128, 0, stream>>>(src, x_stride_bytes, x_rows, indices, row_bytes, dst,
                                                          out_stride_bytes, errors);
  }
  return cudaGetLastError();
}

}  // namespace tessera::kernels::cuda
