#include "services/worker/engine/models/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "kernels/rope_cache.h"

namespace tessera::engine {
namespace {

using kernels::Tensor;

bool IsQwen3(const ModelConfig& c) { return c.architecture == "Qwen3ForCausalLM"; }

// Converts a host weight into `dtype` bytes at `dst` (host memory), in slices so that the float staging stays small.
void ConvertWeight(const HostWeight& w, DType dtype, std::byte* dst) {
  const int64_t n = w.numel();
  if (w.dtype == dtype) {
    std::memcpy(dst, w.data, static_cast<size_t>(n) * DTypeSize(dtype));
    return;
  }
  constexpr int64_t kSlice = 1 << 16;
  const int64_t num_slices = (n + kSlice - 1) / kSlice;
#pragma omp parallel
  {
    std::vector<float> staging(kSlice);
#pragma omp for schedule(static)
    for (int64_t s = 0; s < num_slices; ++s) {
      const int64_t begin = s * kSlice;
      const int64_t count = std::min(kSlice, n - begin);
      ConvertToFloat(w.dtype, static_cast<const std::byte*>(w.data) + begin * DTypeSize(w.dtype), staging.data(),
                     static_cast<size_t>(count));
      ConvertFromFloat(staging.data(), dtype, dst + begin * DTypeSize(dtype), static_cast<size_t>(count));
    }
  }
}

// Elements [begin, begin + count) along `dim` (0 or 1) of a 1-D or 2-D weight, copied out of the mapped file so
// that a rank keeps only its slice. Rows past the end along dim 0 are zeros: the padded tail of the last
// vocabulary shard.
HostWeight SliceWeight(HostWeight w, int dim, int64_t begin, int64_t count) {
  const int64_t rows = w.shape[0];
  const int64_t cols = w.shape.size() > 1 ? w.shape[1] : 1;
  if ((dim == 0 && begin == 0 && count == rows) || (dim == 1 && begin == 0 && count == cols)) return w;
  const size_t element = DTypeSize(w.dtype);
  HostWeight slice;
  slice.dtype = w.dtype;
  slice.shape = w.shape;
  slice.shape[dim] = count;
  slice.storage.assign(static_cast<size_t>(slice.numel()) * element, std::byte{0});
  const auto* src = static_cast<const std::byte*>(w.data);
  if (dim == 0) {
    const int64_t available = std::max<int64_t>(0, std::min(count, rows - begin));
    std::memcpy(slice.storage.data(), src + static_cast<size_t>(begin * cols) * element,
                static_cast<size_t>(available * cols) * element);
  } else {
    for (int64_t r = 0; r < rows; ++r) {
      std::memcpy(slice.storage.data() + static_cast<size_t>(r * count) * element,
                  src + static_cast<size_t>(r * cols + begin) * element, static_cast<size_t>(count) * element);
    }
  }
  slice.data = slice.storage.data();
  return slice;
}

}  // namespace

absl::StatusOr<ShardLayout> PlanShard(const ModelConfig& c, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size) {
    return absl::InvalidArgumentError(absl::StrCat("tensor-parallel rank ", rank, " of size ", size, " is invalid"));
  }
  if (c.num_attention_heads % size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor-parallel size ", size, " does not divide the model's ",
                                                   c.num_attention_heads, " attention heads"));
  }
  if (c.num_key_value_heads % size != 0 && size % c.num_key_value_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor-parallel size ", size, " neither divides nor is a multiple of the model's ",
                                                   c.num_key_value_heads, " key/value heads"));
  }
  if (c.intermediate_size % size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor-parallel size ", size, " does not divide intermediate_size ",
                                                   c.intermediate_size));
  }
  ShardLayout layout;
  layout.num_heads = c.num_attention_heads / size;
  if (c.num_key_value_heads >= size) {
    layout.num_kv_heads = c.num_key_value_heads / size;
    layout.first_kv_head = rank * layout.num_kv_heads;
  } else {
    layout.num_kv_heads = 1;
    layout.first_kv_head = rank / (size / c.num_key_value_heads);
  }
  layout.intermediate = c.intermediate_size / size;
  layout.vocab_rows = (c.vocab_size + size - 1) / size;
  layout.vocab_begin = rank * layout.vocab_rows;
  return layout;
}

