#include "services/worker/engine/model_runner.h"

#include <algorithm>

#include "common/status_macros.h"

namespace tessera::engine {

using kernels::Tensor;

ModelRunner::ModelRunner(LlamaModel* model, kernels::Backend* backend, int block_size)
    : model_(model), backend_(backend), block_size_(block_size) {}

absl::StatusOr<const StepLogits*> ModelRunner::Execute(const std::vector<ScheduledChunk>& chunks,
                                                const BlockManager& blocks) {
  const int num_seqs = static_cast<int>(chunks.size());
  int num_tokens = 0;
  int max_blocks = 1;
  int max_query_len = 0;
  int max_seq_len = 0;
  logits_.first_row.assign(num_seqs, 0);
  logits_.num_rows.assign(num_seqs, 0);
  int num_logits = 0;
  for (int s = 0; s < num_seqs; ++s) {
    const Request& r = *chunks[s].request;
    const int end = r.num_computed_tokens + chunks[s].num_tokens;
    num_tokens += chunks[s].num_tokens;
    max_blocks = std::max(max_blocks, static_cast<int>(r.block_ids.size()));
    max_query_len = std::max(max_query_len, chunks[s].num_tokens);
    max_seq_len = std::max(max_seq_len, end);
    logits_.first_row[s] = num_logits;
    if (r.keep_all_logits) {
      logits_.num_rows[s] = chunks[s].num_tokens;
    } else if (end == r.num_tokens()) {
      logits_.num_rows[s] = 1;
    }
    num_logits += logits_.num_rows[s];
  }

  // One int32 staging area laid out as: ids | positions | slots | query_start_loc | seq_lens | block_tables |
  // logits_indices, copied to the device in one transfer.
  const size_t ids_off = 0, pos_off = num_tokens, slot_off = 2 * num_tokens, qsl_off = 3 * num_tokens;
  const size_t seq_off = qsl_off + num_seqs + 1;
  const size_t bt_off = seq_off + num_seqs;
  const size_t li_off = bt_off + static_cast<size_t>(num_seqs) * max_blocks;
  const size_t total = li_off + std::max(num_logits, 1);
  host_ints_.assign(total, 0);
  int32_t* h = host_ints_.data();
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

  RETURN_IF_ERROR(device_ints_.Reserve(*backend_, total * sizeof(int32_t)));
  backend_->CopyToDevice(device_ints_.data(), h, total * sizeof(int32_t));
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
  in.attention.max_query_len = max_query_len;
  in.attention.max_seq_len = max_seq_len;
  in.attention.block_size = block_size_;
  in.num_logits = num_logits;
  in.logits_indices = Tensor::Make1D(d + li_off, DType::kI32, num_logits);

  const int vocab = model_->config().vocab_size;
  logits_.vocab_size = vocab;
  logits_.values.resize(static_cast<size_t>(num_logits) * vocab);
  if (num_logits == 0) {
    // Nothing to read back, but the KV writes of the chunk still have to happen.
    in.num_logits = 1;
    in.logits_indices = Tensor::Make1D(d + li_off, DType::kI32, 1);
    ASSIGN_OR_RETURN(Tensor unused, model_->Forward(in));
    (void)unused;
    RETURN_IF_ERROR(backend_->Synchronize());
    return &logits_;
  }
  ASSIGN_OR_RETURN(Tensor logits, model_->Forward(in));
  RETURN_IF_ERROR(backend_->CopyToHost(logits_.values.data(), logits.data, logits_.values.size() * sizeof(float)));
  return &logits_;
}

}  // namespace tessera::engine
