#include "services/worker/parallel/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace tessera::parallel {
namespace {

absl::Status NcclError(ncclResult_t result, std::string_view what) {
  return absl::InternalError(absl::StrCat("NCCL ", std::string(what), ": ", ncclGetErrorString(result)));
}

absl::StatusOr<ncclDataType_t> NcclType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return ncclFloat32;
    case DType::kBF16:
      return ncclBfloat16;
    case DType::kF16:
      return ncclFloat16;
    case DType::kI32:
      return ncclInt32;
    default:
      return absl::InvalidArgumentError(absl::StrCat("NCCL cannot reduce ", std::string(DTypeName(dtype))));
  }
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, int rank, int world_size, cudaStream_t stream)
      : comm_(comm), rank_(rank), world_size_(world_size), stream_(stream) {}
  ~NcclCommunicator() override {
    // Abort rather than destroy: destroying waits for peers, which may be gone.
    ncclCommAbort(comm_);
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }

  absl::Status AllReduceSum(kernels::Tensor& tensor) override {
    if (tensor.row_stride != 0 && tensor.row_stride != tensor.row_elements()) {
      return absl::InvalidArgumentError("all-reduce needs a contiguous tensor");
    }
    auto type = NcclType(tensor.dtype);
    if (!type.ok()) return type.status();
    const ncclResult_t result =
        ncclAllReduce(tensor.data, tensor.data, static_cast<size_t>(tensor.numel()), *type, ncclSum, comm_, stream_);
    return result == ncclSuccess ? absl::OkStatus() : NcclError(result, "all-reduce");
  }

  absl::Status AllGather(const kernels::Tensor& in, kernels::Tensor& out) override {
    if (in.dtype != out.dtype || out.numel() != in.numel() * world_size_) {
      return absl::InvalidArgumentError("all-gather: output size is not world_size times the input's");
    }
    auto type = NcclType(in.dtype);
    if (!type.ok()) return type.status();
    const ncclResult_t result =
        ncclAllGather(in.data, out.data, static_cast<size_t>(in.numel()), *type, comm_, stream_);
    return result == ncclSuccess ? absl::OkStatus() : NcclError(result, "all-gather");
  }

 private:
  ncclComm_t comm_;
  int rank_;
  int world_size_;
  cudaStream_t stream_;
};

}  // namespace

absl::StatusOr<std::string> CreateNcclUniqueId() {
  ncclUniqueId id;
  if (ncclResult_t result = ncclGetUniqueId(&id); result != ncclSuccess) return NcclError(result, "unique id");
  return std::string(id.internal, sizeof(id.internal));
}

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(const std::string& unique_id, int rank,
                                                                     int world_size, kernels::Backend* backend,
                                                                     void* stream) {
  if (backend->name() != "cuda") {
    return absl::InvalidArgumentError(
        absl::StrCat("NCCL needs the CUDA backend, not ", std::string(backend->name())));
  }
  ncclUniqueId id;
  if (unique_id.size() != sizeof(id.internal)) {
    return absl::InvalidArgumentError(absl::StrCat("NCCL unique id has ", unique_id.size(), " bytes, expected ",
                                                   sizeof(id.internal)));
  }
  std::memcpy(id.internal, unique_id.data(), sizeof(id.internal));
  // The backend made its device current on this thread when it was created.
  ncclComm_t comm;
  if (ncclResult_t result = ncclCommInitRank(&comm, world_size, id, rank); result != ncclSuccess) {
    return NcclError(result, absl::StrCat("init of rank ", rank, " of ", world_size));
  }
  return std::unique_ptr<Communicator>(std::make_unique<NcclCommunicator>(
      comm, rank, world_size, static_cast<cudaStream_t>(stream)));
}

}  // namespace tessera::parallel
