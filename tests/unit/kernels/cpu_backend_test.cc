#include "kernels/cpu/cpu_backend.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "common/dtype.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/rope_cache.h"

namespace tessera::kernels {
namespace {

using ::testing::HasSubstr;

std::vector<float> RandomVector(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Rounds float32 values to a 16-bit type; `rounded` receives the values the backend will see after conversion.
std::vector<uint16_t> To16(const std::vector<float>& v, DType dtype, std::vector<float>* rounded) {
  std::vector<uint16_t> out(v.size());
  ConvertFromFloat(v.data(), dtype, out.data(), v.size());
  rounded->resize(v.size());
  ConvertToFloat(dtype, out.data(), rounded->data(), v.size());
  return out;
}

void ExpectNear(const std::vector<float>& actual, const std::vector<double>& expected, double tol) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_NEAR(actual[i], expected[i], tol * (1.0 + std::abs(expected[i]))) << "at index " << i;
  }
}

class CpuBackendTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_TRUE(backend_.Synchronize().ok()); }
  CpuBackend backend_;
};

// ----------------------------------------------------------------------------------------------------------------
// Factory, memory

TEST(CreateBackendTest, KnownAndUnknownDevices) {
  auto cpu = CreateBackend("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.status();
  EXPECT_EQ((*cpu)->name(), "cpu");
  EXPECT_EQ((*cpu)->activation_dtype(), DType::kF32);
  auto cuda = CreateBackend("cuda");
#ifndef TESSERA_HAVE_CUDA
  EXPECT_EQ(cuda.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(cuda.status().message(), HasSubstr("CUDA backend is not built"));
#endif
  auto unknown = CreateBackend("tpu");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().message(), HasSubstr("\"cpu\""));
  EXPECT_THAT(unknown.status().message(), HasSubstr("\"cuda\""));
  EXPECT_EQ(CreateBackend("cuda:x").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(CpuBackendTest, ReportsTypesAndMemory) {
  EXPECT_TRUE(backend_.SupportsWeightDType(DType::kF32));
  EXPECT_TRUE(backend_.SupportsWeightDType(DType::kBF16));
  EXPECT_TRUE(backend_.SupportsWeightDType(DType::kF16));
  EXPECT_FALSE(backend_.SupportsWeightDType(DType::kI8));
  const DeviceInfo info = backend_.Info();
  EXPECT_EQ(info.name, "cpu");
  EXPECT_GT(info.total_memory_bytes, 0u);
  EXPECT_GT(info.free_memory_bytes, 0u);
}

TEST_F(CpuBackendTest, AllocatesAlignedMemoryAndCopies) {
  for (size_t bytes : {size_t{0}, size_t{1}, size_t{100}, size_t{4096 + 3}}) {
    auto memory = backend_.Allocate(bytes);
    ASSERT_TRUE(memory.ok()) << memory.status();
    EXPECT_EQ((*memory)->bytes(), bytes);
    EXPECT_EQ(reinterpret_cast<uintptr_t>((*memory)->data()) % 64, 0u);
  }
  auto memory = backend_.Allocate(37 * sizeof(float));
  ASSERT_TRUE(memory.ok());
  const std::vector<float> src = RandomVector(37, 1);
  backend_.CopyToDevice((*memory)->data(), src.data(), 37 * sizeof(float));
  std::vector<float> back(37);
  ASSERT_TRUE(backend_.CopyToHost(back.data(), (*memory)->data(), 37 * sizeof(float)).ok());
  EXPECT_EQ(back, src);
}

TEST_F(CpuBackendTest, BadArgumentsAreReportedAtSynchronize) {
  std::vector<int32_t> ids = {0, 5};
  std::vector<float> table(4 * 3), out(2 * 3);
  Tensor ids_t = Tensor::Make1D(ids.data(), DType::kI32, 2);
  Tensor table_t = Tensor::Make2D(table.data(), DType::kF32, 4, 3);
  Tensor out_t = Tensor::Make2D(out.data(), DType::kF32, 2, 3);
  backend_.Embedding(ids_t, table_t, out_t);
  absl::Status status = backend_.Synchronize();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("Embedding"));
  EXPECT_THAT(status.message(), HasSubstr("5"));
  EXPECT_TRUE(backend_.Synchronize().ok());  // reported once

  std::vector<float> x(2 * 4), w(3 * 5), y(2 * 3);
  Tensor x_t = Tensor::Make2D(x.data(), DType::kF32, 2, 4);
  Tensor w_t = Tensor::Make2D(w.data(), DType::kF32, 3, 5);
  Tensor y_t = Tensor::Make2D(y.data(), DType::kF32, 2, 3);
  backend_.Gemm(x_t, w_t, nullptr, y_t);
  std::vector<float> host(1);
  status = backend_.CopyToHost(host.data(), y.data(), sizeof(float));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("Gemm"));
}

// ----------------------------------------------------------------------------------------------------------------
// Embedding, norms, elementwise

TEST_F(CpuBackendTest, EmbeddingInEveryWeightType) {
  const int vocab = 11, hidden = 13;
  const std::vector<float> table = RandomVector(vocab * hidden, 2);
  std::vector<int32_t> ids = {3, 0, 10, 3, 7};
  Tensor ids_t = Tensor::Make1D(ids.data(), DType::kI32, 5);
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    std::vector<float> rounded = table;
    std::vector<uint16_t> table16;
    void* data = const_cast<float*>(table.data());
    if (dtype != DType::kF32) {
      table16 = To16(table, dtype, &rounded);
      data = table16.data();
    }
    std::vector<float> out(5 * hidden, -1.0f);
    Tensor table_t = Tensor::Make2D(data, dtype, vocab, hidden);
    Tensor out_t = Tensor::Make2D(out.data(), DType::kF32, 5, hidden);
    backend_.Embedding(ids_t, table_t, out_t);
    for (int t = 0; t < 5; ++t)
      for (int i = 0; i < hidden; ++i) ASSERT_EQ(out[t * hidden + i], rounded[ids[t] * hidden + i]);
  }
}

