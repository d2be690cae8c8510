// Turns one scheduled step into device inputs (flat token ids, positions, slot mapping, block tables, sequence
// boundaries), runs the model, and brings the wanted logits back to the host.
#pragma once


#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/ops.h"
#include "services/worker/engine/device_buffer.h"
#include "services/worker/engine/kv_cache/block_manager.h"
#include "services/worker/engine/models/llama.h"
#include "services/worker/engine/scheduler.h"
#include "services/worker/parallel/tcp_group.h"

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

// One step as plain host integers: everything a tensor-parallel follower needs to run the same forward as the
// leader. `ints` holds ids | positions | slots | query_start_loc | seq_lens | block_tables | logits_indices.
struct StepInputs {
  int num_tokens = 0;
  int num_seqs = 0;
  int max_blocks = 1;
  int max_query_len = 0;
  int max_seq_len = 0;
  int num_logits = 0;
  std::vector<int32_t> ints;

  void SerializeTo(std::string& out) const;
  absl::Status ParseFrom(const std::string& message);
};

class ModelRunner {
 public:
  // `group` links the ranks of a tensor-parallel model (null when the model is whole): the leader broadcasts every
  // step's inputs through it.
  ModelRunner(LlamaModel* model, kernels::Backend* backend, int block_size, parallel::TcpGroup* group = nullptr);

  // Runs one scheduled step (on every rank, when tensor parallel). The returned logits stay valid until the next
  // Execute.
  absl::StatusOr<const StepLogits*> Execute(const std::vector<ScheduledChunk>& chunks, const BlockManager& blocks);

  // Follower ranks: runs the steps the leader broadcasts until the leader stops the group (OK) or the group breaks.
  absl::Status ServeFollower();
  // Leader: tells the followers to stop (they return OK from ServeFollower).
  absl::Status StopFollowers();
  // Leader, while idle: every follower must answer within the group's peer timeout, so a dead or hung rank is
  // found without waiting for the next request.
  absl::Status CheckFollowers();

 private:
  void BuildStep(const std::vector<ScheduledChunk>& chunks, const BlockManager& blocks);
  // Uploads `step` and runs the model; with `logits_out`, copies the wanted logits to the host.
  absl::Status RunStep(StepInputs& step, StepLogits* logits_out);

  LlamaModel* model_;
  kernels::Backend* backend_;
  int block_size_;
  parallel::TcpGroup* group_;

  // Host staging, reused across steps.
  StepInputs step_;
  std::string message_;
  GrowableBuffer device_ints_;
  std::vector<float> gathered_logits_;
  StepLogits logits_;
};

}  // namespace tessera::engine
