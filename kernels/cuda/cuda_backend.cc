#include "kernels/cuda/cuda_backend.h"

#include <algorithm>
#include <utility>

#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace tessera::kernels {

// Declared in kernels/backend.cc, which opens backends by device name.
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device_index) {
  absl::StatusOr<std::unique_ptr<cuda::CudaBackend>> backend = cuda::CudaBackend::Create(device_index);
  if (!backend.ok()) return backend.status();
  return std::unique_ptr<Backend>(std::move(backend).value());
}

namespace cuda {
namespace {

// cuBLASLt's workspace: enough for its split-K and stream-K algorithms on Hopper.
constexpr size_t kGemmWorkspaceBytes = size_t{32} << 20;
// Four 16 MiB pinned slots: large weight uploads keep the bus busy while the next slot is filled.
constexpr size_t kStagingSlotBytes = size_t{16} << 20;
constexpr int kStagingSlots = 4;

std::string ShapeString(const Tensor& t) {
  std::string s = "[";
  for (int i = 0; i < t.rank; ++i) absl::StrAppend(&s, i ? ", " : "", t.shape[i]);
  absl::StrAppend(&s, "] ", std::string(DTypeName(t.dtype)));
  return s;
}

bool IsSmallWeightType(DType d) { return d == DType::kF32 || d == DType::kBF16 || d == DType::kF16; }

std::string DescribeDeviceError(const DeviceErrorRecord& r) {
  switch (r.code) {
    case kEmbeddingIdOutOfRange:
      return absl::StrCat("Embedding: token id ", r.b, " at row ", r.a, " is outside the vocabulary of ", r.c);
    case kRopePositionOutOfRange:
      return absl::StrCat("Rope: position ", r.b, " at row ", r.a, " is outside the cos/sin cache of ", r.c,
                          " positions");
    case kKvSlotOutOfRange:
      return absl::StrCat("WriteKvCache: slot ", r.b, " at row ", r.a, " is outside the cache of ", r.c, " slots");
    case kGatherIndexOutOfRange:
      return absl::StrCat("GatherRows: index ", r.b, " at position ", r.a, " is outside the ", r.c, " rows of x");
    case kAttentionBadQueryRange:
      return absl::StrCat("PagedAttention: sequence ", r.a, " has query rows [", r.b, ", ", r.c,
                          "), not increasing");
    case kAttentionQueryExceedsContext:
      return absl::StrCat("PagedAttention: sequence ", r.a, " has ", r.b, " query rows but a context of only ", r.c);
    case kAttentionBlockOutOfRange:
      return absl::StrCat("PagedAttention: sequence ", r.a, ": block ", r.b, " is outside the cache of ", r.c,
                          " blocks");
    default:
      return absl::StrCat("device-side check ", r.code, " failed");
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(int device_index) {
  int count = 0;
  const cudaError_t count_error = cudaGetDeviceCount(&count);
  if (count_error != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    return absl::UnavailableError(absl::StrCat(
        "device \"cuda\": no usable CUDA GPU (",
        count_error == cudaSuccess ? "none found" : cudaGetErrorString(count_error), ")"));
  }
  if (device_index >= count) {
    return absl::InvalidArgumentError(
        absl::StrCat("device \"cuda:", device_index, "\": this machine has ", count, " CUDA GPU(s)"));
  }
  auto backend = std::unique_ptr<CudaBackend>(new CudaBackend(device_index));
  TESSERA_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_index));
  cudaDeviceProp properties{};
  TESSERA_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&properties, device_index));
  if (properties.major < 8) {
    return absl::FailedPreconditionError(absl::StrCat("GPU ", device_index, " (", properties.name,
                                                      ") has compute capability ", properties.major, ".",
                                                      properties.minor, "; bfloat16 kernels need 8.0 or newer"));
  }
  backend->device_name_ = absl::StrCat("cuda:", device_index, " (", properties.name, ")");
  TESSERA_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&backend->stream_, cudaStreamNonBlocking));
  backend->allocator_ = std::make_shared<CachingAllocator>(device_index);
  auto staging = PinnedStaging::Create(kStagingSlotBytes, kStagingSlots);
  if (!staging.ok()) return staging.status();
  backend->staging_ = std::move(staging).value();
  auto workspace = backend->allocator_->Allocate(kGemmWorkspaceBytes);
  if (!workspace.ok()) return workspace.status();
  backend->gemm_workspace_ = std::move(workspace).value();
  auto gemm = CublasLtGemm::Create(backend->gemm_workspace_->data(), kGemmWorkspaceBytes);
  if (!gemm.ok()) return gemm.status();
  backend->gemm_ = std::move(gemm).value();
  void* record = nullptr;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaHostAlloc(&record, sizeof(DeviceErrorRecord), cudaHostAllocMapped));
  backend->device_errors_host_ = static_cast<DeviceErrorRecord*>(record);
  *backend->device_errors_host_ = DeviceErrorRecord{};
  void* device_record = nullptr;
  TESSERA_CUDA_RETURN_IF_ERROR(cudaHostGetDevicePointer(&device_record, record, 0));
  backend->device_errors_ = static_cast<DeviceErrorRecord*>(device_record);
  return backend;
}

