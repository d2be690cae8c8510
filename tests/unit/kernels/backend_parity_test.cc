// Runs every op of kernels/ops.h on each backend CreateBackend can open ("cpu" always, "cuda" when it is built and a
// GPU is present; skipped otherwise) and compares it with the CPU reference backend on the same random inputs:
// sizes that are not multiples of any tile, row-strided q/k views, several GQA ratios and block sizes. Inputs are
// rounded to the backend's activation type first, so both backends see identical values; outputs are poisoned
// with NaN beforehand so that an element the backend fails to write cannot pass.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/ops.h"
#include "kernels/rope_cache.h"

namespace tessera::kernels {
namespace {

// A buffer on one backend with the values it was filled with.
struct Buffer {
  std::unique_ptr<DeviceMemory> memory;
  DType dtype = DType::kF32;
  size_t count = 0;
  void* data() const { return memory->data(); }
};

// The same logical tensor on the reference (CPU) backend and on the backend under test.
struct Twin {
  Buffer ref, dut;
};

Tensor View(const Buffer& b, std::array<int64_t, 3> shape, int rank, int64_t row_stride = 0, int64_t offset = 0) {
  Tensor t;
  t.data = static_cast<char*>(b.data()) + offset * static_cast<int64_t>(DTypeSize(b.dtype));
  t.dtype = b.dtype;
  t.shape = shape;
  t.rank = rank;
  t.row_stride = row_stride;
  return t;
}

std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Relative error ‖got − want‖ / ‖want‖ (want all zeros: ‖got‖).
double RelativeError(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0.0, norm = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
    norm += static_cast<double>(want[i]) * want[i];
  }
  return norm > 0.0 ? std::sqrt(diff / norm) : std::sqrt(diff);
}

class BackendParityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto backend = CreateBackend(GetParam());
    if (!backend.ok()) GTEST_SKIP() << "backend \"" << GetParam() << "\" is not available: " << backend.status();
    dut_ = std::move(backend).value();
    act_ = dut_->activation_dtype();
  }

  void TearDown() override {
    if (dut_) {
      EXPECT_TRUE(dut_->Synchronize().ok());
    }
    EXPECT_TRUE(ref_.Synchronize().ok());
  }

  // bfloat16 results carry one rounding of 2^-9 per stored value and a few per op chain; float32 backends must
  // agree with the reference to rounding of a different summation order.
  double Tolerance() const { return act_ == DType::kF32 ? 1e-5 : 1e-2; }

  Buffer Make(Backend& backend, const std::vector<float>& values, DType dtype) {
    Buffer b;
    b.dtype = dtype;
    b.count = values.size();
    auto memory = backend.Allocate(std::max<size_t>(1, values.size()) * DTypeSize(dtype));
    EXPECT_TRUE(memory.ok()) << memory.status();
    b.memory = std::move(memory).value();
    std::vector<std::byte> bytes(values.size() * DTypeSize(dtype));
    ConvertFromFloat(values.data(), dtype, bytes.data(), values.size());
    backend.CopyToDevice(b.data(), bytes.data(), bytes.size());
    EXPECT_TRUE(backend.Synchronize().ok());
    return b;
  }

  Buffer MakeInts(Backend& backend, const std::vector<int32_t>& values) {
    Buffer b;
    b.dtype = DType::kI32;
    b.count = values.size();
    auto memory = backend.Allocate(std::max<size_t>(1, values.size()) * sizeof(int32_t));
    EXPECT_TRUE(memory.ok()) << memory.status();
    b.memory = std::move(memory).value();
    backend.CopyToDevice(b.data(), values.data(), values.size() * sizeof(int32_t));
    EXPECT_TRUE(backend.Synchronize().ok());
    return b;
  }

  // Rounds through the backend's activation type so that the reference sees exactly the values the backend sees.
  std::vector<float> RoundToActivation(std::vector<float> v) const {
    std::vector<std::byte> bytes(v.size() * DTypeSize(act_));
    ConvertFromFloat(v.data(), act_, bytes.data(), v.size());
    ConvertToFloat(act_, bytes.data(), v.data(), v.size());
    return v;
  }

  // Activations: float32 on the reference, the activation type on the backend under test.
  Twin Activations(const std::vector<float>& values) {
    const std::vector<float> rounded = RoundToActivation(values);
    return Twin{Make(ref_, rounded, DType::kF32), Make(*dut_, rounded, act_)};
  }
  // Weights (and other inputs both backends take as they are) in `dtype` on both.
  Twin Weights(const std::vector<float>& values, DType dtype) {
    return Twin{Make(ref_, values, dtype), Make(*dut_, values, dtype)};
  }
  Twin Ints(const std::vector<int32_t>& values) { return Twin{MakeInts(ref_, values), MakeInts(*dut_, values)}; }
  // Outputs, NaN everywhere until written.
  Twin Poisoned(size_t count, DType ref_dtype, DType dut_dtype) {
    const std::vector<float> nan(count, std::numeric_limits<float>::quiet_NaN());
    return Twin{Make(ref_, nan, ref_dtype), Make(*dut_, nan, dut_dtype)};
  }
  Twin PoisonedActivations(size_t count) { return Poisoned(count, DType::kF32, act_); }

  std::vector<float> Download(Backend& backend, const Buffer& b) {
    std::vector<std::byte> bytes(b.count * DTypeSize(b.dtype));
    const absl::Status status = backend.CopyToHost(bytes.data(), b.data(), bytes.size());
    EXPECT_TRUE(status.ok()) << backend.name() << ": " << status;
    std::vector<float> values(b.count);
    ConvertToFloat(b.dtype, bytes.data(), values.data(), b.count);
    return values;
  }

  // Compares the backend's buffer with the reference's: every element written (finite) and the relative error
  // within tolerance.
  void ExpectParity(const Twin& t, const std::string& what) {
    const std::vector<float> want = Download(ref_, t.ref);
    const std::vector<float> got = Download(*dut_, t.dut);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_TRUE(std::isfinite(want[i])) << what << ": reference element " << i << " was not written";
      ASSERT_TRUE(std::isfinite(got[i])) << what << ": element " << i << " is " << got[i] << " (want " << want[i]
                                         << ")";
    }
    EXPECT_LE(RelativeError(got, want), Tolerance()) << what;
  }

  CpuBackend ref_;
  std::unique_ptr<Backend> dut_;
  DType act_ = DType::kF32;
  std::mt19937 rng_{1234};
};