std::vector<double> RefRmsNorm(const float* x, const std::vector<float>& w, double eps, int n) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double inv = 1.0 / std::sqrt(ss / n + eps);
  std::vector<double> out(n);
  for (int i = 0; i < n; ++i) out[i] = x[i] * inv * w[i];
  return out;
}

TEST_F(CpuBackendTest, RmsNormAndAddRmsNorm) {
  const int rows = 5, hidden = 37;
  const float eps = 1e-6f;
  const std::vector<float> x = RandomVector(rows * hidden, 3, 2.0f);
  const std::vector<float> delta = RandomVector(rows * hidden, 4);
  const std::vector<float> weight = RandomVector(hidden, 5);
  std::vector<float> w_rounded;
  std::vector<uint16_t> w_bf16 = To16(weight, DType::kBF16, &w_rounded);

  std::vector<float> out(rows * hidden);
  Tensor x_t = Tensor::Make2D(const_cast<float*>(x.data()), DType::kF32, rows, hidden);
  Tensor w_t = Tensor::Make1D(w_bf16.data(), DType::kBF16, hidden);
  Tensor out_t = Tensor::Make2D(out.data(), DType::kF32, rows, hidden);
  backend_.RmsNorm(x_t, w_t, eps, out_t);
  std::vector<double> expected;
  for (int r = 0; r < rows; ++r) {
    auto row = RefRmsNorm(x.data() + r * hidden, w_rounded, eps, hidden);
    expected.insert(expected.end(), row.begin(), row.end());
  }
  ExpectNear(out, expected, 1e-5);

  std::vector<float> residual = x;
  Tensor residual_t = Tensor::Make2D(residual.data(), DType::kF32, rows, hidden);
  Tensor delta_t = Tensor::Make2D(const_cast<float*>(delta.data()), DType::kF32, rows, hidden);
  Tensor wf_t = Tensor::Make1D(const_cast<float*>(weight.data()), DType::kF32, hidden);
  backend_.AddRmsNorm(residual_t, delta_t, wf_t, eps, out_t);
  expected.clear();
  std::vector<float> sum(rows * hidden);
  for (int i = 0; i < rows * hidden; ++i) sum[i] = x[i] + delta[i];
  for (int i = 0; i < rows * hidden; ++i) ASSERT_EQ(residual[i], sum[i]);
  for (int r = 0; r < rows; ++r) {
    auto row = RefRmsNorm(sum.data() + r * hidden, weight, eps, hidden);
    expected.insert(expected.end(), row.begin(), row.end());
  }
  ExpectNear(out, expected, 1e-5);
}

