#include "services/worker/engine/model_runner.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::engine {

using kernels::Tensor;

namespace {
constexpr int kStepHeaderInts = 6;
// A one-byte broadcast is a liveness check, never a step (a step message holds at least its header).
constexpr char kHeartbeat[] = "H";
}  // namespace

void StepInputs::SerializeTo(std::string& out) const {
  const int32_t header[kStepHeaderInts] = {num_tokens, num_seqs, max_blocks, max_query_len, max_seq_len, num_logits};
  out.resize(sizeof(header) + ints.size() * sizeof(int32_t));
  std::memcpy(out.data(), header, sizeof(header));
  std::memcpy(out.data() + sizeof(header), ints.data(), ints.size() * sizeof(int32_t));
}

absl::Status StepInputs::ParseFrom(const std::string& message) {
  int32_t header[kStepHeaderInts];
  if (message.size() < sizeof(header) || (message.size() - sizeof(header)) % sizeof(int32_t) != 0) {
    return absl::DataLossError(absl::StrCat("malformed step message of ", message.size(), " bytes from the leader"));
  }
  std::memcpy(header, message.data(), sizeof(header));
  num_tokens = header[0];
  num_seqs = header[1];
  max_blocks = header[2];
  max_query_len = header[3];
  max_seq_len = header[4];
  num_logits = header[5];
  ints.resize((message.size() - sizeof(header)) / sizeof(int32_t));
  std::memcpy(ints.data(), message.data() + sizeof(header), ints.size() * sizeof(int32_t));
  const size_t expected = 3ull * num_tokens + num_seqs + 1 + num_seqs + static_cast<size_t>(num_seqs) * max_blocks +
                          std::max(num_logits, 1);
  if (num_tokens < 0 || num_seqs < 0 || max_blocks < 1 || num_logits < 0 || ints.size() != expected) {
    return absl::DataLossError("step message from the leader does not match its header");
  }
  return absl::OkStatus();
}

ModelRunner::ModelRunner(LlamaModel* model, kernels::Backend* backend, int block_size, parallel::TcpGroup* group)
    : model_(model), backend_(backend), block_size_(block_size), group_(group) {}

void ModelRunner::BuildStep(const std::vector<ScheduledChunk>& chunks, const BlockManager& blocks) {
  StepInputs& step = step_;
  step.num_seqs = static_cast<int>(chunks.size());
  step.num_tokens = 0;
  step.max_blocks = 1;
  step.max_query_len = 0;
  step.max_seq_len = 0;
  logits_.first_row.assign(step.num_seqs, 0);
  logits_.num_rows.assign(step.num_seqs, 0);
  int num_logits = 0;
  for (int s = 0; s < step.num_seqs; ++s) {
    const Request& r = *chunks[s].request;
    const int end = r.num_computed_tokens + chunks[s].num_tokens;
    step.num_tokens += chunks[s].num_tokens;
    step.max_blocks = std::max(step.max_blocks, static_cast<int>(r.block_ids.size()));
    step.max_query_len = std::max(step.max_query_len, chunks[s].num_tokens);
    step.max_seq_len = std::max(step.max_seq_len, end);
    logits_.first_row[s] = num_logits;
    if (r.keep_all_logits) {
      logits_.num_rows[s] = chunks[s].num_tokens;
    } else if (end == r.num_tokens()) {
      logits_.num_rows[s] = 1;
    }
    num_logits += logits_.num_rows[s];
  }
  step.num_logits = num_logits;

  const int num_tokens = step.num_tokens, num_seqs = step.num_seqs, max_blocks = step.max_blocks;
  const size_t ids_off = 0, pos_off = num_tokens, slot_off = 2 * num_tokens, qsl_off = 3 * num_tokens;
  const size_t seq_off = qsl_off + num_seqs + 1;
  const size_t bt_off = seq_off + num_seqs;
  const size_t li_off = bt_off + static_cast<size_t>(num_seqs) * max_blocks;
  step.ints.assign(li_off + std::max(num_logits, 1), 0);
  int32_t* h = step.ints.data();
  int token = 0;
  int logit_row = 0;
  h[qsl_off] = 0;
  for (int s = 0; s < num_seqs; ++s) {
    const Request& r = *chunks[s].request;
    const int start = r.num_computed_tokens;
    const int n = chunks[s].num_tokens;
    for (int i = 0; i < n; ++i) {
      h[ids_off + token + i] = r.token_at(start + i);
      h[pos_off + token + i] = start + i;
      h[slot_off + token + i] = blocks.SlotFor(r, start + i);
    }
    for (int i = 0; i < logits_.num_rows[s]; ++i) h[li_off + logit_row++] = token + n - logits_.num_rows[s] + i;
    token += n;
    h[qsl_off + s + 1] = token;
    h[seq_off + s] = start + n;
    std::copy(r.block_ids.begin(), r.block_ids.end(), h + bt_off + static_cast<size_t>(s) * max_blocks);
  }
}