const std::vector<std::string>& SupportedArchitectures() {
  static const std::vector<std::string> kArchitectures = {"LlamaForCausalLM", "MistralForCausalLM",
                                                          "Qwen2ForCausalLM", "Qwen3ForCausalLM"};
  return kArchitectures;
}

std::vector<WeightSpec> ListWeights(const ModelConfig& c) {
  const int64_t hidden = c.hidden_size, inter = c.intermediate_size, head_dim = c.head_dim;
  const int64_t q = static_cast<int64_t>(c.num_attention_heads) * head_dim;
  const int64_t kv = static_cast<int64_t>(c.num_key_value_heads) * head_dim;
  std::vector<WeightSpec> specs = {{"model.embed_tokens.weight", {c.vocab_size, hidden}}};
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    specs.push_back({p + "input_layernorm.weight", {hidden}});
    specs.push_back({p + "self_attn.q_proj.weight", {q, hidden}});
    specs.push_back({p + "self_attn.k_proj.weight", {kv, hidden}});
    specs.push_back({p + "self_attn.v_proj.weight", {kv, hidden}});
    if (c.attention_bias) {
      specs.push_back({p + "self_attn.q_proj.bias", {q}});
      specs.push_back({p + "self_attn.k_proj.bias", {kv}});
      specs.push_back({p + "self_attn.v_proj.bias", {kv}});
    }
    specs.push_back({p + "self_attn.o_proj.weight", {hidden, q}});
    if (IsQwen3(c)) {
      specs.push_back({p + "self_attn.q_norm.weight", {head_dim}});
      specs.push_back({p + "self_attn.k_norm.weight", {head_dim}});
    }
    specs.push_back({p + "post_attention_layernorm.weight", {hidden}});
    specs.push_back({p + "mlp.gate_proj.weight", {inter, hidden}});
    specs.push_back({p + "mlp.up_proj.weight", {inter, hidden}});
    specs.push_back({p + "mlp.down_proj.weight", {hidden, inter}});
  }
  specs.push_back({"model.norm.weight", {hidden}});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, hidden}});
  return specs;
}

absl::StatusOr<std::unique_ptr<LlamaModel>> LlamaModel::Load(const ModelConfig& config, const WeightSource& source,
                                                             DType weight_dtype, int max_positions,
                                                             kernels::Backend* backend,
                                                             const TensorParallelShard& shard) {
  const auto& supported = SupportedArchitectures();
  if (std::find(supported.begin(), supported.end(), config.architecture) == supported.end()) {
    return absl::InvalidArgumentError(absl::StrCat("model architecture '", config.architecture,
                                                   "' is not supported; supported architectures: ",
                                                   absl::StrJoin(supported, ", ")));
  }
  if (config.hidden_act != "silu") {
    return absl::InvalidArgumentError(
        absl::StrCat("hidden_act '", config.hidden_act, "' is not supported; the Llama family uses 'silu'"));
  }
  if (!backend->SupportsWeightDType(weight_dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("the ", std::string(backend->name()), " backend cannot run ",
                                                   std::string(DTypeName(weight_dtype)), " weights"));
  }
  ASSIGN_OR_RETURN(ShardLayout layout, PlanShard(config, shard.rank, shard.size));
  if (shard.size > 1 && shard.communicator == nullptr) {
    return absl::InvalidArgumentError("a tensor-parallel shard needs a communicator");
  }
  auto model = std::unique_ptr<LlamaModel>(new LlamaModel(config, backend, shard, layout));
  model->head_dim_ = config.head_dim;
  model->q_size_ = layout.num_heads * config.head_dim;
  model->kv_size_ = layout.num_kv_heads * config.head_dim;
  model->qk_norm_ = IsQwen3(config);
  model->attention_scale_ = 1.0f / std::sqrt(static_cast<float>(config.head_dim));
  RETURN_IF_ERROR(model->LoadWeights(source, weight_dtype));

  kernels::RopeParameters rope;
  rope.rotary_dim = config.head_dim;
  rope.theta = config.rope_theta;
  if (config.rope_scaling) {
    rope.scaling_type = config.rope_scaling->rope_type;
    rope.factor = config.rope_scaling->factor;
    rope.low_freq_factor = config.rope_scaling->low_freq_factor;
    rope.high_freq_factor = config.rope_scaling->high_freq_factor;
    rope.original_max_position_embeddings = config.rope_scaling->original_max_position_embeddings;
  }
  ASSIGN_OR_RETURN(std::vector<float> cos_sin, kernels::BuildRopeCosSinCache(rope, max_positions));
  const size_t rope_bytes = cos_sin.size() * sizeof(float);
  ASSIGN_OR_RETURN(model->rope_cache_memory_, backend->Allocate(rope_bytes));
  backend->CopyToDevice(model->rope_cache_memory_->data(), cos_sin.data(), rope_bytes);
  RETURN_IF_ERROR(backend->Synchronize());
  model->rotary_dim_ = rope.rotary_dim;
  model->rope_cos_sin_ = Tensor::Make2D(model->rope_cache_memory_->data(), DType::kF32, max_positions, rope.rotary_dim);
  return model;
}