TEST_F(CpuBackendTest, HeadRmsNormOnStridedSliceLeavesOtherColumns) {
  // A fused [T, (Hq + 2 Hk) * D] buffer; normalise the k heads in place only.
  const int tokens = 3, hq = 4, hk = 2, d = 6;
  const int width = (hq + 2 * hk) * d;
  std::vector<float> fused = RandomVector(tokens * width, 6);
  const std::vector<float> original = fused;
  const std::vector<float> weight = RandomVector(d, 7);
  Tensor fused_t = Tensor::Make2D(fused.data(), DType::kF32, tokens, width);
  Tensor k = fused_t.ColumnSlice(hq * d, hk, d);
  backend_.HeadRmsNorm(k, Tensor::Make1D(const_cast<float*>(weight.data()), DType::kF32, d), 1e-5f);
  for (int t = 0; t < tokens; ++t) {
    for (int c = 0; c < width; ++c) {
      const int idx = t * width + c;
      if (c >= hq * d && c < (hq + hk) * d) {
        const int head_start = t * width + hq * d + ((c - hq * d) / d) * d;
        auto ref = RefRmsNorm(original.data() + head_start, weight, 1e-5, d);
        ASSERT_NEAR(fused[idx], ref[(c - hq * d) % d], 1e-5);
      } else {
        ASSERT_EQ(fused[idx], original[idx]);
      }
    }
  }
}

TEST_F(CpuBackendTest, SiluMulAddGatherRows) {
  const int rows = 4, inter = 9;
  const std::vector<float> gate_up = RandomVector(rows * 2 * inter, 8, 4.0f);
  std::vector<float> out(rows * inter);
  Tensor gu_t = Tensor::Make2D(const_cast<float*>(gate_up.data()), DType::kF32, rows, 2 * inter);
  Tensor out_t = Tensor::Make2D(out.data(), DType::kF32, rows, inter);
  backend_.SiluMul(gu_t, out_t);
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < inter; ++i) {
      const double g = gate_up[r * 2 * inter + i], u = gate_up[r * 2 * inter + inter + i];
      ASSERT_NEAR(out[r * inter + i], g / (1.0 + std::exp(-g)) * u, 1e-5);
    }
  }

  const std::vector<float> x = RandomVector(rows * inter, 9);
  std::vector<float> acc = out;
  Tensor acc_t = Tensor::Make2D(acc.data(), DType::kF32, rows, inter);
  backend_.Add(Tensor::Make2D(const_cast<float*>(x.data()), DType::kF32, rows, inter), acc_t);
  for (int i = 0; i < rows * inter; ++i) ASSERT_EQ(acc[i], out[i] + x[i]);

  std::vector<int32_t> indices = {3, 1, 3};
  std::vector<float> gathered(3 * inter);
  Tensor g_t = Tensor::Make2D(gathered.data(), DType::kF32, 3, inter);
  backend_.GatherRows(acc_t, Tensor::Make1D(indices.data(), DType::kI32, 3), g_t);
  for (int i = 0; i < 3; ++i)
    for (int c = 0; c < inter; ++c) ASSERT_EQ(gathered[i * inter + c], acc[indices[i] * inter + c]);
}

