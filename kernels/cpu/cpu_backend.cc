#include "kernels/cpu/cpu_backend.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace tessera::kernels {
namespace {

constexpr size_t kAlignment = 64;
// Weight rows converted to float32 per BLAS call: large enough to keep BLAS efficient, small enough to stay in L2/L3.
constexpr int64_t kConvertedTileFloats = int64_t{1} << 20;
// Up to this many activation rows, a 16-bit weight Gemm streams each converted row straight into dot products
// (decode is a matrix-vector product, bound by reading the weights once).
constexpr int64_t kStreamingGemmMaxRows = 8;

template <typename T>
T* RowPtr(const Tensor& t, int64_t row) {
  return reinterpret_cast<T*>(static_cast<char*>(t.data) + row * t.stride() * static_cast<int64_t>(DTypeSize(t.dtype)));
}

bool IsWeightType(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16; }

// A small per-thread buffer reused across calls, so the hot loops never allocate.
float* ThreadScratch(int slot, size_t floats) {
  thread_local std::vector<float> buffers[3];
  std::vector<float>& b = buffers[slot];
  if (b.size() < floats) b.resize(floats);
  return b.data();
}

std::vector<float> WeightVector(const Tensor& w) {
  std::vector<float> v(static_cast<size_t>(w.numel()));
  if (w.stride() == w.row_elements() || w.rank == 1) {
    ConvertToFloat(w.dtype, w.data, v.data(), v.size());
  } else {
    for (int64_t r = 0; r < w.rows(); ++r)
      ConvertToFloat(w.dtype, RowPtr<char>(w, r), v.data() + r * w.row_elements(), w.row_elements());
  }
  return v;
}

inline float Dot(const float* a, const float* b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

// Mirrors Hugging Face's float32 RMSNorm: x * rsqrt(mean(x²) + eps), then times the weight.
inline void RmsNormRow(const float* x, const float* weight, float eps, int64_t n, float* out) {
  double sum_squares = 0.0;
#pragma omp simd reduction(+ : sum_squares)
  for (int64_t i = 0; i < n; ++i) sum_squares += static_cast<double>(x[i]) * x[i];
  const float inv_rms = 1.0f / std::sqrt(static_cast<float>(sum_squares / static_cast<double>(n)) + eps);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv_rms);
}

std::string ShapeString(const Tensor& t) {
  std::string s = "[";
  for (int i = 0; i < t.rank; ++i) absl::StrAppend(&s, i ? ", " : "", t.shape[i]);
  absl::StrAppend(&s, "] ", std::string(DTypeName(t.dtype)));
  return s;
}

size_t ReadMemAvailableBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  size_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page_size) : 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Memory

absl::StatusOr<std::unique_ptr<CpuMemory>> CpuMemory::Create(size_t bytes) {
  const size_t rounded = std::max<size_t>(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  void* data = std::aligned_alloc(kAlignment, rounded);
  if (data == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("CPU backend: cannot allocate ", bytes, " bytes of host memory"));
  }
  return std::unique_ptr<CpuMemory>(new CpuMemory(data, bytes));
}

CpuMemory::~CpuMemory() { std::free(data_); }

bool CpuBackend::SupportsWeightDType(DType dtype) const { return IsWeightType(dtype); }

DeviceInfo CpuBackend::Info() const {
  DeviceInfo info;
  info.name = "cpu";
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) info.total_memory_bytes = static_cast<size_t>(pages) * static_cast<size_t>(page_size);
  info.free_memory_bytes = ReadMemAvailableBytes();
  return info;
}

absl::StatusOr<std::unique_ptr<DeviceMemory>> CpuBackend::Allocate(size_t bytes) {
  auto memory = CpuMemory::Create(bytes);
  if (!memory.ok()) return memory.status();
  return std::unique_ptr<DeviceMemory>(std::move(memory).value());
}

void CpuBackend::CopyToDevice(void* device_dst, const void* host_src, size_t bytes) {
  if (bytes != 0) std::memcpy(device_dst, host_src, bytes);
}

absl::Status CpuBackend::CopyToHost(void* host_dst, const void* device_src, size_t bytes) {
  if (bytes != 0) std::memcpy(host_dst, device_src, bytes);
  return TakeError();
}