absl::StatusOr<Tensor> LlamaModel::Upload(const std::vector<HostWeight>& parts, DType dtype) {
  int64_t rows = 0;
  for (const HostWeight& part : parts) rows += part.shape[0];
  const int64_t cols = parts[0].shape.size() > 1 ? parts[0].shape[1] : 1;
  const size_t bytes = static_cast<size_t>(rows * cols) * DTypeSize(dtype);
  ASSIGN_OR_RETURN(auto memory, backend_->Allocate(bytes));
  std::vector<std::byte> staging;
  size_t offset = 0;
  for (const HostWeight& part : parts) {
    const size_t part_bytes = static_cast<size_t>(part.numel()) * DTypeSize(dtype);
    staging.resize(part_bytes);
    ConvertWeight(part, dtype, staging.data());
    backend_->CopyToDevice(static_cast<std::byte*>(memory->data()) + offset, staging.data(), part_bytes);
    RETURN_IF_ERROR(backend_->Synchronize());  // the staging buffer is reused for the next part
    offset += part_bytes;
  }
  Tensor tensor = parts[0].shape.size() > 1 ? Tensor::Make2D(memory->data(), dtype, rows, cols)
                                            : Tensor::Make1D(memory->data(), dtype, rows);
  weight_bytes_ += bytes;
  weight_memory_.push_back(std::move(memory));
  return tensor;
}

absl::Status LlamaModel::AllReduce(Tensor& tensor) {
  if (shard_.size == 1 && shard_.communicator == nullptr) return absl::OkStatus();
  return shard_.communicator->AllReduceSum(tensor);
}

void LlamaModel::LocalTokenIds(int32_t* ids, int count) const {
  if (shard_.size == 1) return;
  const int64_t end = std::min<int64_t>(layout_.vocab_begin + layout_.vocab_rows, config_.vocab_size);
  for (int i = 0; i < count; ++i) {
    ids[i] = ids[i] >= layout_.vocab_begin && ids[i] < end ? static_cast<int32_t>(ids[i] - layout_.vocab_begin) : -1;
  }
}