// ----------------------------------------------------------------------------------------------------------------
// Gemm

struct GemmCase {
  int rows, k, n;
  DType dtype;
  bool bias;
};

class CpuGemmTest : public CpuBackendTest, public ::testing::WithParamInterface<GemmCase> {};

TEST_P(CpuGemmTest, MatchesDoubleReferenceOnRoundedWeights) {
  const GemmCase c = GetParam();
  // x is read with a row stride larger than k (a view into a wider buffer).
  const int ldx = c.k + 3;
  const std::vector<float> x = RandomVector(c.rows * ldx, 10);
  const std::vector<float> w = RandomVector(c.n * c.k, 11, 0.5f);
  const std::vector<float> b = RandomVector(c.n, 12);
  std::vector<float> w_rounded = w, b_rounded = b;
  std::vector<uint16_t> w16, b16;
  void* w_data = const_cast<float*>(w.data());
  void* b_data = const_cast<float*>(b.data());
  if (c.dtype != DType::kF32) {
    w16 = To16(w, c.dtype, &w_rounded);
    b16 = To16(b, c.dtype, &b_rounded);
    w_data = w16.data();
    b_data = b16.data();
  }
  Tensor x_t = Tensor::Make2D(const_cast<float*>(x.data()), DType::kF32, c.rows, c.k);
  x_t.row_stride = ldx;
  Tensor w_t = Tensor::Make2D(w_data, c.dtype, c.n, c.k);
  Tensor b_t = Tensor::Make1D(b_data, c.dtype, c.n);
  std::vector<float> y(c.rows * c.n);
  Tensor y_t = Tensor::Make2D(y.data(), DType::kF32, c.rows, c.n);
  backend_.Gemm(x_t, w_t, c.bias ? &b_t : nullptr, y_t);
  std::vector<double> expected(c.rows * c.n);
  for (int t = 0; t < c.rows; ++t) {
    for (int j = 0; j < c.n; ++j) {
      double acc = c.bias ? b_rounded[j] : 0.0;
      for (int i = 0; i < c.k; ++i) acc += static_cast<double>(x[t * ldx + i]) * w_rounded[j * c.k + i];
      expected[t * c.n + j] = acc;
    }
  }
  ExpectNear(y, expected, 1e-4);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuGemmTest,
    ::testing::Values(GemmCase{5, 37, 19, DType::kF32, true}, GemmCase{1, 64, 33, DType::kF32, false},
                      GemmCase{3, 37, 19, DType::kBF16, true}, GemmCase{1, 129, 7, DType::kF16, false},
                      GemmCase{20, 37, 19, DType::kBF16, false}, GemmCase{17, 45, 23, DType::kF16, true},
                      // several converted tiles (1M floats / 2048 = 512 rows per tile)
                      GemmCase{9, 2048, 600, DType::kBF16, true}));

// ----------------------------------------------------------------------------------------------------------------
// Rope

TEST_F(CpuBackendTest, RopeRotatesStridedQkAndOnlyRotaryDims) {
  const int tokens = 5, hq = 4, hk = 2, d = 12, rotary = 8, max_pos = 64;
  const int width = (hq + 2 * hk) * d;
  auto cos_sin = BuildRopeCosSinCache(RopeParameters{.rotary_dim = rotary, .theta = 10000.0}, max_pos);
  ASSERT_TRUE(cos_sin.ok());
  std::vector<float> fused = RandomVector(tokens * width, 13);
  const std::vector<float> original = fused;
  std::vector<int32_t> positions = {0, 1, 17, 63, 5};
  Tensor fused_t = Tensor::Make2D(fused.data(), DType::kF32, tokens, width);
  Tensor q = fused_t.ColumnSlice(0, hq, d);
  Tensor k = fused_t.ColumnSlice(hq * d, hk, d);
  Tensor cs = Tensor::Make2D(cos_sin->data(), DType::kF32, max_pos, rotary);
  backend_.Rope(Tensor::Make1D(positions.data(), DType::kI32, tokens), q, k, cs, rotary);
  const int half = rotary / 2;
  for (int t = 0; t < tokens; ++t) {
    for (int h = 0; h < hq + 2 * hk; ++h) {
      const float* in = original.data() + t * width + h * d;
      const float* got = fused.data() + t * width + h * d;
      for (int i = 0; i < d; ++i) {
        double expected = in[i];
        if (h < hq + hk && i < rotary) {  // q and k heads rotate their first `rotary` dims; v is untouched
          const double c = (*cos_sin)[positions[t] * rotary + i % half];
          const double s = (*cos_sin)[positions[t] * rotary + half + i % half];
          expected = i < half ? in[i] * c - in[i + half] * s : in[i] * c + in[i - half] * s;
        }
        ASSERT_NEAR(got[i], expected, 1e-5) << "t=" << t << " h=" << h << " i=" << i;
      }
    }
  }
}

