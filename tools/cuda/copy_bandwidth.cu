// Measures the device memory bandwidth the decode roofline is computed against: a large device-to-device copy,
// counting bytes read plus bytes written, timed with events, median of repeated runs over random data.
// Build: nvcc -O2 -arch=sm_90 -o copy_bandwidth tools/cuda/copy_bandwidth.cu
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(expr)                                                                           \
  do {                                                                                        \
    cudaError_t e = (expr);                                                                   \
    if (e != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s failed: %s (%s:%d)\n", #expr, cudaGetErrorString(e), __FILE__, __LINE__); \
      return 1;                                                                               \
    }                                                                                         \
  } while (0)

__global__ void FillRandom(unsigned* p, size_t n, unsigned seed) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    unsigned x = static_cast<unsigned>(i) * 2654435761u ^ seed;
    x ^= x >> 13;
    x *= 0x5bd1e995u;
    p[i] = x ^ (x >> 15);
  }
}

int main(int argc, char** argv) {
  const size_t bytes = (argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2ull << 30);
  const int repeats = 20;
  void *a = nullptr, *b = nullptr;
  CHECK(cudaMalloc(&a, bytes));
  CHECK(cudaMalloc(&b, bytes));
  FillRandom<<<1024, 256>>>(static_cast<unsigned*>(a), bytes / 4, 1u);
  FillRandom<<<1024, 256>>>(static_cast<unsigned*>(b), bytes / 4, 2u);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 3; ++i) CHECK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));  // warm-up
  std::vector<float> ms(repeats);
  for (int i = 0; i < repeats; ++i) {
    void* src = i % 2 ? b : a;
    void* dst = i % 2 ? a : b;
    CHECK(cudaEventRecord(start));
    CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice));
    CHECK(cudaEventRecord(stop));
    CHECK(cudaEventSynchronize(stop));
    CHECK(cudaEventElapsedTime(&ms[i], start, stop));
  }
  std::sort(ms.begin(), ms.end());
  const double median_s = ms[repeats / 2] / 1e3;
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s\n", prop.name);
  std::printf("copy of %.2f GiB: median %.3f ms (min %.3f, max %.3f) over %d runs\n", bytes / 1073741824.0,
              ms[repeats / 2], ms.front(), ms.back(), repeats);
  std::printf("copy_bandwidth_GBps=%.1f (bytes read + written / median time)\n", 2.0 * bytes / median_s / 1e9);
  return 0;
}
