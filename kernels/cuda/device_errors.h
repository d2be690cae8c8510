// Errors that kernels find in data the host never sees (token ids, positions, slots, block tables), reported
// through a record in mapped pinned memory that the backend reads at its next Synchronize or CopyToHost, the way
// the CPU backend reports an argument error after the fact.
#pragma once

#include <cstdint>

namespace tessera::kernels::cuda {

enum DeviceErrorCode : int {
  kDeviceErrorNone = 0,
  kEmbeddingIdOutOfRange = 1,      // a: row, b: id, c: vocabulary size
  kRopePositionOutOfRange = 2,     // a: row, b: position, c: cos/sin rows
  kKvSlotOutOfRange = 3,           // a: row, b: slot, c: cache slots
  kGatherIndexOutOfRange = 4,      // a: position, b: index, c: rows of x
  kAttentionBadQueryRange = 5,     // a: sequence, b: query rows begin, c: end
  kAttentionQueryExceedsContext = 6,  // a: sequence, b: query rows, c: context length
  kAttentionBlockOutOfRange = 7,   // a: sequence, b: block id, c: cache blocks
};

// The first error since the last read; later ones are dropped, as only the first is reported.
struct DeviceErrorRecord {
  int code;
  int padding;
  long long a, b, c;
};

#ifdef __CUDACC__
__device__ inline void ReportDeviceError(DeviceErrorRecord* record, int code, long long a, long long b, long long c) {
  if (record != nullptr && atomicCAS(&record->code, 0, code) == 0) {
    record->a = a;
    record->b = b;
    record->c = c;
    __threadfence_system();
  }
}
#endif

}  // namespace tessera::kernels::cuda