// ----------------------------------------------------------------------------------------------------------------
// KV cache and paged attention

TEST_F(CpuBackendTest, WriteKvCacheSkipsNegativeSlots) {
  const int tokens = 4, hq = 2, hk = 2, d = 3, slots = 8;
  const int width = (hq + 2 * hk) * d;
  const std::vector<float> fused = RandomVector(tokens * width, 14);
  Tensor fused_t = Tensor::Make2D(const_cast<float*>(fused.data()), DType::kF32, tokens, width);
  Tensor k = fused_t.ColumnSlice(hq * d, hk, d);
  Tensor v = fused_t.ColumnSlice((hq + hk) * d, hk, d);
  std::vector<float> k_cache(slots * hk * d, 99.0f), v_cache(slots * hk * d, 99.0f);
  Tensor kc = Tensor::Make3D(k_cache.data(), DType::kF32, slots, hk, d);
  Tensor vc = Tensor::Make3D(v_cache.data(), DType::kF32, slots, hk, d);
  std::vector<int32_t> slot_mapping = {6, -1, 0, 3};
  backend_.WriteKvCache(k, v, Tensor::Make1D(slot_mapping.data(), DType::kI32, tokens), kc, vc);
  for (int s = 0; s < slots; ++s) {
    const int t = s == 6 ? 0 : s == 0 ? 2 : s == 3 ? 3 : -1;
    for (int e = 0; e < hk * d; ++e) {
      const float want_k = t < 0 ? 99.0f : fused[t * width + hq * d + e];
      const float want_v = t < 0 ? 99.0f : fused[t * width + (hq + hk) * d + e];
      ASSERT_EQ(k_cache[s * hk * d + e], want_k) << "slot " << s;
      ASSERT_EQ(v_cache[s * hk * d + e], want_v) << "slot " << s;
    }
  }
}

struct SeqSpec {
  int context;    // tokens in the cache after this step
  int query_len;  // tokens computed this step (the last query_len positions)
};

struct AttentionCase {
  int hq, hk, d, block_size;
  std::vector<SeqSpec> seqs;
};

class CpuPagedAttentionTest : public CpuBackendTest, public ::testing::WithParamInterface<AttentionCase> {};