absl::Status CpuBackend::Synchronize() { return TakeError(); }

void CpuBackend::RecordError(absl::Status status) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (pending_error_.ok()) pending_error_ = std::move(status);
}

absl::Status CpuBackend::TakeError() {
  std::lock_guard<std::mutex> lock(error_mutex_);
  return std::exchange(pending_error_, absl::OkStatus());
}

// ---------------------------------------------------------------------------------------------------------------
// Ops

void CpuBackend::Embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  const int64_t tokens = ids.numel();
  const int64_t vocab = table.rows();
  const int64_t hidden = table.row_elements();
  if (!Check(ids.dtype == DType::kI32, "Embedding", [&] { return "ids must be int32"; }) ||
      !Check(IsWeightType(table.dtype), "Embedding",
             [&] { return absl::StrCat("unsupported table ", ShapeString(table)); }) ||
      !Check(out.dtype == DType::kF32 && out.rows() == tokens && out.row_elements() == hidden, "Embedding", [&] {
        return absl::StrCat("out ", ShapeString(out), " does not match ", tokens, " ids of table ", ShapeString(table));
      }))
    return;
  const int32_t* id = ids.as<int32_t>();
  for (int64_t t = 0; t < tokens; ++t) {
    if (!Check(id[t] >= -1 && id[t] < vocab, "Embedding", [&] {
          return absl::StrCat("token id ", id[t], " at row ", t, " is outside the vocabulary of ", vocab);
        }))
      return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tokens; ++t) {
    if (id[t] < 0) {
      std::fill_n(RowPtr<float>(out, t), hidden, 0.0f);
    } else {
      ConvertToFloat(table.dtype, RowPtr<char>(table, id[t]), RowPtr<float>(out, t), hidden);
    }
  }
}

void CpuBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  const int64_t hidden = x.row_elements();
  if (!Check(x.dtype == DType::kF32 && out.dtype == DType::kF32, "RmsNorm",
             [&] { return "x and out must be float32"; }) ||
      !Check(IsWeightType(weight.dtype) && weight.numel() == hidden, "RmsNorm",
             [&] { return absl::StrCat("weight ", ShapeString(weight), " does not match x ", ShapeString(x)); }) ||
      !Check(out.rows() == x.rows() && out.row_elements() == hidden, "RmsNorm",
             [&] { return absl::StrCat("out ", ShapeString(out), " does not match x ", ShapeString(x)); }))
    return;
  const std::vector<float> w = WeightVector(weight);
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < x.rows(); ++t) RmsNormRow(RowPtr<float>(x, t), w.data(), eps, hidden, RowPtr<float>(out, t));
}

void CpuBackend::AddRmsNorm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  const int64_t hidden = residual.row_elements();
  if (!Check(residual.dtype == DType::kF32 && x.dtype == DType::kF32 && out.dtype == DType::kF32, "AddRmsNorm",
             [&] { return "residual, x and out must be float32"; }) ||
      !Check(x.rows() == residual.rows() && x.row_elements() == hidden && out.rows() == residual.rows() &&
                 out.row_elements() == hidden,
             "AddRmsNorm",
             [&] {
               return absl::StrCat("shapes differ: residual ", ShapeString(residual), ", x ", ShapeString(x), ", out ",
                                   ShapeString(out));
             }) ||
      !Check(IsWeightType(weight.dtype) && weight.numel() == hidden, "AddRmsNorm",
             [&] { return absl::StrCat("weight ", ShapeString(weight), " does not match hidden size ", hidden); }))
    return;
  const std::vector<float> w = WeightVector(weight);
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < residual.rows(); ++t) {
    float* r = RowPtr<float>(residual, t);
    const float* xr = RowPtr<float>(x, t);
#pragma omp simd
    for (int64_t i = 0; i < hidden; ++i) r[i] += xr[i];
    RmsNormRow(r, w.data(), eps, hidden, RowPtr<float>(out, t));
  }
}

