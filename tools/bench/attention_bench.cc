// The CUDA paged attention kernels alone, timed with CUDA events (medians of repetitions):
//  - decode at Llama-3.1-8B heads (Hq 32, Hk 8, D 128): bandwidth of the K and V bytes read, and its fraction of the
//    device-to-device copy bandwidth measured in the same process (bytes read plus written, as copy rates are quoted);
//  - causal prefill of one long prompt at the same heads: TFLOP/s counting 4 * T^2 * D * Hq / 2 flops.
// Built without CUDA, the program only says so.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"

#ifdef TESSERA_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <random>

#include "common/dtype.h"
#include "kernels/cuda/attention_kernels.h"

namespace tessera::kernels::cuda {
namespace {

constexpr int kHq = 32;
constexpr int kHk = 8;
constexpr int kHeadDim = 128;
constexpr int kBlockSize = 16;
constexpr int kLaunchesPerIteration = 10;

bool Check(cudaError_t status, benchmark::State& state, const char* what) {
  if (status == cudaSuccess) return true;
  state.SkipWithError((std::string(what) + ": " + cudaGetErrorString(status)).c_str());
  return false;
}

struct DeviceBuffer {
  void* data = nullptr;
  explicit DeviceBuffer(size_t bytes) {
    if (cudaMalloc(&data, bytes) != cudaSuccess) data = nullptr;
  }
  ~DeviceBuffer() {
    if (data) cudaFree(data);
  }
};

// Fills device memory with random bf16 values in [-1, 1] by repeating a random host pattern (never zeros).
void FillRandomBf16(void* device, size_t elements, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<uint16_t> pattern(std::min<size_t>(elements, size_t{1} << 24) + 7);
  for (auto& x : pattern) x = FloatToBF16(dist(rng));
  size_t done = 0;
  while (done < elements) {
    const size_t n = std::min(elements - done, pattern.size() - 7);
    const size_t shift = (done / n) % 7;  // vary the pattern between copies
    cudaMemcpy(static_cast<uint16_t*>(device) + done, pattern.data() + shift, n * 2, cudaMemcpyHostToDevice);
    done += n;
  }
}

// Times `launch` (kLaunchesPerIteration calls per iteration) with events; reports seconds per call.
template <typename Launch>
void TimeLaunches(benchmark::State& state, Launch&& launch) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  for (int i = 0; i < 3; ++i) {
    if (!Check(launch(), state, "warmup launch")) return;
  }
  if (!Check(cudaDeviceSynchronize(), state, "warmup")) return;
  for (auto _ : state) {
    cudaEventRecord(start);
    for (int i = 0; i < kLaunchesPerIteration; ++i) launch();
    cudaEventRecord(stop);
    if (!Check(cudaEventSynchronize(stop), state, "timed launches")) break;
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3 / kLaunchesPerIteration);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

// Median device-to-device copy bandwidth of a 1 GiB buffer, counting bytes read plus bytes written.
double CopyBandwidth() {
  static const double bandwidth = [] {
    const size_t bytes = size_t{1} << 30;
    DeviceBuffer a(bytes), b(bytes);
    if (!a.data || !b.data) return 0.0;
    cudaMemset(a.data, 1, bytes);
    cudaEvent_t start, stop;
    cudaEventCreate(&start);
    cudaEventCreate(&stop);
    std::vector<float> times;
    for (int i = 0; i < 23; ++i) {
      cudaEventRecord(start);
      cudaMemcpyAsync(b.data, a.data, bytes, cudaMemcpyDeviceToDevice);
      cudaEventRecord(stop);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      if (i >= 3) times.push_back(ms);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
    return 2.0 * bytes / (times[times.size() / 2] / 1e3);
  }();
  return bandwidth;
}

void BM_DeviceCopy(benchmark::State& state) {
  const size_t bytes = size_t{1} << 30;
  DeviceBuffer a(bytes), b(bytes);
  if (!a.data || !b.data) return state.SkipWithError("cudaMalloc failed");
  cudaMemset(a.data, 1, bytes);
  TimeLaunches(state, [&] { return cudaMemcpyAsync(b.data, a.data, bytes, cudaMemcpyDeviceToDevice); });
  state.counters["GB/s(read+write)"] =
      benchmark::Counter(2.0 * bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// A batch with shuffled cache blocks; every sequence has `context` tokens and `query_len` query rows.
struct Batch {
  std::unique_ptr<DeviceBuffer> q, k, v, out, start, lens, tables, workspace;
  PagedAttentionArgs args;
};

bool MakeBatch(Batch& batch, int num_seqs, int context, int query_len, bool split, benchmark::State& state) {
  const int blocks_per_seq = (context + kBlockSize - 1) / kBlockSize;
  const int num_blocks = num_seqs * blocks_per_seq;
  const size_t cache_elems = static_cast<size_t>(num_blocks) * kBlockSize * kHk * kHeadDim;
  const int tokens = num_seqs * query_len;
  batch.q = std::make_unique<DeviceBuffer>(static_cast<size_t>(tokens) * kHq * kHeadDim * 2);
  batch.out = std::make_unique<DeviceBuffer>(static_cast<size_t>(tokens) * kHq * kHeadDim * 2);
  batch.k = std::make_unique<DeviceBuffer>(cache_elems * 2);
  batch.v = std::make_unique<DeviceBuffer>(cache_elems * 2);
  batch.start = std::make_unique<DeviceBuffer>((num_seqs + 1) * 4);
  batch.lens = std::make_unique<DeviceBuffer>(num_seqs * 4);
  batch.tables = std::make_unique<DeviceBuffer>(static_cast<size_t>(num_blocks) * 4);
  for (auto* b : {batch.q.get(), batch.out.get(), batch.k.get(), batch.v.get(), batch.start.get(), batch.lens.get(),
                  batch.tables.get()}) {
    if (!b->data) {
      state.SkipWithError("cudaMalloc failed");
      return false;
    }
  }
  FillRandomBf16(batch.q->data, static_cast<size_t>(tokens) * kHq * kHeadDim, 1);
  FillRandomBf16(batch.k->data, cache_elems, 2);
  FillRandomBf16(batch.v->data, cache_elems, 3);
  std::vector<int32_t> start(num_seqs + 1), lens(num_seqs, context), tables(num_blocks);
  for (int s = 0; s <= num_seqs; ++s) start[s] = s * query_len;
  std::iota(tables.begin(), tables.end(), 0);
  std::shuffle(tables.begin(), tables.end(), std::mt19937(4));
  cudaMemcpy(batch.start->data, start.data(), start.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(batch.lens->data, lens.data(), lens.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(batch.tables->data, tables.data(), tables.size() * 4, cudaMemcpyHostToDevice);

  PagedAttentionArgs& a = batch.args;
  a.q = static_cast<const uint16_t*>(batch.q->data);
  a.k_cache = static_cast<const uint16_t*>(batch.k->data);
  a.v_cache = static_cast<const uint16_t*>(batch.v->data);
  a.out = static_cast<uint16_t*>(batch.out->data);
  a.query_start_loc = static_cast<const int32_t*>(batch.start->data);
  a.seq_lens = static_cast<const int32_t*>(batch.lens->data);
  a.block_tables = static_cast<const int32_t*>(batch.tables->data);
  a.max_blocks_per_seq = blocks_per_seq;
  a.num_seqs = num_seqs;
  a.num_tokens = tokens;
  a.max_query_len = query_len;
  a.max_seq_len = context;
  a.num_q_heads = kHq;
  a.num_kv_heads = kHk;
  a.head_dim = kHeadDim;
  a.block_size = kBlockSize;
  a.scale = 0.08838834764f;
  if (split) {
    const size_t bytes = PagedAttentionWorkspaceBytes(num_seqs, kHq, kHk, kHeadDim, context);
    if (bytes > 0) {
      batch.workspace = std::make_unique<DeviceBuffer>(bytes);
      a.workspace = batch.workspace->data;
      a.workspace_bytes = bytes;
    }
  }
  return Check(cudaDeviceSynchronize(), state, "batch setup");
}

// The batch of the last shape asked for, kept across repetitions: filling a GiB cache costs seconds.
Batch* CachedBatch(int num_seqs, int context, int query_len, bool split, benchmark::State& state) {
  static std::unique_ptr<Batch> batch;
  static std::vector<int> key;
  const std::vector<int> wanted = {num_seqs, context, query_len, split ? 1 : 0};
  if (!batch || key != wanted) {
    batch.reset();
    batch = std::make_unique<Batch>();
    key = wanted;
    if (!MakeBatch(*batch, num_seqs, context, query_len, split, state)) {
      batch.reset();
      return nullptr;
    }
  }
  return batch.get();
}

// Args: batch, context, split (1) or not (0).
void BM_PagedDecode(benchmark::State& state) {
  const int num_seqs = static_cast<int>(state.range(0));
  const int context = static_cast<int>(state.range(1));
  const double copy_bandwidth = CopyBandwidth();
  Batch* batch = CachedBatch(num_seqs, context, 1, state.range(2) != 0, state);
  if (!batch) return;
  TimeLaunches(state, [&] { return LaunchPagedAttention(batch->args, nullptr); });
  const double kv_bytes = 2.0 * num_seqs * context * kHk * kHeadDim * 2;
  state.counters["splits"] = PagedDecodeSplitCount(batch->args);
  state.counters["KV_GB/s"] = benchmark::Counter(kv_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["copy_GB/s"] = copy_bandwidth / 1e9;
  state.counters["frac_of_copy"] =
      benchmark::Counter(kv_bytes / copy_bandwidth, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: tokens of one causal prompt with nothing cached, prefill tile variant (0 is what LaunchPagedAttention uses).
void BM_PagedPrefill(benchmark::State& state) {
  const int tokens = static_cast<int>(state.range(0));
  const int variant = static_cast<int>(state.range(1));
  Batch* batch = CachedBatch(1, tokens, tokens, false, state);
  if (!batch) return;
  TimeLaunches(state, [&] { return LaunchPagedPrefillVariant(batch->args, variant, nullptr); });
  const double flops = 4.0 * tokens * tokens * kHeadDim * kHq / 2;
  state.counters["TFLOP/s"] = benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK(BM_DeviceCopy)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.2)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_PagedDecode)
    ->Args({64, 4096, 1})
    ->Args({64, 4096, 0})
    ->Args({8, 4096, 1})
    ->Args({1, 32768, 1})
    ->Args({256, 1024, 1})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.2)->Repetitions(5)
    ->ReportAggregatesOnly(true);
BENCHMARK(BM_PagedPrefill)
    ->Args({8192, 0})
    ->Args({8192, 1})
    ->Args({8192, 2})
    ->Args({2048, 0})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.2)->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace
}  // namespace tessera::kernels::cuda

#else  // !TESSERA_HAVE_CUDA

namespace {
void BM_AttentionNeedsCuda(benchmark::State& state) {
  state.SkipWithError("built without the CUDA backend; the attention benchmarks need a GPU build");
  for (auto _ : state) {
  }
}
BENCHMARK(BM_AttentionNeedsCuda);
}  // namespace

#endif  // TESSERA_HAVE_CUDA

BENCHMARK_MAIN();