// ----------------------------------------------------------------------------------------------------------------

TEST_P(BackendParityTest, ReportsTypesAndMemory) {
  EXPECT_EQ(dut_->name(), GetParam().substr(0, GetParam().find(':')));
  EXPECT_TRUE(dut_->SupportsWeightDType(DType::kBF16));
  EXPECT_FALSE(dut_->SupportsWeightDType(DType::kI8));
  const DeviceInfo info = dut_->Info();
  EXPECT_FALSE(info.name.empty());
  EXPECT_GT(info.total_memory_bytes, 0u);
  EXPECT_GT(info.free_memory_bytes, 0u);
  EXPECT_LE(info.free_memory_bytes, info.total_memory_bytes);
}

TEST_P(BackendParityTest, CopiesRoundTripAndFreedMemoryIsReused) {
  std::vector<int32_t> values(100000);
  std::iota(values.begin(), values.end(), -5000);
  for (int round = 0; round < 3; ++round) {
    auto memory = dut_->Allocate(values.size() * sizeof(int32_t));
    ASSERT_TRUE(memory.ok()) << memory.status();
    EXPECT_GE((*memory)->bytes(), values.size() * sizeof(int32_t));
    dut_->CopyToDevice((*memory)->data(), values.data(), values.size() * sizeof(int32_t));
    std::vector<int32_t> back(values.size(), 0);
    ASSERT_TRUE(dut_->CopyToHost(back.data(), (*memory)->data(), back.size() * sizeof(int32_t)).ok());
    EXPECT_EQ(back, values);
  }
  // Larger than one staging slot of a GPU backend.
  std::vector<uint8_t> big(40u << 20);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
  auto memory = dut_->Allocate(big.size());
  ASSERT_TRUE(memory.ok()) << memory.status();
  dut_->CopyToDevice((*memory)->data(), big.data(), big.size());
  std::vector<uint8_t> back(big.size());
  ASSERT_TRUE(dut_->CopyToHost(back.data(), (*memory)->data(), back.size()).ok());
  EXPECT_TRUE(back == big);
}