// Builds a varlen batch whose keys/values for every position are random, stores earlier context straight into
// the cache and this step's tokens through WriteKvCache (as the engine does), then checks attention against a
// double-precision dense causal reference.
TEST_P(CpuPagedAttentionTest, MatchesDenseCausalReference) {
  const AttentionCase c = GetParam();
  const int num_seqs = static_cast<int>(c.seqs.size());
  int max_blocks = 0, total_blocks = 0, tokens = 0;
  for (const SeqSpec& s : c.seqs) {
    const int blocks = (s.context + c.block_size - 1) / c.block_size;
    max_blocks = std::max(max_blocks, blocks);
    total_blocks += blocks;
    tokens += s.query_len;
  }
  const int num_blocks = total_blocks + 3;  // a few blocks nobody owns
  const int cache_rows = num_blocks * c.block_size;
  const int row = c.hk * c.d;

  // Shuffled, disjoint block tables.
  std::vector<int32_t> free_blocks(num_blocks);
  std::iota(free_blocks.begin(), free_blocks.end(), 0);
  std::shuffle(free_blocks.begin(), free_blocks.end(), std::mt19937(15));
  std::vector<int32_t> block_tables(num_seqs * max_blocks, -1);
  for (int s = 0, next = 0; s < num_seqs; ++s)
    for (int b = 0; b < (c.seqs[s].context + c.block_size - 1) / c.block_size; ++b)
      block_tables[s * max_blocks + b] = free_blocks[next++];

  std::vector<float> k_cache(cache_rows * row, std::nanf("")), v_cache(cache_rows * row, std::nanf(""));
  const int width = (c.hq + 2 * c.hk) * c.d;
  std::vector<float> fused(tokens * width);
  std::vector<int32_t> query_start = {0}, seq_lens, slot_mapping;
  std::vector<std::vector<float>> seq_k(num_seqs), seq_v(num_seqs);  // [context, hk, d]
  int max_query = 0, max_seq = 0;
  for (int s = 0; s < num_seqs; ++s) {
    const SeqSpec& spec = c.seqs[s];
    seq_k[s] = RandomVector(spec.context * row, 100 + s);
    seq_v[s] = RandomVector(spec.context * row, 200 + s);
    const int first_new = spec.context - spec.query_len;
    for (int p = 0; p < spec.context; ++p) {
      const int slot = block_tables[s * max_blocks + p / c.block_size] * c.block_size + p % c.block_size;
      if (p < first_new) {  // cached by earlier steps
        std::copy_n(seq_k[s].begin() + p * row, row, k_cache.begin() + slot * row);
        std::copy_n(seq_v[s].begin() + p * row, row, v_cache.begin() + slot * row);
      } else {
        const int t = query_start.back() + (p - first_new);
        const std::vector<float> q = RandomVector(c.hq * c.d, 300 + t);
        std::copy(q.begin(), q.end(), fused.begin() + t * width);
        std::copy_n(seq_k[s].begin() + p * row, row, fused.begin() + t * width + c.hq * c.d);
        std::copy_n(seq_v[s].begin() + p * row, row, fused.begin() + t * width + (c.hq + c.hk) * c.d);
        slot_mapping.push_back(slot);
      }
    }
    query_start.push_back(query_start.back() + spec.query_len);
    seq_lens.push_back(spec.context);
    max_query = std::max(max_query, spec.query_len);
    max_seq = std::max(max_seq, spec.context);
  }

  Tensor fused_t = Tensor::Make2D(fused.data(), DType::kF32, tokens, width);
  Tensor q = fused_t.ColumnSlice(0, c.hq, c.d);
  Tensor k = fused_t.ColumnSlice(c.hq * c.d, c.hk, c.d);
  Tensor v = fused_t.ColumnSlice((c.hq + c.hk) * c.d, c.hk, c.d);
  Tensor kc = Tensor::Make3D(k_cache.data(), DType::kF32, cache_rows, c.hk, c.d);
  Tensor vc = Tensor::Make3D(v_cache.data(), DType::kF32, cache_rows, c.hk, c.d);
  backend_.WriteKvCache(k, v, Tensor::Make1D(slot_mapping.data(), DType::kI32, tokens), kc, vc);

  AttentionMetadata meta;
  meta.query_start_loc = Tensor::Make1D(query_start.data(), DType::kI32, num_seqs + 1);
  meta.seq_lens = Tensor::Make1D(seq_lens.data(), DType::kI32, num_seqs);
  meta.block_tables = Tensor::Make2D(block_tables.data(), DType::kI32, num_seqs, max_blocks);
  meta.num_seqs = num_seqs;
  meta.max_query_len = max_query;
  meta.max_seq_len = max_seq;
  meta.block_size = c.block_size;
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.d));
  std::vector<float> out(tokens * c.hq * c.d);
  Tensor out_t = Tensor::Make3D(out.data(), DType::kF32, tokens, c.hq, c.d);
  backend_.PagedAttention(q, kc, vc, meta, scale, out_t);
  ASSERT_TRUE(backend_.Synchronize().ok());

  std::vector<double> expected(out.size());
  const int group = c.hq / c.hk;
  for (int s = 0; s < num_seqs; ++s) {
    for (int t = query_start[s]; t < query_start[s + 1]; ++t) {
      const int pos = seq_lens[s] - c.seqs[s].query_len + (t - query_start[s]);
      for (int h = 0; h < c.hq; ++h) {
        const float* qv = fused.data() + t * width + h * c.d;
        const int kvh = h / group;
        std::vector<double> scores(pos + 1);
        double max_score = -1e300;
        for (int j = 0; j <= pos; ++j) {
          double dot = 0;
          for (int e = 0; e < c.d; ++e) dot += static_cast<double>(qv[e]) * seq_k[s][j * row + kvh * c.d + e];
          scores[j] = dot * scale;
          max_score = std::max(max_score, scores[j]);
        }
        double sum = 0;
        for (double& sc : scores) sum += (sc = std::exp(sc - max_score));
        for (int e = 0; e < c.d; ++e) {
          double acc = 0;
          for (int j = 0; j <= pos; ++j) acc += scores[j] * seq_v[s][j * row + kvh * c.d + e];
          expected[(t * c.hq + h) * c.d + e] = acc / sum;
        }
      }
    }
  }
  ExpectNear(out, expected, 2e-5);
}