absl::Status LlamaModel::LoadWeights(const WeightSource& source, DType weight_dtype) {
  const ModelConfig& c = config_;
  const int64_t hidden = c.hidden_size;
  const int64_t inter = c.intermediate_size;
  const int64_t q_full = static_cast<int64_t>(c.num_attention_heads) * head_dim_;
  const int64_t kv_full = static_cast<int64_t>(c.num_key_value_heads) * head_dim_;
  const int rank = shard_.rank;
  // Each weight is read whole from the mapping and sliced at once, so a rank only keeps (and uploads) its part:
  // column-parallel weights by rows, row-parallel ones by columns, vocabulary weights by padded row blocks.
  auto whole = [&](const std::string& name, std::vector<int64_t> shape) { return source.Load(name, shape); };
  auto rows = [&](const std::string& name, std::vector<int64_t> shape, int64_t begin,
                  int64_t count) -> absl::StatusOr<HostWeight> {
    ASSIGN_OR_RETURN(HostWeight w, source.Load(name, shape));
    return SliceWeight(std::move(w), 0, begin, count);
  };
  auto columns = [&](const std::string& name, std::vector<int64_t> shape, int64_t begin,
                     int64_t count) -> absl::StatusOr<HostWeight> {
    ASSIGN_OR_RETURN(HostWeight w, source.Load(name, shape));
    return SliceWeight(std::move(w), 1, begin, count);
  };
  const int64_t q_begin = rank * q_size_;
  const int64_t kv_begin = static_cast<int64_t>(layout_.first_kv_head) * head_dim_;
  const int64_t inter_begin = rank * layout_.intermediate;

  // Norm weights are tiny and stay float32 for accuracy.
  ASSIGN_OR_RETURN(HostWeight embed, rows("model.embed_tokens.weight", {c.vocab_size, hidden}, layout_.vocab_begin,
                                          layout_.vocab_rows));
  ASSIGN_OR_RETURN(embed_tokens_, Upload({embed}, weight_dtype));
  ASSIGN_OR_RETURN(HostWeight norm, whole("model.norm.weight", {hidden}));
  ASSIGN_OR_RETURN(final_norm_, Upload({norm}, DType::kF32));
  if (source.Contains("lm_head.weight") && !c.tie_word_embeddings) {
    ASSIGN_OR_RETURN(HostWeight head,
                     rows("lm_head.weight", {c.vocab_size, hidden}, layout_.vocab_begin, layout_.vocab_rows));
    ASSIGN_OR_RETURN(lm_head_, Upload({head}, weight_dtype));
  } else if (c.tie_word_embeddings) {
    lm_head_ = embed_tokens_;
  } else {
    return absl::NotFoundError(
        "tensor 'lm_head.weight' not found and config.json does not set tie_word_embeddings");
  }
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    Layer layer;
    ASSIGN_OR_RETURN(HostWeight input_norm, whole(p + "input_layernorm.weight", {hidden}));
    ASSIGN_OR_RETURN(layer.input_norm, Upload({input_norm}, DType::kF32));
    ASSIGN_OR_RETURN(HostWeight q, rows(p + "self_attn.q_proj.weight", {q_full, hidden}, q_begin, q_size_));
    ASSIGN_OR_RETURN(HostWeight k, rows(p + "self_attn.k_proj.weight", {kv_full, hidden}, kv_begin, kv_size_));
    ASSIGN_OR_RETURN(HostWeight v, rows(p + "self_attn.v_proj.weight", {kv_full, hidden}, kv_begin, kv_size_));
    ASSIGN_OR_RETURN(layer.qkv_weight, Upload({q, k, v}, weight_dtype));
    if (c.attention_bias) {
      ASSIGN_OR_RETURN(HostWeight qb, rows(p + "self_attn.q_proj.bias", {q_full}, q_begin, q_size_));
      ASSIGN_OR_RETURN(HostWeight kb, rows(p + "self_attn.k_proj.bias", {kv_full}, kv_begin, kv_size_));
      ASSIGN_OR_RETURN(HostWeight vb, rows(p + "self_attn.v_proj.bias", {kv_full}, kv_begin, kv_size_));
      ASSIGN_OR_RETURN(layer.qkv_bias, Upload({qb, kb, vb}, DType::kF32));
      layer.has_qkv_bias = true;
    }
    ASSIGN_OR_RETURN(HostWeight o, columns(p + "self_attn.o_proj.weight", {hidden, q_full}, q_begin, q_size_));
    ASSIGN_OR_RETURN(layer.o_weight, Upload({o}, weight_dtype));
    if (qk_norm_) {
      ASSIGN_OR_RETURN(HostWeight q_norm, whole(p + "self_attn.q_norm.weight", {head_dim_}));
      ASSIGN_OR_RETURN(layer.q_norm, Upload({q_norm}, DType::kF32));
      ASSIGN_OR_RETURN(HostWeight k_norm, whole(p + "self_attn.k_norm.weight", {head_dim_}));
      ASSIGN_OR_RETURN(layer.k_norm, Upload({k_norm}, DType::kF32));
    }
    ASSIGN_OR_RETURN(HostWeight post_norm, whole(p + "post_attention_layernorm.weight", {hidden}));
    ASSIGN_OR_RETURN(layer.post_norm, Upload({post_norm}, DType::kF32));
    ASSIGN_OR_RETURN(HostWeight gate, rows(p + "mlp.gate_proj.weight", {inter, hidden}, inter_begin, layout_.intermediate));
    ASSIGN_OR_RETURN(HostWeight up, rows(p + "mlp.up_proj.weight", {inter, hidden}, inter_begin, layout_.intermediate));
    ASSIGN_OR_RETURN(layer.gate_up_weight, Upload({gate, up}, weight_dtype));
    ASSIGN_OR_RETURN(HostWeight down,
                     columns(p + "mlp.down_proj.weight", {hidden, inter}, inter_begin, layout_.intermediate));
    ASSIGN_OR_RETURN(layer.down_weight, Upload({down}, weight_dtype));
    layers_.push_back(layer);
  }
  return absl::OkStatus();
}