void CpuBackend::HeadRmsNorm(Tensor& x, const Tensor& weight, float eps) {
  const int64_t heads = x.rank == 3 ? x.dim(1) : 1;
  const int64_t head_dim = x.rank == 3 ? x.dim(2) : x.row_elements();
  if (!Check(x.dtype == DType::kF32, "HeadRmsNorm", [&] { return "x must be float32"; }) ||
      !Check(IsWeightType(weight.dtype) && weight.numel() == head_dim, "HeadRmsNorm", [&] {
        return absl::StrCat("weight ", ShapeString(weight), " does not match head_dim of x ", ShapeString(x));
      }))
    return;
  const std::vector<float> w = WeightVector(weight);
  const int64_t items = x.rows() * heads;
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < items; ++item) {
    float* v = RowPtr<float>(x, item / heads) + (item % heads) * head_dim;
    RmsNormRow(v, w.data(), eps, head_dim, v);
  }
}

void CpuBackend::Gemm(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const int64_t rows = x.rows();
  const int64_t k = x.row_elements();
  const int64_t n = w.rows();
  if (!Check(x.dtype == DType::kF32 && y.dtype == DType::kF32, "Gemm", [&] { return "x and y must be float32"; }) ||
      !Check(IsWeightType(w.dtype), "Gemm",
             [&] { return absl::StrCat("unsupported weight type ", std::string(DTypeName(w.dtype))); }) ||
      !Check(w.row_elements() == k, "Gemm",
             [&] { return absl::StrCat("w ", ShapeString(w), " does not match x ", ShapeString(x)); }) ||
      !Check(y.rows() == rows && y.row_elements() == n, "Gemm",
             [&] { return absl::StrCat("y ", ShapeString(y), " is not [", rows, ", ", n, "]"); }) ||
      !Check(bias == nullptr || (IsWeightType(bias->dtype) && bias->numel() == n), "Gemm",
             [&] { return bias ? absl::StrCat("bias ", ShapeString(*bias), " does not match ", n, " outputs") : ""; }))
    return;
  if (rows == 0 || n == 0) return;
  const float* xp = x.as<float>();
  float* yp = y.as<float>();
  const int64_t ldx = x.stride();
  const int64_t ldy = y.stride();

  if (k == 0) {
    for (int64_t t = 0; t < rows; ++t) std::fill_n(yp + t * ldy, n, 0.0f);
  } else if (w.dtype == DType::kF32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(n),
                static_cast<int>(k), 1.0f, xp, static_cast<int>(ldx), w.as<float>(), static_cast<int>(w.stride()), 0.0f,
                yp, static_cast<int>(ldy));
  } else if (rows <= kStreamingGemmMaxRows) {
#pragma omp parallel
    {
      float* row = ThreadScratch(0, static_cast<size_t>(k));
#pragma omp for schedule(static)
      for (int64_t j = 0; j < n; ++j) {
        ConvertToFloat(w.dtype, RowPtr<char>(w, j), row, static_cast<size_t>(k));
        for (int64_t t = 0; t < rows; ++t) yp[t * ldy + j] = Dot(xp + t * ldx, row, k);
      }
    }
  } else {
    const int64_t tile_rows = std::clamp<int64_t>(kConvertedTileFloats / k, 16, n);
    float* tile = ThreadScratch(1, static_cast<size_t>(tile_rows * k));
    for (int64_t j0 = 0; j0 < n; j0 += tile_rows) {
      const int64_t count = std::min(tile_rows, n - j0);
#pragma omp parallel for schedule(static)
      for (int64_t j = 0; j < count; ++j)
        ConvertToFloat(w.dtype, RowPtr<char>(w, j0 + j), tile + j * k, static_cast<size_t>(k));
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(rows), static_cast<int>(count),
                  static_cast<int>(k), 1.0f, xp, static_cast<int>(ldx), tile, static_cast<int>(k), 0.0f, yp + j0,
                  static_cast<int>(ldy));
    }
  }

  if (bias != nullptr) {
    const std::vector<float> b = WeightVector(*bias);
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rows; ++t) {
      float* yr = yp + t * ldy;
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) yr[j] += b[j];
    }
  }
}