// A varlen batch that mixes a one-token decode over a long cached context, a fresh prefill and a prefill chunk
// that continues a cached context.
const std::vector<SeqSpec> kMixedBatch = {{37, 1}, {9, 9}, {29, 11}};

INSTANTIATE_TEST_SUITE_P(Layouts, CpuPagedAttentionTest,
                         ::testing::Values(AttentionCase{4, 2, 8, 16, kMixedBatch},   // GQA, default blocks
                                           AttentionCase{4, 1, 8, 1, kMixedBatch},    // MQA, one-token blocks
                                           AttentionCase{4, 2, 13, 5, kMixedBatch},   // odd head_dim / blocks
                                           AttentionCase{3, 3, 16, 16, kMixedBatch},  // MHA
                                           AttentionCase{4, 2, 8, 16, {{1, 1}}},      // first token
                                           AttentionCase{2, 1, 64, 16, {{40, 1}, {17, 1}, {64, 1}}}));  // decode

TEST_F(CpuBackendTest, PagedAttentionRejectsBlockOutsideCache) {
  const int d = 4;
  std::vector<float> q(d), k_cache(2 * 4 * d), v_cache(2 * 4 * d), out(d);
  std::vector<int32_t> query_start = {0, 1}, seq_lens = {3}, block_table = {5};
  AttentionMetadata meta;
  meta.query_start_loc = Tensor::Make1D(query_start.data(), DType::kI32, 2);
  meta.seq_lens = Tensor::Make1D(seq_lens.data(), DType::kI32, 1);
  meta.block_tables = Tensor::Make2D(block_table.data(), DType::kI32, 1, 1);
  meta.num_seqs = 1;
  meta.block_size = 4;
  Tensor out_t = Tensor::Make3D(out.data(), DType::kF32, 1, 1, d);
  backend_.PagedAttention(Tensor::Make3D(q.data(), DType::kF32, 1, 1, d),
                          Tensor::Make3D(k_cache.data(), DType::kF32, 8, 1, d),
                          Tensor::Make3D(v_cache.data(), DType::kF32, 8, 1, d), meta, 0.5f, out_t);
  absl::Status status = backend_.Synchronize();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("block 5"));
}

}  // namespace
}  // namespace tessera::kernels
