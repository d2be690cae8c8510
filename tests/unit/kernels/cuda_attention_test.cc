// The CUDA paged attention kernels against a float64 reference on the host, on random data: decode over contexts of
// 1..5000 tokens (split and unsplit), chunked prefill over cached prefixes, mixed batches with padding rows, GQA
// groups 1/4/8/32, head dims 64/128, several block sizes, shuffled block tables. Outputs start as NaN and unused cache
// slots hold NaN, so unwritten outputs and reads outside the context both show. Skips without a GPU.
#include <gtest/gtest.h>

#ifndef TESSERA_HAVE_CUDA

TEST(CudaAttentionTest, NeedsCudaBuild) { GTEST_SKIP() << "built without the CUDA backend"; }

#else

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "kernels/cuda/attention_kernels.h"

namespace tessera::kernels::cuda {
namespace {

constexpr uint16_t kBf16NaN = 0x7fc0;

bool HaveGpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

#define SKIP_WITHOUT_GPU()                 \
  if (!HaveGpu()) {                        \
    GTEST_SKIP() << "no CUDA device";      \
  }

// Device memory freed at scope exit.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (bytes > 0) EXPECT_EQ(cudaMalloc(&data_, bytes), cudaSuccess);
  }
  ~DeviceBuffer() {
    if (data_) cudaFree(data_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  size_t bytes() const { return bytes_; }
  template <typename T>
  void Upload(const std::vector<T>& host) {
    ASSERT_LE(host.size() * sizeof(T), bytes_);
    ASSERT_EQ(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  template <typename T>
  std::vector<T> Download(size_t count) const {
    std::vector<T> host(count);
    EXPECT_EQ(cudaMemcpy(host.data(), data_, count * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

struct SeqSpec {
  int context;
  int query_len;
};

struct Shape {
  int num_q_heads;
  int num_kv_heads;
  int head_dim;
  int block_size = 16;
};

struct Options {
  int padding_rows = 0;         // rows after the last sequence that no sequence owns
  int q_extra_columns = 0;      // q rows wider than Hq * D, as when q is a view of the fused QKV output
  bool use_workspace = true;    // false forces the unsplit decode kernel
  float q_range = 2.0f;         // larger values make the softmax peakier
  int prefill_variant = -1;     // >= 0: run the prefill kernel with this tile shape whatever the batch
};

struct Result {
  double relative_error = 0;       // ‖out − ref‖ / ‖ref‖ over all owned rows
  double worst_row_error = 0;      // the same per (token, head)
  int64_t non_finite = 0;          // NaN or inf anywhere in out
  int64_t nonzero_padding = 0;     // elements of unowned rows that are not exactly zero
  int splits = 0;
};

std::vector<uint16_t> RandomBf16(size_t count, float range, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-range, range);
  std::vector<uint16_t> v(count);
  for (auto& x : v) x = FloatToBF16(dist(rng));
  return v;
}

// Builds the batch, runs LaunchPagedAttention and compares with a float64 reference computed from the same bf16
// values.
Result RunCase(const std::vector<SeqSpec>& seqs, const Shape& shape, const Options& options, uint32_t seed) {
  std::mt19937 rng(seed);
  const int hq = shape.num_q_heads, hk = shape.num_kv_heads, d = shape.head_dim, bs = shape.block_size;
  const int group = hq / hk;
  const int num_seqs = static_cast<int>(seqs.size());

  std::vector<int32_t> query_start(num_seqs + 1, 0);
  std::vector<int32_t> seq_lens(num_seqs);
  int max_query_len = 0, max_seq_len = 0, max_blocks = 1, total_blocks = 0;
  for (int s = 0; s < num_seqs; ++s) {
    query_start[s + 1] = query_start[s] + seqs[s].query_len;
    seq_lens[s] = seqs[s].context;
    max_query_len = std::max(max_query_len, seqs[s].query_len);
    max_seq_len = std::max(max_seq_len, seqs[s].context);
    const int blocks = (seqs[s].context + bs - 1) / bs;
    max_blocks = std::max(max_blocks, blocks);
    total_blocks += blocks;
  }
  const int owned_rows = query_start[num_seqs];
  const int num_tokens = owned_rows + options.padding_rows;

  // Shuffled, non-contiguous blocks with spare ones in between; unused table entries point far outside the cache.
  const int num_cache_blocks = total_blocks * 2 + 3;
  std::vector<int32_t> block_ids(num_cache_blocks);
  std::iota(block_ids.begin(), block_ids.end(), 0);
  std::shuffle(block_ids.begin(), block_ids.end(), rng);
  std::vector<int32_t> tables(static_cast<size_t>(num_seqs) * max_blocks, 0x3fffffff);
  std::vector<bool> slot_used(static_cast<size_t>(num_cache_blocks) * bs, false);
  int next_block = 0;
  for (int s = 0; s < num_seqs; ++s) {
    for (int b = 0; b < (seqs[s].context + bs - 1) / bs; ++b) {
      const int block = block_ids[next_block++];
      tables[static_cast<size_t>(s) * max_blocks + b] = block;
      for (int i = 0; i < bs && b * bs + i < seqs[s].context; ++i) {
        slot_used[static_cast<size_t>(block) * bs + i] = true;
      }
    }
  }

  const size_t cache_elems = static_cast<size_t>(num_cache_blocks) * bs * hk * d;
  std::vector<uint16_t> k_cache = RandomBf16(cache_elems, 1.0f, rng);
  std::vector<uint16_t> v_cache = RandomBf16(cache_elems, 1.0f, rng);
  for (size_t slot = 0; slot < slot_used.size(); ++slot) {
    if (slot_used[slot]) continue;
    std::fill_n(k_cache.begin() + slot * hk * d, hk * d, kBf16NaN);
    std::fill_n(v_cache.begin() + slot * hk * d, hk * d, kBf16NaN);
  }
  const int64_t q_stride = static_cast<int64_t>(hq) * d + options.q_extra_columns;
  std::vector<uint16_t> q = RandomBf16(static_cast<size_t>(std::max(num_tokens, 1)) * q_stride, options.q_range, rng);

  DeviceBuffer q_dev(q.size() * 2), k_dev(k_cache.size() * 2), v_dev(v_cache.size() * 2);
  DeviceBuffer out_dev(static_cast<size_t>(std::max(num_tokens, 1)) * hq * d * 2);
  DeviceBuffer start_dev(query_start.size() * 4), lens_dev(seq_lens.size() * 4 + 4), tables_dev(tables.size() * 4);
  q_dev.Upload(q);
  k_dev.Upload(k_cache);
  v_dev.Upload(v_cache);
  start_dev.Upload(query_start);
  lens_dev.Upload(seq_lens);
  tables_dev.Upload(tables);
  out_dev.Upload(std::vector<uint16_t>(static_cast<size_t>(std::max(num_tokens, 1)) * hq * d, kBf16NaN));

  PagedAttentionArgs args;
  args.q = q_dev.as<uint16_t>();
  args.q_row_stride = q_stride;
  args.k_cache = k_dev.as<uint16_t>();
  args.v_cache = v_dev.as<uint16_t>();
  args.out = out_dev.as<uint16_t>();
  args.query_start_loc = start_dev.as<int32_t>();
  args.seq_lens = lens_dev.as<int32_t>();
  args.block_tables = tables_dev.as<int32_t>();
  args.max_blocks_per_seq = max_blocks;
  args.num_seqs = num_seqs;
  args.num_tokens = num_tokens;
  args.max_query_len = max_query_len;
  args.max_seq_len = max_seq_len;
  args.num_q_heads = hq;
  args.num_kv_heads = hk;
  args.head_dim = d;
  args.block_size = bs;
  args.scale = 1.0f / std::sqrt(static_cast<float>(d));
  const size_t workspace_bytes =
      options.use_workspace ? PagedAttentionWorkspaceBytes(std::max(num_seqs, 1), hq, hk, d, max_seq_len) : 0;
  DeviceBuffer workspace(workspace_bytes);
  if (workspace_bytes > 0) {
    args.workspace = workspace.as<void>();
    args.workspace_bytes = workspace_bytes;
    // Stale partials must not leak into the result.
    EXPECT_EQ(cudaMemset(args.workspace, 0xff, workspace_bytes), cudaSuccess);
  }

  Result result;
  result.splits = PagedDecodeSplitCount(args);
  if (options.prefill_variant >= 0) {
    EXPECT_EQ(LaunchPagedPrefillVariant(args, options.prefill_variant, nullptr), cudaSuccess);
  } else {
    EXPECT_EQ(LaunchPagedAttention(args, nullptr), cudaSuccess);
  }
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<uint16_t> out = out_dev.Download<uint16_t>(static_cast<size_t>(num_tokens) * hq * d);

  // Reference, one (sequence, token) row per work item, spread over the host's cores.
  std::vector<double> ref(static_cast<size_t>(owned_rows) * hq * d, 0.0);
  std::vector<int> row_seq(owned_rows);
  for (int s = 0; s < num_seqs; ++s) {
    for (int t = query_start[s]; t < query_start[s + 1]; ++t) row_seq[t] = s;
  }
  const double scale = args.scale;
  auto reference_rows = [&](int first, int step) {
    std::vector<double> weights(max_seq_len + 1);
    for (int t = first; t < owned_rows; t += step) {
      const int s = row_seq[t];
      const int pos = seqs[s].context - seqs[s].query_len + (t - query_start[s]);
      for (int h = 0; h < hq; ++h) {
        const int kvh = h / group;
        const uint16_t* qv = q.data() + static_cast<size_t>(t) * q_stride + static_cast<size_t>(h) * d;
        double max_score = -1e300;
        for (int j = 0; j <= pos; ++j) {
          const size_t slot = static_cast<size_t>(tables[static_cast<size_t>(s) * max_blocks + j / bs]) * bs + j % bs;
          const uint16_t* kv = k_cache.data() + (slot * hk + kvh) * d;
          double dot = 0;
          for (int i = 0; i < d; ++i) dot += static_cast<double>(BF16ToFloat(qv[i])) * BF16ToFloat(kv[i]);
          weights[j] = dot * scale;
          max_score = std::max(max_score, weights[j]);
        }
        double sum = 0;
        for (int j = 0; j <= pos; ++j) sum += weights[j] = std::exp(weights[j] - max_score);
        double* o = ref.data() + (static_cast<size_t>(t) * hq + h) * d;
        for (int j = 0; j <= pos; ++j) {
          const size_t slot = static_cast<size_t>(tables[static_cast<size_t>(s) * max_blocks + j / bs]) * bs + j % bs;
          const uint16_t* vv = v_cache.data() + (slot * hk + kvh) * d;
          const double w = weights[j] / sum;
          for (int i = 0; i < d; ++i) o[i] += w * BF16ToFloat(vv[i]);
        }
      }
    }
  };
  const int threads = static_cast<int>(std::max(1u, std::min(16u, std::thread::hardware_concurrency())));
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) workers.emplace_back(reference_rows, w, threads);
  for (auto& w : workers) w.join();

  double err2 = 0, ref2 = 0;
  for (int t = 0; t < num_tokens; ++t) {
    for (int h = 0; h < hq; ++h) {
      double row_err2 = 0, row_ref2 = 0;
      for (int i = 0; i < d; ++i) {
        const size_t idx = (static_cast<size_t>(t) * hq + h) * d + i;
        const float got = BF16ToFloat(out[idx]);
        if (!std::isfinite(got)) {
          ++result.non_finite;
          continue;
        }
        if (t >= owned_rows) {
          if (got != 0.0f) ++result.nonzero_padding;
          continue;
        }
        const double diff = got - ref[idx];
        row_err2 += diff * diff;
        row_ref2 += ref[idx] * ref[idx];
      }
      err2 += row_err2;
      ref2 += row_ref2;
      if (t < owned_rows) {
        result.worst_row_error = std::max(result.worst_row_error, std::sqrt(row_err2 / std::max(row_ref2, 1e-30)));
      }
    }
  }
  result.relative_error = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  return result;
}

void ExpectClose(const Result& r, const std::string& what) {
  EXPECT_EQ(r.non_finite, 0) << what;
  EXPECT_EQ(r.nonzero_padding, 0) << what;
  EXPECT_LT(r.relative_error, 1e-2) << what;
  EXPECT_LT(r.worst_row_error, 3e-2) << what;
}

std::string Describe(const Shape& s, const Options& o) {
  return absl::StrCat("Hq=", s.num_q_heads, " Hk=", s.num_kv_heads, " D=", s.head_dim, " block=", s.block_size,
                      " workspace=", o.use_workspace, " prefill variant=", o.prefill_variant);
}

// A context length in [lo, hi] that is not a multiple of the block size.
int OddLength(std::mt19937& rng, int lo, int hi, int block_size) {
  std::uniform_int_distribution<int> dist(lo, hi);
  int n = dist(rng);
  if (n % block_size == 0) n += (n + 1 <= hi) ? 1 : -1;
  return n;
}

struct ShapeCase {
  int hq, hk, d;
};
const ShapeCase kShapes[] = {{4, 4, 64}, {8, 2, 64}, {16, 2, 64}, {4, 4, 128}, {8, 2, 128}, {16, 2, 128}, {32, 1, 128}};

TEST(CudaAttentionTest, DecodeMatchesReferenceSplitAndUnsplit) {
  SKIP_WITHOUT_GPU();
  uint32_t seed = 1;
  for (const ShapeCase& sc : kShapes) {
    std::mt19937 rng(seed);
    std::vector<SeqSpec> seqs = {{1, 1}, {17, 1}, {5000, 1}, {4999, 1}, {63, 1}};
    for (int i = 0; i < 7; ++i) seqs.push_back({OddLength(rng, 1, 5000, 16), 1});
    const Shape shape{sc.hq, sc.hk, sc.d};
    for (bool workspace : {true, false}) {
      Options options;
      options.use_workspace = workspace;
      const Result r = RunCase(seqs, shape, options, seed++);
      if (workspace) {
        EXPECT_GT(r.splits, 1) << Describe(shape, options);
      } else {
        EXPECT_EQ(r.splits, 1) << Describe(shape, options);
      }
      ExpectClose(r, Describe(shape, options));
    }
  }
}

TEST(CudaAttentionTest, DecodeWithPaddingRowsIdleSequencesAndFusedQkvRows) {
  SKIP_WITHOUT_GPU();
  // Sequence 1 has no query this step; three rows at the end belong to nobody.
  const std::vector<SeqSpec> seqs = {{300, 1}, {40, 0}, {1234, 1}, {2, 1}};
  for (bool workspace : {true, false}) {
    Options options;
    options.padding_rows = 3;
    options.q_extra_columns = 2 * 2 * 128;  // q is the first part of [q | k | v] rows
    options.use_workspace = workspace;
    const Shape shape{8, 2, 128};
    ExpectClose(RunCase(seqs, shape, options, 77), Describe(shape, options));
  }
}

TEST(CudaAttentionTest, ChunkedPrefillOverCachedPrefix) {
  SKIP_WITHOUT_GPU();
  uint32_t seed = 100;
  for (const ShapeCase& sc : kShapes) {
    std::mt19937 rng(seed);
    std::vector<SeqSpec> seqs;
    std::uniform_int_distribution<int> prefix(0, 1500), chunk(1, 200);
    for (int i = 0; i < 4; ++i) {
      const int q_len = chunk(rng);
      seqs.push_back({prefix(rng) + q_len, q_len});
    }
    seqs.push_back({150, 150});  // a whole prompt with nothing cached
    const Shape shape{sc.hq, sc.hk, sc.d};
    ExpectClose(RunCase(seqs, shape, Options{}, seed++), Describe(shape, Options{}));
  }
}

TEST(CudaAttentionTest, MixedBatchAcrossBlockSizes) {
  SKIP_WITHOUT_GPU();
  uint32_t seed = 200;
  for (int block_size : {16, 8, 32, 24}) {
    for (int d : {64, 128}) {
      std::mt19937 rng(seed);
      std::vector<SeqSpec> seqs;
      for (int i = 0; i < 5; ++i) seqs.push_back({OddLength(rng, 1, 3000, block_size), 1});  // decodes
      seqs.push_back({333, 77});                                                           // chunk over a prefix
      seqs.push_back({129, 129});                                                          // fresh prompt
      seqs.push_back({1, 1});
      Options options;
      options.padding_rows = 5;
      options.q_extra_columns = 64;
      options.q_range = 4.0f;
      const Shape shape{8, 2, d, block_size};
      ExpectClose(RunCase(seqs, shape, options, seed++), Describe(shape, options));
    }
  }
}

TEST(CudaAttentionTest, LongPrefillWithPeakySoftmax) {
  SKIP_WITHOUT_GPU();
  Options options;
  options.q_range = 6.0f;
  const Shape shape{8, 2, 128};
  ExpectClose(RunCase({{1100, 1000}}, shape, options, 300), Describe(shape, options));
}

TEST(CudaAttentionTest, EveryPrefillTileShapeMatchesReference) {
  SKIP_WITHOUT_GPU();
  uint32_t seed = 400;
  for (int d : {64, 128}) {
    for (int variant = 0; variant < PagedPrefillVariantCount(d); ++variant) {
      Options options;
      options.prefill_variant = variant;
      options.padding_rows = 2;
      const Shape shape{8, 2, d};
      // Decodes, a chunk over a prefix and a fresh prompt in one batch, then decodes alone.
      ExpectClose(RunCase({{700, 1}, {901, 190}, {260, 260}, {33, 1}}, shape, options, seed++),
                  Describe(shape, options));
      ExpectClose(RunCase({{1, 1}, {2345, 1}}, shape, options, seed++), Describe(shape, options));
    }
  }
}

TEST(CudaAttentionTest, RejectsUnsupportedShapes) {
  SKIP_WITHOUT_GPU();
  PagedAttentionArgs args;
  args.num_q_heads = 8;
  args.num_kv_heads = 2;
  args.head_dim = 96;
  args.num_tokens = 1;
  EXPECT_EQ(LaunchPagedAttention(args, nullptr), cudaErrorInvalidValue);
  args.head_dim = 128;
  args.num_kv_heads = 3;
  EXPECT_EQ(LaunchPagedAttention(args, nullptr), cudaErrorInvalidValue);
  args.num_kv_heads = 2;
  args.scale = 0.0f;
  EXPECT_EQ(LaunchPagedAttention(args, nullptr), cudaErrorInvalidValue);
  args.scale = 1.0f;
  EXPECT_EQ(LaunchPagedPrefillVariant(args, PagedPrefillVariantCount(128), nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace tessera::kernels::cuda

#endif  // TESSERA_HAVE_CUDA