void CpuBackend::Rope(const Tensor& positions, Tensor& q, Tensor& k, const Tensor& cos_sin, int rotary_dim) {
  const int64_t tokens = positions.numel();
  const int64_t head_dim = q.dim(2);
  if (!Check(positions.dtype == DType::kI32, "Rope", [&] { return "positions must be int32"; }) ||
      !Check(q.dtype == DType::kF32 && k.dtype == DType::kF32 && cos_sin.dtype == DType::kF32, "Rope",
             [&] { return "q, k and cos_sin must be float32"; }) ||
      !Check(q.rank == 3 && k.rank == 3 && q.rows() == tokens && k.rows() == tokens && k.dim(2) == head_dim, "Rope",
             [&] {
               return absl::StrCat("q ", ShapeString(q), " and k ", ShapeString(k), " must be [", tokens,
                                   ", heads, head_dim] with one head_dim");
             }) ||
      !Check(rotary_dim > 0 && rotary_dim % 2 == 0 && rotary_dim <= head_dim && cos_sin.row_elements() == rotary_dim,
             "Rope", [&] {
               return absl::StrCat("rotary_dim ", rotary_dim, " must be even, at most head_dim ", head_dim,
                                   " and match cos_sin ", ShapeString(cos_sin));
             }))
    return;
  const int32_t* pos = positions.as<int32_t>();
  for (int64_t t = 0; t < tokens; ++t) {
    if (!Check(pos[t] >= 0 && pos[t] < cos_sin.rows(), "Rope", [&] {
          return absl::StrCat("position ", pos[t], " at row ", t, " is outside the cos/sin cache of ", cos_sin.rows(),
                              " positions");
        }))
      return;
  }
  const int64_t half = rotary_dim / 2;
  const int64_t q_heads = q.dim(1);
  const int64_t heads = q_heads + k.dim(1);
#pragma omp parallel for schedule(static)
  for (int64_t item = 0; item < tokens * heads; ++item) {
    const int64_t t = item / heads;
    const int64_t h = item % heads;
    float* v = h < q_heads ? RowPtr<float>(q, t) + h * head_dim : RowPtr<float>(k, t) + (h - q_heads) * head_dim;
    const float* cos = RowPtr<float>(cos_sin, pos[t]);
    const float* sin = cos + half;
#pragma omp simd
    for (int64_t i = 0; i < half; ++i) {
      const float x1 = v[i];
      const float x2 = v[i + half];
      v[i] = x1 * cos[i] - x2 * sin[i];
      v[i + half] = x2 * cos[i] + x1 * sin[i];
    }
  }
}

void CpuBackend::WriteKvCache(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache,
                              Tensor& v_cache) {
  const int64_t tokens = slot_mapping.numel();
  const int64_t row = k.row_elements();
  if (!Check(slot_mapping.dtype == DType::kI32, "WriteKvCache", [&] { return "slot_mapping must be int32"; }) ||
      !Check(k.dtype == DType::kF32 && v.dtype == DType::kF32 && k_cache.dtype == DType::kF32 &&
                 v_cache.dtype == DType::kF32,
             "WriteKvCache", [&] { return "k, v and the caches must be float32"; }) ||
      !Check(k.rows() == tokens && v.rows() == tokens && v.row_elements() == row && k_cache.row_elements() == row &&
                 v_cache.row_elements() == row && v_cache.rows() == k_cache.rows(),
             "WriteKvCache", [&] {
               return absl::StrCat("shapes differ: k ", ShapeString(k), ", v ", ShapeString(v), ", k_cache ",
                                   ShapeString(k_cache), ", v_cache ", ShapeString(v_cache), ", ", tokens, " slots");
             }))
    return;
  const int32_t* slots = slot_mapping.as<int32_t>();
  for (int64_t t = 0; t < tokens; ++t) {
    if (!Check(slots[t] < k_cache.rows(), "WriteKvCache", [&] {
          return absl::StrCat("slot ", slots[t], " at row ", t, " is outside the cache of ", k_cache.rows(), " slots");
        }))
      return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    std::memcpy(RowPtr<float>(k_cache, slots[t]), RowPtr<float>(k, t), row * sizeof(float));
    std::memcpy(RowPtr<float>(v_cache, slots[t]), RowPtr<float>(v, t), row * sizeof(float));
  }
}