TEST_P(BackendParityTest, BadArgumentsAndBadDeviceIndicesAreReportedLater) {
  auto ids = MakeInts(*dut_, {0, 5, 1});
  auto table = Make(*dut_, Random(4 * 8, rng_), DType::kBF16);
  auto out = Make(*dut_, std::vector<float>(3 * 8, 0.0f), act_);
  Tensor out_tensor = View(out, {3, 8, 1}, 2);
  // Token id 5 is outside a 4-row table: found by the backend (on a GPU, by the kernel) and reported at the next
  // synchronization, which then clears it.
  dut_->Embedding(View(ids, {3, 1, 1}, 1), View(table, {4, 8, 1}, 2), out_tensor);
  absl::Status status = dut_->Synchronize();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("outside the vocabulary"), std::string::npos) << status;
  EXPECT_TRUE(dut_->Synchronize().ok());
  // A shape mismatch is found on the host before anything is queued.
  Tensor wrong = View(out, {3, 7, 1}, 2);
  dut_->Embedding(View(ids, {3, 1, 1}, 1), View(table, {4, 8, 1}, 2), wrong);
  std::vector<std::byte> sink(4);
  status = dut_->CopyToHost(sink.data(), out.data(), sink.size());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(dut_->Synchronize().ok());
}

TEST_P(BackendParityTest, Embedding) {
  for (DType table_dtype : {DType::kBF16, DType::kF32}) {
    for (int64_t hidden : {4096, 130}) {
      for (int64_t tokens : {1, 7, 33}) {
        const int64_t vocab = 1000;
        std::vector<int32_t> ids(tokens);
        for (auto& id : ids) id = static_cast<int32_t>(rng_() % vocab);
        Twin id_buf = Ints(ids);
        Twin table = Weights(Random(vocab * hidden, rng_), table_dtype);
        Twin out = PoisonedActivations(tokens * hidden);
        Tensor ref_out = View(out.ref, {tokens, hidden, 1}, 2), dut_out = View(out.dut, {tokens, hidden, 1}, 2);
        ref_.Embedding(View(id_buf.ref, {tokens, 1, 1}, 1), View(table.ref, {vocab, hidden, 1}, 2), ref_out);
        dut_->Embedding(View(id_buf.dut, {tokens, 1, 1}, 1), View(table.dut, {vocab, hidden, 1}, 2), dut_out);
        ExpectParity(out,
                     absl::StrCat("Embedding ", std::string(DTypeName(table_dtype)), " T=", tokens, " H=", hidden));
      }
    }
  }
}