CudaBackend::~CudaBackend() {
  UseDevice();
  if (stream_) cudaStreamSynchronize(stream_);
  gemm_.reset();
  gemm_workspace_.reset();
  attention_workspace_.reset();
  staging_.reset();
  if (device_errors_host_) cudaFreeHost(device_errors_host_);
  if (allocator_) allocator_->ReleaseCached();
  if (stream_) cudaStreamDestroy(stream_);
}

void CudaBackend::UseDevice() {
  thread_local int current_device = -1;
  if (current_device != device_) {
    if (cudaSetDevice(device_) == cudaSuccess) current_device = device_;
  }
}

DeviceInfo CudaBackend::Info() const {
  DeviceInfo info;
  info.name = device_name_;
  size_t free_bytes = 0, total_bytes = 0;
  cudaSetDevice(device_);
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) (void)cudaGetLastError();
  info.total_memory_bytes = total_bytes;
  // Pooled blocks are free for this backend's next allocations.
  info.free_memory_bytes = free_bytes + allocator_->cached_bytes();
  return info;
}

absl::StatusOr<std::unique_ptr<DeviceMemory>> CudaBackend::Allocate(size_t bytes) {
  UseDevice();
  return allocator_->Allocate(bytes);
}

void CudaBackend::CopyToDevice(void* device_dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return;
  UseDevice();
  const absl::Status status = staging_->ToDevice(device_dst, host_src, bytes, stream_);
  if (!status.ok()) RecordError(status);
}

absl::Status CudaBackend::CopyToHost(void* host_dst, const void* device_src, size_t bytes) {
  UseDevice();
  if (bytes != 0) {
    const absl::Status status = staging_->ToHost(host_dst, device_src, bytes, stream_);
    if (!status.ok()) RecordError(status);
  }
  return TakeError();
}

absl::Status CudaBackend::Synchronize() {
  UseDevice();
  const cudaError_t error = cudaStreamSynchronize(stream_);
  if (error != cudaSuccess) RecordError(TESSERA_CUDA_STATUS(error));
  return TakeError();
}

bool CudaBackend::CheckLaunch(cudaError_t error, std::string_view op) {
  if (error == cudaSuccess) return true;
  RecordError(absl::InternalError(absl::StrCat("CUDA backend ", std::string(op), ": launch failed: ",
                                               cudaGetErrorName(error), " (", cudaGetErrorString(error), ")")));
  return false;
}

void CudaBackend::RecordError(absl::Status status) {
  std::lock_guard<std::mutex> lock(error_mutex_);
  if (pending_error_.ok()) pending_error_ = std::move(status);
}