void CpuBackend::PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                const AttentionMetadata& meta, float scale, Tensor& out) {
  const int64_t tokens = q.rows();
  const int64_t q_heads = q.dim(1);
  const int64_t head_dim = q.dim(2);
  const int64_t kv_heads = k_cache.dim(1);
  if (!Check(q.dtype == DType::kF32 && out.dtype == DType::kF32 && k_cache.dtype == DType::kF32 &&
                 v_cache.dtype == DType::kF32,
             "PagedAttention", [&] { return "q, out and the caches must be float32"; }) ||
      !Check(q.rank == 3 && k_cache.rank == 3 && v_cache.rank == 3 && k_cache.shape == v_cache.shape &&
                 k_cache.dim(2) == head_dim && kv_heads > 0 && q_heads % kv_heads == 0,
             "PagedAttention",
             [&] {
               return absl::StrCat("q ", ShapeString(q), " does not fit caches ", ShapeString(k_cache), " / ",
                                   ShapeString(v_cache));
             }) ||
      !Check(out.rows() == tokens && out.row_elements() == q_heads * head_dim, "PagedAttention",
             [&] { return absl::StrCat("out ", ShapeString(out), " does not match q ", ShapeString(q)); }) ||
      !Check(meta.query_start_loc.dtype == DType::kI32 && meta.seq_lens.dtype == DType::kI32 &&
                 meta.block_tables.dtype == DType::kI32,
             "PagedAttention", [&] { return "metadata tensors must be int32"; }) ||
      !Check(meta.block_size > 0 && meta.num_seqs >= 0 && meta.query_start_loc.numel() >= meta.num_seqs + 1 &&
                 meta.seq_lens.numel() >= meta.num_seqs && meta.block_tables.rows() >= meta.num_seqs,
             "PagedAttention", [&] { return "metadata sizes do not match num_seqs / block_size"; }))
    return;

  const int32_t* query_start = meta.query_start_loc.as<int32_t>();
  const int32_t* seq_lens = meta.seq_lens.as<int32_t>();
  const int64_t block_size = meta.block_size;
  const int64_t max_blocks = meta.block_tables.row_elements();
  const int64_t num_blocks = k_cache.rows() / block_size;

  // Validate the whole batch up front so the parallel loop reads only in-range memory.
  std::vector<int32_t> token_seq(static_cast<size_t>(tokens), -1);
  int64_t max_context = 0;
  for (int s = 0; s < meta.num_seqs; ++s) {
    const int64_t begin = query_start[s];
    const int64_t end = query_start[s + 1];
    const int64_t context = seq_lens[s];
    if (!Check(begin >= 0 && begin <= end && end <= tokens && end - begin <= context, "PagedAttention",
               [&] {
                 return absl::StrCat("sequence ", s, ": query rows [", begin, ", ", end, ") with context ", context,
                                     " do not fit ", tokens, " query rows");
               }) ||
        !Check((context + block_size - 1) / block_size <= max_blocks, "PagedAttention", [&] {
          return absl::StrCat("sequence ", s, ": context ", context, " needs more than ", max_blocks, " blocks");
        }))
      return;
    const int32_t* table = RowPtr<int32_t>(meta.block_tables, s);
    for (int64_t b = 0; b < (context + block_size - 1) / block_size; ++b) {
      if (!Check(table[b] >= 0 && table[b] < num_blocks, "PagedAttention", [&] {
            return absl::StrCat("sequence ", s, ": block ", table[b], " is outside the cache of ", num_blocks,
                                " blocks");
          }))
        return;
    }
    for (int64_t t = begin; t < end; ++t) token_seq[t] = s;
    max_context = std::max(max_context, context);
  }

  const int64_t group = q_heads / kv_heads;
  const int64_t k_stride = k_cache.stride();
  const int64_t v_stride = v_cache.stride();
  const float* k_base = k_cache.as<float>();
  const float* v_base = v_cache.as<float>();
#pragma omp parallel
  {
    float* weights = ThreadScratch(0, static_cast<size_t>(std::max<int64_t>(max_context, 1)));
    float* acc = ThreadScratch(1, static_cast<size_t>(head_dim));
#pragma omp for schedule(dynamic, 4)
    for (int64_t item = 0; item < tokens * q_heads; ++item) {
      const int64_t t = item / q_heads;
      const int64_t h = item % q_heads;
      float* o = RowPtr<float>(out, t) + h * head_dim;
      const int32_t s = token_seq[t];
      if (s < 0) {  // a padding row that no sequence owns
        std::fill_n(o, head_dim, 0.0f);
        continue;
      }
      const int64_t query_len = query_start[s + 1] - query_start[s];
      const int64_t position = seq_lens[s] - query_len + (t - query_start[s]);
      const int32_t* table = RowPtr<int32_t>(meta.block_tables, s);
      const float* qv = RowPtr<float>(q, t) + h * head_dim;
      const int64_t kv_offset = (h / group) * head_dim;

      float max_score = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j <= position; ++j) {
        const int64_t slot = static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
        const float score = Dot(qv, k_base + slot * k_stride + kv_offset, head_dim) * scale;
        weights[j] = score;
        max_score = std::max(max_score, score);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j <= position; ++j) {
        weights[j] = std::exp(weights[j] - max_score);
        sum += weights[j];
      }
      std::fill_n(acc, head_dim, 0.0f);
      for (int64_t j = 0; j <= position; ++j) {
        const int64_t slot = static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
        const float* vv = v_base + slot * v_stride + kv_offset;
        const float p = weights[j];
#pragma omp simd
        for (int64_t d = 0; d < head_dim; ++d) acc[d] += p * vv[d];
      }
      const float inv_sum = 1.0f / sum;
#pragma omp simd
      for (int64_t d = 0; d < head_dim; ++d) o[d] = acc[d] * inv_sum;
    }
  }
}