size_t LlamaModel::KvBytesPerBlock(int block_size) const {
  return 2ull * config_.num_hidden_layers * block_size * kv_size_ * DTypeSize(backend_->activation_dtype());
}

absl::Status LlamaModel::AllocateKvCache(int num_blocks, int block_size) {
  const DType dtype = backend_->activation_dtype();
  const size_t layer_bytes = static_cast<size_t>(num_blocks) * block_size * kv_size_ * DTypeSize(dtype);
  kv_memory_.clear();
  k_cache_.clear();
  v_cache_.clear();
  for (int l = 0; l < config_.num_hidden_layers; ++l) {
    for (auto* caches : {&k_cache_, &v_cache_}) {
      ASSIGN_OR_RETURN(auto memory, backend_->Allocate(layer_bytes));
      caches->push_back(Tensor::Make3D(memory->data(), dtype, static_cast<int64_t>(num_blocks) * block_size,
                                       layout_.num_kv_heads, head_dim_));
      kv_memory_.push_back(std::move(memory));
    }
  }
  return absl::OkStatus();
}

absl::Status LlamaModel::ReserveActivations(int num_tokens, int num_logits) {
  const size_t act = DTypeSize(backend_->activation_dtype());
  const size_t t = static_cast<size_t>(num_tokens);
  RETURN_IF_ERROR(residual_.Reserve(*backend_, t * config_.hidden_size * act));
  RETURN_IF_ERROR(normed_.Reserve(*backend_, t * config_.hidden_size * act));
  RETURN_IF_ERROR(qkv_.Reserve(*backend_, t * (q_size_ + 2 * kv_size_) * act));
  RETURN_IF_ERROR(attn_out_.Reserve(*backend_, t * q_size_ * act));
  RETURN_IF_ERROR(proj_out_.Reserve(*backend_, t * config_.hidden_size * act));
  RETURN_IF_ERROR(gate_up_.Reserve(*backend_, t * 2 * layout_.intermediate * act));
  RETURN_IF_ERROR(mlp_act_.Reserve(*backend_, t * layout_.intermediate * act));
  RETURN_IF_ERROR(gathered_.Reserve(*backend_, static_cast<size_t>(num_logits) * config_.hidden_size * act));
  const size_t logits_bytes = static_cast<size_t>(num_logits) * layout_.vocab_rows * sizeof(float);
  RETURN_IF_ERROR(logits_.Reserve(*backend_, logits_bytes));
  if (shard_.size > 1) RETURN_IF_ERROR(all_logits_.Reserve(*backend_, logits_bytes * shard_.size));
  return absl::OkStatus();
}

