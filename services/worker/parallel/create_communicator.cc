// Picks the communicator for a backend, so the engine never names NCCL.
#include "absl/strings/str_cat.h"
#include "services/worker/parallel/communicator.h"
#include "services/worker/parallel/tcp_group.h"
#ifdef TESSERA_HAVE_NCCL
#include "services/worker/parallel/nccl_communicator.h"
#endif

namespace tessera::parallel {

absl::StatusOr<std::unique_ptr<Communicator>> CreateCommunicator(TcpGroup* group, const std::string& nccl_unique_id,
                                                                 kernels::Backend* backend) {
  if (backend->name() == "cpu") return CreateCpuCommunicator(group, backend);
#ifdef TESSERA_HAVE_NCCL
  return CreateNcclCommunicator(nccl_unique_id, group->rank(), group->world_size(), backend, backend->native_stream());
#else
  return absl::UnimplementedError(absl::StrCat("tensor parallelism on the ", std::string(backend->name()),
                                               " backend needs NCCL, which this binary was built without"));
#endif
}

}  // namespace tessera::parallel