TEST_P(BackendParityTest, RmsNormAndAddRmsNorm) {
  for (DType weight_dtype : {DType::kF32, DType::kBF16}) {
    for (int64_t hidden : {4096, 130}) {
      for (int64_t tokens : {1, 7, 33}) {
        const std::string what = absl::StrCat(std::string(DTypeName(weight_dtype)), " T=", tokens, " H=", hidden);
        Twin x = Activations(Random(tokens * hidden, rng_, 3.0f));
        Twin weight = Weights(Random(hidden, rng_), weight_dtype);
        Twin out = PoisonedActivations(tokens * hidden);
        const std::array<int64_t, 3> shape{tokens, hidden, 1};
        Tensor ref_out = View(out.ref, shape, 2), dut_out = View(out.dut, shape, 2);
        ref_.RmsNorm(View(x.ref, shape, 2), View(weight.ref, {hidden, 1, 1}, 1), 1e-5f, ref_out);
        dut_->RmsNorm(View(x.dut, shape, 2), View(weight.dut, {hidden, 1, 1}, 1), 1e-5f, dut_out);
        ExpectParity(out, "RmsNorm " + what);

        Twin residual = Activations(Random(tokens * hidden, rng_, 3.0f));
        Twin out2 = PoisonedActivations(tokens * hidden);
        Tensor ref_res = View(residual.ref, shape, 2), dut_res = View(residual.dut, shape, 2);
        Tensor ref_out2 = View(out2.ref, shape, 2), dut_out2 = View(out2.dut, shape, 2);
        ref_.AddRmsNorm(ref_res, View(x.ref, shape, 2), View(weight.ref, {hidden, 1, 1}, 1), 1e-6f, ref_out2);
        dut_->AddRmsNorm(dut_res, View(x.dut, shape, 2), View(weight.dut, {hidden, 1, 1}, 1), 1e-6f, dut_out2);
        ExpectParity(residual, "AddRmsNorm residual " + what);
        ExpectParity(out2, "AddRmsNorm out " + what);
      }
    }
  }
}

// q and k are views into one fused QKV row; the columns of v must stay as they were.
TEST_P(BackendParityTest, HeadRmsNormAndRopeOnStridedQkv) {
  const int max_positions = 5000;
  for (int head_dim : {64, 128}) {
    for (int rotary_dim : {head_dim, head_dim / 2}) {
      for (int64_t tokens : {1, 7, 33}) {
        const int q_heads = 8, kv_heads = 2;
        const int64_t width = (q_heads + 2 * kv_heads) * head_dim;
        const std::string what = absl::StrCat("D=", head_dim, " rotary=", rotary_dim, " T=", tokens);
        Twin qkv = Activations(Random(tokens * width, rng_, 2.0f));
        Twin q_norm = Weights(Random(head_dim, rng_), DType::kF32);
        Twin k_norm = Weights(Random(head_dim, rng_), DType::kBF16);
        std::vector<int32_t> positions(tokens);
        for (auto& p : positions) p = static_cast<int32_t>(rng_() % max_positions);
        Twin pos = Ints(positions);
        RopeParameters rope;
        rope.rotary_dim = rotary_dim;
        rope.theta = 500000.0;
        auto table = BuildRopeCosSinCache(rope, max_positions);
        ASSERT_TRUE(table.ok()) << table.status();
        Twin cos_sin = Weights(*table, DType::kF32);

        auto run = [&](Backend& backend, const Buffer& qkv_buf, const Buffer& qn, const Buffer& kn, const Buffer& p,
                       const Buffer& cs) {
          Tensor all = View(qkv_buf, {tokens, width, 1}, 2);
          Tensor q = all.ColumnSlice(0, q_heads, head_dim);
          Tensor k = all.ColumnSlice(q_heads * head_dim, kv_heads, head_dim);
          backend.HeadRmsNorm(q, View(qn, {head_dim, 1, 1}, 1), 1e-6f);
          backend.HeadRmsNorm(k, View(kn, {head_dim, 1, 1}, 1), 1e-6f);
          backend.Rope(View(p, {tokens, 1, 1}, 1), q, k, View(cs, {max_positions, rotary_dim, 1}, 2), rotary_dim);
        };
        run(ref_, qkv.ref, q_norm.ref, k_norm.ref, pos.ref, cos_sin.ref);
        run(*dut_, qkv.dut, q_norm.dut, k_norm.dut, pos.dut, cos_sin.dut);
        ExpectParity(qkv, "HeadRmsNorm + Rope " + what);
      }
    }
  }
}