absl::Status CudaBackend::TakeError() {
  volatile DeviceErrorRecord* record = device_errors_host_;
  if (record->code != kDeviceErrorNone) {
    const DeviceErrorRecord copy{record->code, 0, record->a, record->b, record->c};
    record->code = kDeviceErrorNone;
    RecordError(absl::InvalidArgumentError(absl::StrCat("CUDA backend ", DescribeDeviceError(copy))));
  }
  std::lock_guard<std::mutex> lock(error_mutex_);
  return std::exchange(pending_error_, absl::OkStatus());
}

void* CudaBackend::AttentionWorkspace(size_t bytes) {
  if (bytes == 0) return nullptr;
  if (!attention_workspace_ || attention_workspace_->bytes() < bytes) {
    const size_t grown = std::max(bytes, attention_workspace_ ? attention_workspace_->bytes() * 3 / 2 : 0);
    attention_workspace_.reset();
    auto memory = allocator_->Allocate(grown);
    if (!memory.ok()) {
      RecordError(memory.status());
      return nullptr;
    }
    attention_workspace_ = std::move(memory).value();
  }
  return attention_workspace_->data();
}

// ---------------------------------------------------------------------------------------------------------------
// Ops

void CudaBackend::Embedding(const Tensor& ids, const Tensor& table, Tensor& out) {
  const int64_t tokens = ids.numel();
  const int64_t hidden = table.row_elements();
  if (!Check(ids.dtype == DType::kI32, "Embedding", [&] { return "ids must be int32"; }) ||
      !Check(IsSmallWeightType(table.dtype), "Embedding",
             [&] { return absl::StrCat("unsupported table ", ShapeString(table)); }) ||
      !Check(out.dtype == DType::kBF16 && out.rows() == tokens && out.row_elements() == hidden, "Embedding", [&] {
        return absl::StrCat("out ", ShapeString(out), " does not match ", tokens, " ids of table ", ShapeString(table));
      }))
    return;
  UseDevice();
  CheckLaunch(LaunchEmbedding(ids.as<int32_t>(), tokens, table.data, table.dtype, table.rows(), table.stride(), hidden,
                              out.data, out.stride(), device_errors_, stream_),
              "Embedding");
}

void CudaBackend::RmsNorm(const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  const int64_t hidden = x.row_elements();
  if (!Check(x.dtype == DType::kBF16 && out.dtype == DType::kBF16, "RmsNorm",
             [&] { return "x and out must be bfloat16"; }) ||
      !Check(IsSmallWeightType(weight.dtype) && weight.numel() == hidden, "RmsNorm",
             [&] { return absl::StrCat("weight ", ShapeString(weight), " does not match x ", ShapeString(x)); }) ||
      !Check(out.rows() == x.rows() && out.row_elements() == hidden, "RmsNorm",
             [&] { return absl::StrCat("out ", ShapeString(out), " does not match x ", ShapeString(x)); }))
    return;
  UseDevice();
  CheckLaunch(LaunchRmsNorm(nullptr, 0, x.data, x.stride(), weight.data, weight.dtype, eps, x.rows(), hidden,
                            out.data, out.stride(), stream_),
              "RmsNorm");
}

void CudaBackend::AddRmsNorm(Tensor& residual, const Tensor& x, const Tensor& weight, float eps, Tensor& out) {
  const int64_t hidden = residual.row_elements();
  if (!Check(residual.dtype == DType::kBF16 && x.dtype == DType::kBF16 && out.dtype == DType::kBF16, "AddRmsNorm",
             [&] { return "residual, x and out must be bfloat16"; }) ||
      !Check(x.rows() == residual.rows() && x.row_elements() == hidden && out.rows() == residual.rows() &&
                 out.row_elements() == hidden,
             "AddRmsNorm",
             [&] {
               return absl::StrCat("shapes differ: residual ", ShapeString(residual), ", x ", ShapeString(x), ", out ",
                                   ShapeString(out));
             }) ||
      !Check(IsSmallWeightType(weight.dtype) && weight.numel() == hidden, "AddRmsNorm",
             [&] { return absl::StrCat("weight ", ShapeString(weight), " does not match hidden size ", hidden); }))
    return;
  UseDevice();
  CheckLaunch(LaunchRmsNorm(residual.data, residual.stride(), x.data, x.stride(), weight.data, weight.dtype, eps,
                            residual.rows(), hidden, out.data, out.stride(), stream_),
              "AddRmsNorm");
}

