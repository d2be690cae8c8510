// Communicator for CPU ranks: tensors are host memory, reduced and gathered through the leader over TCP.
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dtype.h"
#include "common/status_macros.h"
#include "services/worker/parallel/communicator.h"
#include "services/worker/parallel/tcp_group.h"

namespace tessera::parallel {
namespace {

class CpuCommunicator final : public Communicator {
 public:
  CpuCommunicator(TcpGroup* group, kernels::Backend* backend) : group_(group), backend_(backend) {}

  int rank() const override { return group_->rank(); }
  int world_size() const override { return group_->world_size(); }

  absl::Status AllReduceSum(kernels::Tensor& tensor) override {
    if (tensor.row_stride != 0 && tensor.row_stride != tensor.row_elements()) {
      return absl::InvalidArgumentError("all-reduce needs a contiguous tensor");
    }
    RETURN_IF_ERROR(backend_->Synchronize());
    const size_t count = static_cast<size_t>(tensor.numel());
    if (tensor.dtype == DType::kF32) return group_->AllReduceSumF32(tensor.as<float>(), count);
    // Lower-precision activations are summed in float32 and rounded once, as NCCL does for bf16 within a node.
    staging_.resize(count);
    ConvertToFloat(tensor.dtype, tensor.data, staging_.data(), count);
    RETURN_IF_ERROR(group_->AllReduceSumF32(staging_.data(), count));
    ConvertFromFloat(staging_.data(), tensor.dtype, tensor.data, count);
    return absl::OkStatus();
  }

  absl::Status AllGather(const kernels::Tensor& in, kernels::Tensor& out) override {
    if (in.dtype != out.dtype || out.numel() != in.numel() * world_size()) {
      return absl::InvalidArgumentError(absl::StrCat("all-gather: output holds ", out.numel(), " elements, needs ",
                                                     in.numel() * world_size()));
    }
    RETURN_IF_ERROR(backend_->Synchronize());
    return group_->AllGather(in.data, static_cast<size_t>(in.numel()) * DTypeSize(in.dtype), out.data);
  }

 private:
  TcpGroup* group_;
  kernels::Backend* backend_;
  std::vector<float> staging_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> CreateCpuCommunicator(TcpGroup* group, kernels::Backend* backend) {
  if (backend->name() != "cpu") {
    return absl::InvalidArgumentError(absl::StrCat("the CPU communicator cannot reduce memory of the ",
                                                   std::string(backend->name()), " backend; use NCCL"));
  }
  return std::unique_ptr<Communicator>(std::make_unique<CpuCommunicator>(group, backend));
}

}  // namespace tessera::parallel