TEST_P(BackendParityTest, Gemm) {
  struct Shape {
    int64_t k, n;
  };
  for (Shape s : {Shape{4096, 1032}, Shape{130, 200}, Shape{64, 4096}}) {
    for (int64_t tokens : {1, 7, 33}) {
      for (bool with_bias : {false, true}) {
        for (DType y_dtype : {act_, DType::kF32}) {
          const std::string what = absl::StrCat("K=", s.k, " N=", s.n, " T=", tokens, with_bias ? " bias" : "",
                                                " y ", std::string(DTypeName(y_dtype)));
          // x is a row-strided view: k columns of rows k + 8 wide.
          const int64_t ldx = s.k + 8;
          Twin x = Activations(Random(tokens * ldx, rng_));
          Twin w = Weights(Random(s.n * s.k, rng_, 0.05f), DType::kBF16);
          Twin bias = Weights(Random(s.n, rng_), DType::kF32);
          Twin y = Poisoned(tokens * s.n, DType::kF32, y_dtype);
          Tensor ref_y = View(y.ref, {tokens, s.n, 1}, 2), dut_y = View(y.dut, {tokens, s.n, 1}, 2);
          Tensor ref_bias = View(bias.ref, {s.n, 1, 1}, 1), dut_bias = View(bias.dut, {s.n, 1, 1}, 1);
          ref_.Gemm(View(x.ref, {tokens, s.k, 1}, 2, ldx), View(w.ref, {s.n, s.k, 1}, 2),
                    with_bias ? &ref_bias : nullptr, ref_y);
          dut_->Gemm(View(x.dut, {tokens, s.k, 1}, 2, ldx), View(w.dut, {s.n, s.k, 1}, 2),
                     with_bias ? &dut_bias : nullptr, dut_y);
          ExpectParity(y, "Gemm " + what);
        }
      }
    }
  }
}

TEST_P(BackendParityTest, WriteKvCacheSkipsNegativeSlots) {
  for (int head_dim : {64, 128, 36}) {
    for (int64_t tokens : {1, 7, 33}) {
      const int q_heads = 4, kv_heads = 2;
      const int64_t width = (q_heads + 2 * kv_heads) * head_dim;
      const int64_t num_slots = 100;
      Twin qkv = Activations(Random(tokens * width, rng_));
      Twin k_cache = Activations(Random(num_slots * kv_heads * head_dim, rng_));
      Twin v_cache = Activations(Random(num_slots * kv_heads * head_dim, rng_));
      std::vector<int32_t> slots(num_slots);
      std::iota(slots.begin(), slots.end(), 0);
      std::shuffle(slots.begin(), slots.end(), rng_);
      slots.resize(tokens);
      if (tokens > 1) slots[1] = -1;
      Twin slot_buf = Ints(slots);
      auto run = [&](Backend& backend, const Buffer& qkv_buf, const Buffer& s, const Buffer& kc, const Buffer& vc) {
        Tensor all = View(qkv_buf, {tokens, width, 1}, 2);
        Tensor k = all.ColumnSlice(q_heads * head_dim, kv_heads, head_dim);
        Tensor v = all.ColumnSlice((q_heads + kv_heads) * head_dim, kv_heads, head_dim);
        Tensor kct = View(kc, {num_slots, kv_heads, head_dim}, 3), vct = View(vc, {num_slots, kv_heads, head_dim}, 3);
        backend.WriteKvCache(k, v, View(s, {tokens, 1, 1}, 1), kct, vct);
      };
      run(ref_, qkv.ref, slot_buf.ref, k_cache.ref, v_cache.ref);
      run(*dut_, qkv.dut, slot_buf.dut, k_cache.dut, v_cache.dut);
      const std::string what = absl::StrCat("D=", head_dim, " T=", tokens);
      ExpectParity(k_cache, "WriteKvCache k " + what);
      ExpectParity(v_cache, "WriteKvCache v " + what);
    }
  }
}

struct AttentionCase {
  std::string name;
  int q_heads, kv_heads, head_dim, block_size;
  std::vector<int> query_lens, context_lens;  // per sequence
  int padding_rows = 0;                        // rows after the last sequence's, owned by nobody
};