absl::StatusOr<Tensor> LlamaModel::Forward(const ForwardInputs& in) {
  if (k_cache_.empty()) return absl::FailedPreconditionError("KV cache not allocated");
  RETURN_IF_ERROR(ReserveActivations(in.num_tokens, in.num_logits));
  kernels::Backend& be = *backend_;
  const DType act = be.activation_dtype();
  const int64_t t = in.num_tokens;
  const int64_t hidden = config_.hidden_size;
  const float eps = static_cast<float>(config_.rms_norm_eps);

  Tensor residual = Tensor::Make2D(residual_.data(), act, t, hidden);
  Tensor normed = Tensor::Make2D(normed_.data(), act, t, hidden);
  Tensor qkv = Tensor::Make2D(qkv_.data(), act, t, q_size_ + 2 * kv_size_);
  Tensor attn_out = Tensor::Make3D(attn_out_.data(), act, t, layout_.num_heads, head_dim_);
  Tensor attn_out_2d = Tensor::Make2D(attn_out_.data(), act, t, q_size_);
  Tensor proj_out = Tensor::Make2D(proj_out_.data(), act, t, hidden);
  Tensor gate_up = Tensor::Make2D(gate_up_.data(), act, t, 2 * layout_.intermediate);
  Tensor mlp_act = Tensor::Make2D(mlp_act_.data(), act, t, layout_.intermediate);

  // With a vocabulary shard, ids of other ranks look up zero rows and the all-reduce fills them in.
  be.Embedding(in.input_ids, embed_tokens_, residual);
  RETURN_IF_ERROR(AllReduce(residual));
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& layer = layers_[l];
    if (l == 0) {
      be.RmsNorm(residual, layer.input_norm, eps, normed);
    } else {
      be.AddRmsNorm(residual, proj_out, layer.input_norm, eps, normed);
    }
    be.Gemm(normed, layer.qkv_weight, layer.has_qkv_bias ? &layer.qkv_bias : nullptr, qkv);
    Tensor q = qkv.ColumnSlice(0, layout_.num_heads, head_dim_);
    Tensor k = qkv.ColumnSlice(q_size_, layout_.num_kv_heads, head_dim_);
    Tensor v = qkv.ColumnSlice(q_size_ + kv_size_, layout_.num_kv_heads, head_dim_);
    if (qk_norm_) {
      be.HeadRmsNorm(q, layer.q_norm, eps);
      be.HeadRmsNorm(k, layer.k_norm, eps);
    }
    be.Rope(in.positions, q, k, rope_cos_sin_, rotary_dim_);
    be.WriteKvCache(k, v, in.slot_mapping, k_cache_[l], v_cache_[l]);
    be.PagedAttention(q, k_cache_[l], v_cache_[l], in.attention, attention_scale_, attn_out);
    be.Gemm(attn_out_2d, layer.o_weight, nullptr, proj_out);
    RETURN_IF_ERROR(AllReduce(proj_out));
    be.AddRmsNorm(residual, proj_out, layer.post_norm, eps, normed);
    be.Gemm(normed, layer.gate_up_weight, nullptr, gate_up);
    be.SiluMul(gate_up, mlp_act);
    be.Gemm(mlp_act, layer.down_weight, nullptr, proj_out);
    RETURN_IF_ERROR(AllReduce(proj_out));
  }
  be.AddRmsNorm(residual, proj_out, final_norm_, eps, normed);

  Tensor gathered = Tensor::Make2D(gathered_.data(), act, in.num_logits, hidden);
  be.GatherRows(normed, in.logits_indices, gathered);
  Tensor logits = Tensor::Make2D(logits_.data(), DType::kF32, in.num_logits, layout_.vocab_rows);
  be.Gemm(gathered, lm_head_, nullptr, logits);
  if (shard_.size == 1) return logits;
  Tensor all_logits =
      Tensor::Make3D(all_logits_.data(), DType::kF32, shard_.size, in.num_logits, layout_.vocab_rows);
  RETURN_IF_ERROR(shard_.communicator->AllGather(logits, all_logits));
  return all_logits;
}

}  // namespace tessera::engine
