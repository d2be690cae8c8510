// Turns one scheduled step into device inputs (flat token ids, positions, slot mapping, block tables, sequence
// boundaries), runs the model, and brings the wanted logits back to the host.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "services/worker/engine/device_buffer.h"
#include "services/worker/engine/kv_cache/block_manager.h"
#include "services/worker/engine/models/llama.h"
#include "services/worker/engine/scheduler.h"

namespace tessera::engine {

// Logits of one step, float32 on the host. Chunk i owns rows [first_row[i], first_row[i] + num_rows[i]): every
// position for requests that keep all logits, else only the last position of a chunk that completes its sequence.
struct StepLogits {
  int vocab_size = 0;
  std::vector<float> values;
  std::vector<int> first_row;
  std::vector<int> num_rows;

  const float* row(int r) const { return values.data() + static_cast<size_t>(r) * vocab_size; }
};

class ModelRunner {
 public:
  ModelRunner(LlamaModel* model, kernels::Backend* backend, int block_size);

  // The returned logits stay valid until the next Execute.
  absl::StatusOr<const StepLogits*> Execute(const std::vector<ScheduledChunk>& chunks, const BlockManager& blocks);

 private:
  LlamaModel* model_;
  kernels::Backend* backend_;
  int block_size_;

  // Host staging, reused across steps.
  std::vector<int32_t> host_ints_;
  GrowableBuffer device_ints_;
  StepLogits logits_;
};

}  // namespace tessera::engine