void CpuBackend::SiluMul(const Tensor& gate_up, Tensor& out) {
  const int64_t inter = out.row_elements();
  if (!Check(gate_up.dtype == DType::kF32 && out.dtype == DType::kF32, "SiluMul",
             [&] { return "gate_up and out must be float32"; }) ||
      !Check(gate_up.rows() == out.rows() && gate_up.row_elements() == 2 * inter, "SiluMul", [&] {
        return absl::StrCat("gate_up ", ShapeString(gate_up), " is not twice as wide as out ", ShapeString(out));
      }))
    return;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < out.rows(); ++t) {
    const float* gate = RowPtr<float>(gate_up, t);
    const float* up = gate + inter;
    float* o = RowPtr<float>(out, t);
#pragma omp simd
    for (int64_t i = 0; i < inter; ++i) o[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  }
}

void CpuBackend::Add(const Tensor& x, Tensor& inout) {
  const int64_t width = inout.row_elements();
  if (!Check(x.dtype == DType::kF32 && inout.dtype == DType::kF32, "Add",
             [&] { return "x and inout must be float32"; }) ||
      !Check(x.rows() == inout.rows() && x.row_elements() == width, "Add",
             [&] { return absl::StrCat("x ", ShapeString(x), " does not match inout ", ShapeString(inout)); }))
    return;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < inout.rows(); ++t) {
    const float* a = RowPtr<float>(x, t);
    float* b = RowPtr<float>(inout, t);
#pragma omp simd
    for (int64_t i = 0; i < width; ++i) b[i] += a[i];
  }
}

void CpuBackend::GatherRows(const Tensor& x, const Tensor& indices, Tensor& out) {
  const int64_t count = indices.numel();
  const int64_t width = x.row_elements();
  if (!Check(indices.dtype == DType::kI32, "GatherRows", [&] { return "indices must be int32"; }) ||
      !Check(out.dtype == x.dtype && out.rows() == count && out.row_elements() == width, "GatherRows", [&] {
        return absl::StrCat("out ", ShapeString(out), " does not match ", count, " rows of x ", ShapeString(x));
      }))
    return;
  const int32_t* index = indices.as<int32_t>();
  for (int64_t i = 0; i < count; ++i) {
    if (!Check(index[i] >= 0 && index[i] < x.rows(), "GatherRows", [&] {
          return absl::StrCat("index ", index[i], " at position ", i, " is outside the ", x.rows(), " rows of x");
        }))
      return;
  }
  const size_t row_bytes = static_cast<size_t>(width) * DTypeSize(x.dtype);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) std::memcpy(RowPtr<char>(out, i), RowPtr<char>(x, index[i]), row_bytes);
}

}  // namespace tessera::kernels