TEST_P(BackendParityTest, PagedAttention) {
  const std::vector<AttentionCase> cases = {
      {"prefill one sequence", 8, 8, 128, 16, {33}, {33}},
      {"prefill chunk after cached prefix, GQA 4", 8, 2, 64, 16, {7}, {40}},
      {"mixed prefill and decode, GQA 8", 32, 4, 128, 16, {1, 33, 1, 7}, {300, 33, 17, 7}, 3},
      {"decode batch, long contexts (split)", 32, 8, 128, 16, {1, 1, 1}, {3000, 1, 1333}},
      {"decode, head_dim 64, GQA 4", 16, 4, 64, 16, {1, 1}, {2049, 65}},
      {"block size 1", 4, 2, 64, 1, {5, 1}, {5, 40}},
      {"block size 32, GQA 3", 12, 4, 128, 32, {20, 1}, {100, 77}},
      {"head_dim 96 (reference kernel)", 4, 2, 96, 16, {9, 1}, {9, 50}},
  };
  for (const AttentionCase& c : cases) {
    const int num_seqs = static_cast<int>(c.query_lens.size());
    int tokens = c.padding_rows;
    int max_query = 0, max_context = 0, total_blocks = 0, max_blocks = 1;
    for (int s = 0; s < num_seqs; ++s) {
      tokens += c.query_lens[s];
      max_query = std::max(max_query, c.query_lens[s]);
      max_context = std::max(max_context, c.context_lens[s]);
      const int blocks = (c.context_lens[s] + c.block_size - 1) / c.block_size;
      total_blocks += blocks;
      max_blocks = std::max(max_blocks, blocks);
    }
    const int num_blocks = total_blocks + 5;
    const int64_t num_slots = static_cast<int64_t>(num_blocks) * c.block_size;
    // Every sequence gets its own blocks, scattered over the cache.
    std::vector<int32_t> free_blocks(num_blocks);
    std::iota(free_blocks.begin(), free_blocks.end(), 0);
    std::shuffle(free_blocks.begin(), free_blocks.end(), rng_);
    std::vector<int32_t> block_tables(static_cast<size_t>(num_seqs) * max_blocks, 0);
    std::vector<int32_t> query_start(num_seqs + 1, 0), seq_lens(num_seqs);
    size_t next = 0;
    for (int s = 0; s < num_seqs; ++s) {
      const int blocks = (c.context_lens[s] + c.block_size - 1) / c.block_size;
      for (int b = 0; b < blocks; ++b) block_tables[s * max_blocks + b] = free_blocks[next++];
      query_start[s + 1] = query_start[s] + c.query_lens[s];
      seq_lens[s] = c.context_lens[s];
    }
    const int64_t q_width = static_cast<int64_t>(c.q_heads + 2 * c.kv_heads) * c.head_dim;
    const int64_t kv_row = static_cast<int64_t>(c.kv_heads) * c.head_dim;
    Twin qkv = Activations(Random(tokens * q_width, rng_, 2.0f));
    Twin k_cache = Activations(Random(num_slots * kv_row, rng_, 2.0f));
    Twin v_cache = Activations(Random(num_slots * kv_row, rng_));
    Twin qsl = Ints(query_start), lens = Ints(seq_lens), tables = Ints(block_tables);
    Twin out = PoisonedActivations(static_cast<size_t>(tokens) * c.q_heads * c.head_dim);
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));

    auto run = [&](Backend& backend, const Buffer& qkv_buf, const Buffer& kc, const Buffer& vc, const Buffer& qs,
                   const Buffer& sl, const Buffer& bt, const Buffer& o) {
      Tensor q = View(qkv_buf, {tokens, q_width, 1}, 2).ColumnSlice(0, c.q_heads, c.head_dim);
      AttentionMetadata meta;
      meta.query_start_loc = View(qs, {num_seqs + 1, 1, 1}, 1);
      meta.seq_lens = View(sl, {num_seqs, 1, 1}, 1);
      meta.block_tables = View(bt, {num_seqs, max_blocks, 1}, 2);
      meta.num_seqs = num_seqs;
      meta.max_query_len = max_query;
      meta.max_seq_len = max_context;
      meta.block_size = c.block_size;
      Tensor out_tensor = View(o, {tokens, c.q_heads, c.head_dim}, 3);
      backend.PagedAttention(q, View(kc, {num_slots, c.kv_heads, c.head_dim}, 3),
                             View(vc, {num_slots, c.kv_heads, c.head_dim}, 3), meta, scale, out_tensor);
    };
    run(ref_, qkv.ref, k_cache.ref, v_cache.ref, qsl.ref, lens.ref, tables.ref, out.ref);
    run(*dut_, qkv.dut, k_cache.dut, v_cache.dut, qsl.dut, lens.dut, tables.dut, out.dut);
    ExpectParity(out, "PagedAttention " + c.name);
  }
}