void CudaBackend::HeadRmsNorm(Tensor& x, const Tensor& weight, float eps) {
  const int64_t heads = x.rank == 3 ? x.dim(1) : 1;
  const int64_t head_dim = x.rank == 3 ? x.dim(2) : x.row_elements();
  if (!Check(x.dtype == DType::kBF16, "HeadRmsNorm", [&] { return "x must be bfloat16"; }) ||
      !Check(IsSmallWeightType(weight.dtype) && weight.numel() == head_dim, "HeadRmsNorm", [&] {
        return absl::StrCat("weight ", ShapeString(weight), " does not match head_dim of x ", ShapeString(x));
      }))
    return;
  UseDevice();
  CheckLaunch(LaunchHeadRmsNorm(x.data, x.rows(), heads, head_dim, x.stride(), weight.data, weight.dtype, eps, stream_),
              "HeadRmsNorm");
}

void CudaBackend::Gemm(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  const int64_t rows = x.rows();
  const int64_t k = x.row_elements();
  const int64_t n = w.rows();
  if (!Check(x.dtype == DType::kBF16, "Gemm", [&] { return "x must be bfloat16"; }) ||
      !Check(y.dtype == DType::kBF16 || y.dtype == DType::kF32, "Gemm",
             [&] { return "y must be bfloat16 or float32"; }) ||
      !Check(w.dtype == DType::kBF16, "Gemm",
             [&] { return absl::StrCat("unsupported weight type ", std::string(DTypeName(w.dtype)),
                                       " (the CUDA backend multiplies bfloat16 weights)"); }) ||
      !Check(w.row_elements() == k, "Gemm",
             [&] { return absl::StrCat("w ", ShapeString(w), " does not match x ", ShapeString(x)); }) ||
      !Check(y.rows() == rows && y.row_elements() == n, "Gemm",
             [&] { return absl::StrCat("y ", ShapeString(y), " is not [", rows, ", ", n, "]"); }) ||
      !Check(bias == nullptr || (IsSmallWeightType(bias->dtype) && bias->numel() == n), "Gemm",
             [&] { return bias ? absl::StrCat("bias ", ShapeString(*bias), " does not match ", n, " outputs") : ""; }))
    return;
  UseDevice();
  GemmArgs args;
  args.x = x.data;
  args.ldx = x.stride();
  args.w = w.data;
  args.ldw = w.stride();
  if (bias != nullptr) {
    args.bias = bias->data;
    args.bias_dtype = bias->dtype;
  }
  args.y = y.data;
  args.ldy = y.stride();
  args.y_dtype = y.dtype;
  args.rows = rows;
  args.n = n;
  args.k = k;
  const absl::Status status = gemm_->Run(args, stream_);
  if (!status.ok()) RecordError(absl::Status(status.code(), absl::StrCat("CUDA backend Gemm: ", status.message())));
}

