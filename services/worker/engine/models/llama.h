// The Llama family of decoder-only transformers: LlamaForCausalLM (Llama 2/3/3.1), MistralForCausalLM,
// Qwen2ForCausalLM (q/k/v bias, tied embeddings) and Qwen3ForCausalLM (per-head q/k RMSNorm). They differ only in
// a few switches, so one implementation runs all of them through the backend's ops.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/model_config.h"
#include "kernels/ops.h"
#include "services/worker/engine/device_buffer.h"
#include "services/worker/parallel/communicator.h"
#include "services/worker/engine/weight_source.h"

namespace tessera::engine {

// The architectures this file implements, as config.json names them.
const std::vector<std::string>& SupportedArchitectures();

// A weight the architecture needs, by its Hugging Face name and shape.
struct WeightSpec {
  std::string name;
  std::vector<int64_t> shape;
};
// Every weight a checkpoint of this config holds (lm_head omitted when embeddings are tied), in file order.
std::vector<WeightSpec> ListWeights(const ModelConfig& config);

// Which tensor-parallel slice of the model this process holds. With size 1 (the default) the model is whole and
// no communicator is needed.
struct TensorParallelShard {
  int rank = 0;
  int size = 1;
  parallel::Communicator* communicator = nullptr;  // required when size > 1
};

// How the heads, the MLP and the vocabulary split over `size` ranks; an error names the dimension that does not
// divide. Key/value heads are replicated when there are more ranks than KV heads, as vLLM does.
struct ShardLayout {
  int num_heads = 0;       // attention heads on this rank
  int num_kv_heads = 0;    // KV heads on this rank
  int first_kv_head = 0;   // the first of the model's KV heads this rank holds
  int64_t intermediate = 0;
  int64_t vocab_rows = 0;  // rows of the embedding / LM head shard (the last shard is padded with zero rows)
  int64_t vocab_begin = 0;
};
absl::StatusOr<ShardLayout> PlanShard(const ModelConfig& config, int rank, int size);

// One step's inputs, already on the device.
struct ForwardInputs {
  int num_tokens = 0;
  kernels::Tensor input_ids;     // int32 [num_tokens]
  kernels::Tensor positions;     // int32 [num_tokens]
  kernels::Tensor slot_mapping;  // int32 [num_tokens]
  kernels::AttentionMetadata attention;
  int num_logits = 0;
  kernels::Tensor logits_indices;  // int32 [num_logits]: rows of the batch whose logits are wanted
};

class LlamaModel {
 public:
  // Validates the architecture and loads this rank's slice of every weight from `source`, converted to
  // `weight_dtype`.
  static absl::StatusOr<std::unique_ptr<LlamaModel>> Load(const ModelConfig& config, const WeightSource& source,
                                                          DType weight_dtype, int max_positions,
                                                          kernels::Backend* backend,
                                                          const TensorParallelShard& shard = {});

  // Allocates the paged KV cache: `num_blocks` blocks of `block_size` tokens for every layer.
  absl::Status AllocateKvCache(int num_blocks, int block_size);
  // Bytes one KV block takes over all layers.
  size_t KvBytesPerBlock(int block_size) const;
  size_t weight_bytes() const { return weight_bytes_; }

  // Runs the batch and returns float32 logits on the device (valid until the next Forward): [num_logits, vocab]
  // when the model is whole; with tensor parallelism every rank's vocabulary shard, [size, num_logits,
  // vocab_rows], which the caller reorders. input_ids must already be local to the shard (LocalTokenIds).
  absl::StatusOr<kernels::Tensor> Forward(const ForwardInputs& inputs);

  // Maps token ids to rows of this rank's embedding shard, -1 for ids another rank holds.
  void LocalTokenIds(int32_t* ids, int count) const;

  const ModelConfig& config() const { return config_; }
  const TensorParallelShard& shard() const { return shard_; }
  const ShardLayout& layout() const { return layout_; }

 private:
  struct Layer {
    kernels::Tensor input_norm, qkv_weight, qkv_bias, o_weight, q_norm, k_norm, post_norm, gate_up_weight,
        down_weight;
    bool has_qkv_bias = false;
  };

  LlamaModel(const ModelConfig& config, kernels::Backend* backend, const TensorParallelShard& shard,
             const ShardLayout& layout)
      : config_(config), backend_(backend), shard_(shard), layout_(layout) {}
  absl::Status LoadWeights(const WeightSource& source, DType weight_dtype);
  // Uploads host weights concatenated along dim 0 (fused QKV, fused gate/up) in `dtype`.
  absl::StatusOr<kernels::Tensor> Upload(const std::vector<HostWeight>& parts, DType dtype);
  absl::Status AllReduce(kernels::Tensor& tensor);
  absl::Status ReserveActivations(int num_tokens, int num_logits);

  ModelConfig config_;
  kernels::Backend* backend_;
  TensorParallelShard shard_;
  ShardLayout layout_;
  int head_dim_ = 0;
  int q_size_ = 0;
  int kv_size_ = 0;
  bool qk_norm_ = false;
  float attention_scale_ = 1.0f;

  std::vector<std::unique_ptr<kernels::DeviceMemory>> weight_memory_;
  size_t weight_bytes_ = 0;
  kernels::Tensor embed_tokens_, final_norm_, lm_head_;
  std::vector<Layer> layers_;
  std::unique_ptr<kernels::DeviceMemory> rope_cache_memory_;
  kernels::Tensor rope_cos_sin_;
  int rotary_dim_ = 0;

  std::vector<std::unique_ptr<kernels::DeviceMemory>> kv_memory_;
  std::vector<kernels::Tensor> k_cache_, v_cache_;

  GrowableBuffer residual_, normed_, qkv_, attn_out_, proj_out_, gate_up_, mlp_act_, gathered_, logits_,
      all_logits_;
};

}  // namespace tessera::engine