absl::Status ModelRunner::RunStep(StepInputs& step, StepLogits* logits_out) {
  const int num_tokens = step.num_tokens, num_seqs = step.num_seqs, max_blocks = step.max_blocks;
  const int num_logits = step.num_logits;
  const size_t ids_off = 0, pos_off = num_tokens, slot_off = 2 * num_tokens, qsl_off = 3 * num_tokens;
  const size_t seq_off = qsl_off + num_seqs + 1;
  const size_t bt_off = seq_off + num_seqs;
  const size_t li_off = bt_off + static_cast<size_t>(num_seqs) * max_blocks;
  // Token ids become rows of this rank's vocabulary shard (a no-op when the model is whole).
  model_->LocalTokenIds(step.ints.data() + ids_off, num_tokens);

  const size_t total = step.ints.size();
  RETURN_IF_ERROR(device_ints_.Reserve(*backend_, total * sizeof(int32_t)));
  backend_->CopyToDevice(device_ints_.data(), step.ints.data(), total * sizeof(int32_t));
  int32_t* d = static_cast<int32_t*>(device_ints_.data());

  ForwardInputs in;
  in.num_tokens = num_tokens;
  in.input_ids = Tensor::Make1D(d + ids_off, DType::kI32, num_tokens);
  in.positions = Tensor::Make1D(d + pos_off, DType::kI32, num_tokens);
  in.slot_mapping = Tensor::Make1D(d + slot_off, DType::kI32, num_tokens);
  in.attention.query_start_loc = Tensor::Make1D(d + qsl_off, DType::kI32, num_seqs + 1);
  in.attention.seq_lens = Tensor::Make1D(d + seq_off, DType::kI32, num_seqs);
  in.attention.block_tables = Tensor::Make2D(d + bt_off, DType::kI32, num_seqs, max_blocks);
  in.attention.num_seqs = num_seqs;
  in.attention.max_query_len = step.max_query_len;
  in.attention.max_seq_len = step.max_seq_len;
  in.attention.block_size = block_size_;
  // A step without wanted logits still runs the model for its KV writes; one row is computed and dropped.
  in.num_logits = std::max(num_logits, 1);
  in.logits_indices = Tensor::Make1D(d + li_off, DType::kI32, in.num_logits);

  ASSIGN_OR_RETURN(Tensor logits, model_->Forward(in));
  if (logits_out == nullptr || num_logits == 0) return backend_->Synchronize();

  const int vocab = model_->config().vocab_size;
  logits_out->vocab_size = vocab;
  logits_out->values.resize(static_cast<size_t>(num_logits) * vocab);
  const TensorParallelShard& shard = model_->shard();
  if (shard.size == 1) {
    return backend_->CopyToHost(logits_out->values.data(), logits.data, logits_out->values.size() * sizeof(float));
  }
  // Every rank's vocabulary shard arrives as [rank, row, shard column]; rows of the result are [row, vocab].
  const int64_t shard_rows = model_->layout().vocab_rows;
  gathered_logits_.resize(static_cast<size_t>(shard.size) * in.num_logits * shard_rows);
  RETURN_IF_ERROR(backend_->CopyToHost(gathered_logits_.data(), logits.data, gathered_logits_.size() * sizeof(float)));
  for (int row = 0; row < num_logits; ++row) {
    float* dst = logits_out->values.data() + static_cast<size_t>(row) * vocab;
    for (int r = 0; r < shard.size; ++r) {
      const int64_t begin = r * shard_rows;
      const int64_t count = std::min<int64_t>(shard_rows, vocab - begin);
      if (count <= 0) break;
      const float* src = gathered_logits_.data() + (static_cast<size_t>(r) * in.num_logits + row) * shard_rows;
      std::copy(src, src + count, dst + begin);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<const StepLogits*> ModelRunner::Execute(const std::vector<ScheduledChunk>& chunks,
                                                       const BlockManager& blocks) {
  BuildStep(chunks, blocks);
  if (group_ != nullptr) {
    step_.SerializeTo(message_);
    RETURN_IF_ERROR(group_->Broadcast(message_));
  }
  logits_.values.clear();
  RETURN_IF_ERROR(RunStep(step_, &logits_));
  return &logits_;
}

absl::Status ModelRunner::ServeFollower() {
  if (group_ == nullptr || group_->rank() == 0) {
    return absl::FailedPreconditionError("only a tensor-parallel follower serves the leader's steps");
  }
  while (true) {
    RETURN_IF_ERROR(group_->Broadcast(message_));
    if (message_.empty()) return absl::OkStatus();  // the leader is stopping
    if (message_ == kHeartbeat) {
      char alive = 1;
      std::vector<char> all(group_->world_size());
      RETURN_IF_ERROR(group_->AllGather(&alive, 1, all.data()));
      continue;
    }
    RETURN_IF_ERROR(step_.ParseFrom(message_));
    RETURN_IF_ERROR(RunStep(step_, nullptr));
  }
}

absl::Status ModelRunner::CheckFollowers() {
  if (group_ == nullptr || group_->rank() != 0 || group_->world_size() == 1) return absl::OkStatus();
  std::string heartbeat = kHeartbeat;
  RETURN_IF_ERROR(group_->Broadcast(heartbeat));
  char alive = 1;
  std::vector<char> all(group_->world_size());
  return group_->AllGather(&alive, 1, all.data());
}

absl::Status ModelRunner::StopFollowers() {
  if (group_ == nullptr || group_->rank() != 0) return absl::OkStatus();
  std::string stop;
  return group_->Broadcast(stop);
}

}  // namespace tessera::engine