void CudaBackend::Rope(const Tensor& positions, Tensor& q, Tensor& k, const Tensor& cos_sin, int rotary_dim) {
  const int64_t tokens = positions.numel();
  const int64_t head_dim = q.dim(2);
  if (!Check(positions.dtype == DType::kI32, "Rope", [&] { return "positions must be int32"; }) ||
      !Check(q.dtype == DType::kBF16 && k.dtype == DType::kBF16 && cos_sin.dtype == DType::kF32, "Rope",
             [&] { return "q and k must be bfloat16 and cos_sin float32"; }) ||
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
  UseDevice();
  CheckLaunch(LaunchRope(positions.as<int32_t>(), tokens, q.data, q.dim(1), q.stride(), k.data, k.dim(1), k.stride(),
                         head_dim, cos_sin.as<float>(), cos_sin.rows(), cos_sin.stride(), rotary_dim, device_errors_,
                         stream_),
              "Rope");
}

void CudaBackend::WriteKvCache(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, Tensor& k_cache,
                               Tensor& v_cache) {
  const int64_t tokens = slot_mapping.numel();
  const int64_t row = k.row_elements();
  if (!Check(slot_mapping.dtype == DType::kI32, "WriteKvCache", [&] { return "slot_mapping must be int32"; }) ||
      !Check(k.dtype == DType::kBF16 && v.dtype == DType::kBF16 && k_cache.dtype == DType::kBF16 &&
                 v_cache.dtype == DType::kBF16,
             "WriteKvCache", [&] { return "k, v and the caches must be bfloat16"; }) ||
      !Check(k.rows() == tokens && v.rows() == tokens && v.row_elements() == row && k_cache.row_elements() == row &&
                 v_cache.row_elements() == row && v_cache.rows() == k_cache.rows(),
             "WriteKvCache", [&] {
               return absl::StrCat("shapes differ: k ", ShapeString(k), ", v ", ShapeString(v), ", k_cache ",
                                   ShapeString(k_cache), ", v_cache ", ShapeString(v_cache), ", ", tokens, " slots");
             }))
    return;
  UseDevice();
  CheckLaunch(LaunchWriteKvCache(k.data, k.stride(), v.data, v.stride(), slot_mapping.as<int32_t>(), tokens, row,
                                 k_cache.data, k_cache.stride(), v_cache.data, v_cache.stride(), k_cache.rows(),
                                 device_errors_, stream_),
              "WriteKvCache");
}

void CudaBackend::PagedAttention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache,
                                 const AttentionMetadata& meta, float scale, Tensor& out) {
  const int64_t tokens = q.rows();
  const int64_t q_heads = q.dim(1);
  const int64_t head_dim = q.dim(2);
  const int64_t kv_heads = k_cache.dim(1);
  if (!Check(q.dtype == DType::kBF16 && out.dtype == DType::kBF16 && k_cache.dtype == DType::kBF16 &&
                 v_cache.dtype == DType::kBF16,
             "PagedAttention", [&] { return "q, out and the caches must be bfloat16"; }) ||
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
             "PagedAttention", [&] { return "metadata sizes do not match num_seqs / block_size"; }) ||
      !Check(head_dim <= 256, "PagedAttention",
             [&] { return absl::StrCat("head_dim ", head_dim, " is larger than the supported 256"); }))
    return;
  UseDevice();
  if (k_cache.stride() == k_cache.row_elements() && v_cache.stride() == v_cache.row_elements()) {
    PagedAttentionArgs args;
    args.q = static_cast<const uint16_t*>(q.data);
    args.q_row_stride = q.stride();
    args.k_cache = static_cast<const uint16_t*>(k_cache.data);
    args.v_cache = static_cast<const uint16_t*>(v_cache.data);
    args.out = static_cast<uint16_t*>(out.data);
    args.out_row_stride = out.stride();
    args.query_start_loc = meta.query_start_loc.as<int32_t>();
    args.seq_lens = meta.seq_lens.as<int32_t>();
    args.block_tables = meta.block_tables.as<int32_t>();
    args.max_blocks_per_seq = static_cast<int>(meta.block_tables.stride());
    args.num_seqs = meta.num_seqs;
    args.num_tokens = static_cast<int>(tokens);
    args.max_query_len = meta.max_query_len;
    args.max_seq_len = meta.max_seq_len;
    args.num_q_heads = static_cast<int>(q_heads);
    args.num_kv_heads = static_cast<int>(kv_heads);
    args.head_dim = static_cast<int>(head_dim);
    args.block_size = meta.block_size;
    args.scale = scale;
    if (meta.max_query_len <= 1) {  // only decode batches split their contexts
      if (attention_workspace_key_ != std::make_pair(meta.num_seqs, meta.max_seq_len)) {
        attention_workspace_key_ = {meta.num_seqs, meta.max_seq_len};
        attention_workspace_need_ = PagedAttentionWorkspaceBytes(meta.num_seqs, args.num_q_heads, args.num_kv_heads,
                                                                 args.head_dim, meta.max_seq_len);
      }
      args.workspace = AttentionWorkspace(attention_workspace_need_);
      args.workspace_bytes = args.workspace ? attention_workspace_need_ : 0;
    }
    const cudaError_t error = LaunchPagedAttention(args, stream_);
    // Shapes the tuned kernels do not cover (head_dim other than 64/128, unaligned rows) take the reference kernel.
    if (error != cudaErrorInvalidValue) {
      CheckLaunch(error, "PagedAttention");
      return;
    }
  }
  CheckLaunch(LaunchReferencePagedAttention(
                  q.data, q.stride(), tokens, static_cast<int>(q_heads), static_cast<int>(kv_heads),
                  static_cast<int>(head_dim), k_cache.data, k_cache.stride(), v_cache.data, v_cache.stride(),
                  k_cache.rows(), meta.query_start_loc.as<int32_t>(), meta.seq_lens.as<int32_t>(),
                  meta.block_tables.as<int32_t>(), meta.block_tables.stride(), meta.num_seqs, meta.block_size, scale,
                  out.data, out.stride(), device_errors_, stream_),
              "PagedAttention");
}