TEST_P(BackendParityTest, SiluMulAddGatherRows) {
  for (int64_t width : {4096, 130}) {
    for (int64_t tokens : {1, 7, 33}) {
      const std::string what = absl::StrCat("T=", tokens, " width=", width);
      Twin gate_up = Activations(Random(tokens * 2 * width, rng_, 4.0f));
      Twin act = PoisonedActivations(tokens * width);
      Tensor ref_act = View(act.ref, {tokens, width, 1}, 2), dut_act = View(act.dut, {tokens, width, 1}, 2);
      ref_.SiluMul(View(gate_up.ref, {tokens, 2 * width, 1}, 2), ref_act);
      dut_->SiluMul(View(gate_up.dut, {tokens, 2 * width, 1}, 2), dut_act);
      ExpectParity(act, "SiluMul " + what);

      Twin x = Activations(Random(tokens * width, rng_));
      Twin inout = Activations(Random(tokens * width, rng_));
      Tensor ref_io = View(inout.ref, {tokens, width, 1}, 2), dut_io = View(inout.dut, {tokens, width, 1}, 2);
      ref_.Add(View(x.ref, {tokens, width, 1}, 2), ref_io);
      dut_->Add(View(x.dut, {tokens, width, 1}, 2), dut_io);
      ExpectParity(inout, "Add " + what);

      std::vector<int32_t> indices = {static_cast<int32_t>(tokens - 1), 0, static_cast<int32_t>(tokens / 2)};
      Twin index_buf = Ints(indices);
      const int64_t count = static_cast<int64_t>(indices.size());
      Twin gathered = PoisonedActivations(count * width);
      Tensor ref_g = View(gathered.ref, {count, width, 1}, 2), dut_g = View(gathered.dut, {count, width, 1}, 2);
      ref_.GatherRows(View(x.ref, {tokens, width, 1}, 2), View(index_buf.ref, {count, 1, 1}, 1), ref_g);
      dut_->GatherRows(View(x.dut, {tokens, width, 1}, 2), View(index_buf.dut, {count, 1, 1}, 1), dut_g);
      ExpectParity(gathered, "GatherRows " + what);

      // float32 rows (logits) gather the same way.
      Twin logits = Weights(Random(tokens * width, rng_), DType::kF32);
      Twin picked = Poisoned(count * width, DType::kF32, DType::kF32);
      Tensor ref_p = View(picked.ref, {count, width, 1}, 2), dut_p = View(picked.dut, {count, width, 1}, 2);
      ref_.GatherRows(View(logits.ref, {tokens, width, 1}, 2), View(index_buf.ref, {count, 1, 1}, 1), ref_p);
      dut_->GatherRows(View(logits.dut, {tokens, width, 1}, 2), View(index_buf.dut, {count, 1, 1}, 1), dut_p);
      ExpectParity(picked, "GatherRows float32 " + what);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Devices, BackendParityTest, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace tessera::kernels