void CudaBackend::SiluMul(const Tensor& gate_up, Tensor& out) {
  const int64_t inter = out.row_elements();
  if (!Check(gate_up.dtype == DType::kBF16 && out.dtype == DType::kBF16, "SiluMul",
             [&] { return "gate_up and out must be bfloat16"; }) ||
      !Check(gate_up.rows() == out.rows() && gate_up.row_elements() == 2 * inter, "SiluMul", [&] {
        return absl::StrCat("gate_up ", ShapeString(gate_up), " is not twice as wide as out ", ShapeString(out));
      }))
    return;
  UseDevice();
  CheckLaunch(LaunchSiluMul(gate_up.data, gate_up.stride(), out.rows(), inter, out.data, out.stride(), stream_),
              "SiluMul");
}

void CudaBackend::Add(const Tensor& x, Tensor& inout) {
  const int64_t width = inout.row_elements();
  if (!Check(x.dtype == DType::kBF16 && inout.dtype == DType::kBF16, "Add",
             [&] { return "x and inout must be bfloat16"; }) ||
      !Check(x.rows() == inout.rows() && x.row_elements() == width, "Add",
             [&] { return absl::StrCat("x ", ShapeString(x), " does not match inout ", ShapeString(inout)); }))
    return;
  UseDevice();
  CheckLaunch(LaunchAdd(x.data, x.stride(), inout.data, inout.stride(), inout.rows(), width, stream_), "Add");
}

void CudaBackend::GatherRows(const Tensor& x, const Tensor& indices, Tensor& out) {
  const int64_t count = indices.numel();
  const int64_t width = x.row_elements();
  if (!Check(indices.dtype == DType::kI32, "GatherRows", [&] { return "indices must be int32"; }) ||
      !Check(out.dtype == x.dtype && out.rows() == count && out.row_elements() == width, "GatherRows", [&] {
        return absl::StrCat("out ", ShapeString(out), " does not match ", count, " rows of x ", ShapeString(x));
      }))
    return;
  UseDevice();
  const int64_t element = static_cast<int64_t>(DTypeSize(x.dtype));
  CheckLaunch(LaunchGatherRows(x.data, x.stride() * element, x.rows(), indices.as<int32_t>(), count, width * element,
                               out.data, out.stride() * element, device_errors_, stream_),
              "GatherRows");
}

}  // namespace cuda
}  // namespace tessera::kernels
