#include "services/worker/engine/llm_engine.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/backend.h"
#include "services/worker/engine/weight_source.h"

namespace tessera::engine {
namespace {

constexpr int64_t kDefaultCpuKvCacheBytes = 1ll << 30;

// "auto" keeps the checkpoint's type where the backend multiplies it directly; otherwise (float32 or float16
// checkpoints on a GPU, whose matrix products take bfloat16) the weights are converted to bfloat16 while loading.
absl::StatusOr<DType> ResolveWeightDType(const std::string& requested, const ModelConfig& config,
                                         const kernels::Backend& backend) {
  if (requested == "auto") {
    if (!backend.SupportsWeightDType(config.torch_dtype) && backend.SupportsWeightDType(DType::kBF16)) {
      return DType::kBF16;
    }
    return config.torch_dtype;
  }
  if (auto dtype = DTypeFromTorchName(requested)) return *dtype;
  return absl::InvalidArgumentError(
      absl::StrCat("--dtype '", requested, "' is not one of auto, float32, bfloat16, float16"));
}

// Runs one forward pass of the largest step the scheduler can form (max_num_batched_tokens prompt tokens spread
// over max_num_seqs sequences, one logits row each) so that every activation buffer reaches its peak size. The
// tokens write no cache slot and read one cache block, so a one-block cache is enough.
absl::Status RunLargestStep(LlamaModel& model, kernels::Backend& backend, const EngineConfig& config,
                            int max_model_len) {
  const int64_t token_cap = static_cast<int64_t>(config.max_num_seqs) * max_model_len;
  const int num_tokens =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(config.max_num_batched_tokens, token_cap)));
  const int num_seqs = std::min(config.max_num_seqs, num_tokens);
  const int max_query = (num_tokens + num_seqs - 1) / num_seqs;
  const int max_blocks = (max_query + config.block_size - 1) / config.block_size;
  // ids | positions | slots | query_start_loc | seq_lens | block_tables (all block 0) | logits_indices
  const size_t pos_off = num_tokens, slot_off = 2 * pos_off, qsl_off = 3 * pos_off;
  const size_t seq_off = qsl_off + num_seqs + 1, bt_off = seq_off + num_seqs;
  const size_t li_off = bt_off + static_cast<size_t>(num_seqs) * max_blocks;
  std::vector<int32_t> ints(li_off + num_seqs, 0);
  int token = 0;
  for (int s = 0; s < num_seqs; ++s) {
    const int len = num_tokens / num_seqs + (s < num_tokens % num_seqs ? 1 : 0);
    for (int i = 0; i < len; ++i) {
      ints[pos_off + token + i] = i;
      ints[slot_off + token + i] = -1;
    }
    token += len;
    ints[qsl_off + s + 1] = token;
    ints[seq_off + s] = len;
    ints[li_off + s] = token - 1;
  }
  ASSIGN_OR_RETURN(auto memory, backend.Allocate(ints.size() * sizeof(int32_t)));
  backend.CopyToDevice(memory->data(), ints.data(), ints.size() * sizeof(int32_t));
  auto* d = static_cast<int32_t*>(memory->data());
  ForwardInputs in;
  in.num_tokens = num_tokens;
  in.input_ids = kernels::Tensor::Make1D(d, DType::kI32, num_tokens);
  in.positions = kernels::Tensor::Make1D(d + pos_off, DType::kI32, num_tokens);
  in.slot_mapping = kernels::Tensor::Make1D(d + slot_off, DType::kI32, num_tokens);
  in.attention.query_start_loc = kernels::Tensor::Make1D(d + qsl_off, DType::kI32, num_seqs + 1);
  in.attention.seq_lens = kernels::Tensor::Make1D(d + seq_off, DType::kI32, num_seqs);
  in.attention.block_tables = kernels::Tensor::Make2D(d + bt_off, DType::kI32, num_seqs, max_blocks);
  in.attention.num_seqs = num_seqs;
  in.attention.max_query_len = max_query;
  in.attention.max_seq_len = max_query;
  in.attention.block_size = config.block_size;
  in.num_logits = num_seqs;
  in.logits_indices = kernels::Tensor::Make1D(d + li_off, DType::kI32, num_seqs);
  ASSIGN_OR_RETURN(kernels::Tensor logits, model.Forward(in));
  (void)logits;
  return backend.Synchronize();
}

// The GPU's KV budget: gpu_memory_utilization of the device minus everything in use after the weights are loaded
// and the largest step has run once (weights, activation buffers, library workspaces, the CUDA context and
// whatever else holds memory on the device).
absl::StatusOr<int64_t> PlanKvCacheBytes(LlamaModel& model, kernels::Backend& backend, const EngineConfig& config,
                                         int max_model_len, EngineInfo& info) {
  const double utilization = config.gpu_memory_utilization;
  if (!(utilization > 0.0 && utilization <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--gpu-memory-utilization ", utilization, " must be in (0, 1]"));
  }
  const kernels::DeviceInfo before = backend.Info();
  RETURN_IF_ERROR(model.AllocateKvCache(1, config.block_size));
  RETURN_IF_ERROR(RunLargestStep(model, backend, config, max_model_len));
  const kernels::DeviceInfo after = backend.Info();
  info.device_memory_bytes = after.total_memory_bytes;
  info.gpu_memory_utilization = utilization;
  info.activation_peak_bytes = before.free_memory_bytes > after.free_memory_bytes
                                   ? before.free_memory_bytes - after.free_memory_bytes
                                   : 0;
  const int64_t in_use = static_cast<int64_t>(after.total_memory_bytes - after.free_memory_bytes);
  const int64_t budget = static_cast<int64_t>(utilization * static_cast<double>(after.total_memory_bytes)) - in_use;
  if (budget <= 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no GPU memory is left for the KV cache: ", in_use, " of ", after.total_memory_bytes,
        " bytes are in use after loading the weights and running the largest step, more than "
        "--gpu-memory-utilization ", utilization, " allows; raise it or lower --max-num-batched-tokens"));
  }
  return budget;
}

}  // namespace

LLMEngine::~LLMEngine() {
  // Followers wait for steps; tell them the leader is going so they end cleanly instead of timing out.
  if (runner_ && fatal_error_.ok()) runner_->StopFollowers().IgnoreError();
}

absl::StatusOr<std::unique_ptr<LLMEngine>> LLMEngine::Create(const EngineConfig& config,
                                                             const TensorParallelGroup* group) {
  auto engine = std::unique_ptr<LLMEngine>(new LLMEngine());
  engine->config_ = config;
  if (config.tensor_parallel_size < 1) return absl::InvalidArgumentError("--tensor-parallel-size must be at least 1");
  const int tp_size = group ? group->links->world_size() : 1;
  if (tp_size != config.tensor_parallel_size) {
    return absl::InvalidArgumentError(absl::StrCat("--tensor-parallel-size ", config.tensor_parallel_size,
                                                   " needs a group of as many ranks (have ", tp_size, ")"));
  }
  if (config.block_size < 1) return absl::InvalidArgumentError("--block-size must be at least 1");
  if (config.max_num_seqs < 1) return absl::InvalidArgumentError("--max-num-seqs must be at least 1");
  if (config.max_num_batched_tokens < 1) return absl::InvalidArgumentError("--max-num-batched-tokens must be at least 1");
  if (config.load_format != "auto" && config.load_format != "safetensors" && config.load_format != "dummy") {
    return absl::InvalidArgumentError(
        absl::StrCat("--load-format '", config.load_format, "' is not one of auto, safetensors, dummy"));
  }

  ASSIGN_OR_RETURN(engine->model_config_, LoadModelConfig(config.model));
  ASSIGN_OR_RETURN(engine->generation_config_, LoadGenerationConfig(config.model));
  const ModelConfig& mc = engine->model_config_;

  int max_model_len = config.max_model_len.value_or(mc.max_position_embeddings);
  if (max_model_len < 1) return absl::InvalidArgumentError("--max-model-len must be at least 1");
  if (max_model_len > mc.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("--max-model-len ", max_model_len,
                                                   " exceeds the model's max_position_embeddings (",
                                                   mc.max_position_embeddings, ")"));
  }
  if (mc.sliding_window && *mc.sliding_window < max_model_len) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the model uses sliding-window attention (window ", *mc.sliding_window,
        "), which this engine does not implement; pass --max-model-len ", *mc.sliding_window, " or less"));
  }
  engine->info_.max_model_len = max_model_len;

  ASSIGN_OR_RETURN(engine->backend_, kernels::CreateBackend(config.device));
  ASSIGN_OR_RETURN(DType weight_dtype, ResolveWeightDType(config.dtype, mc, *engine->backend_));
  TensorParallelShard shard;
  if (group != nullptr) {
    // Checked before the communicator exists, so a bad size is a clear startup error on every rank.
    RETURN_IF_ERROR(PlanShard(mc, group->links->rank(), tp_size).status());
    ASSIGN_OR_RETURN(engine->communicator_,
                     parallel::CreateCommunicator(group->links, group->nccl_unique_id, engine->backend_.get()));
    engine->tp_links_ = group->links;
    shard = {group->links->rank(), tp_size, engine->communicator_.get()};
  }

  std::unique_ptr<WeightSource> source;
  if (config.load_format == "dummy") {
    source = std::make_unique<DummyWeightSource>(mc, config.seed);
  } else {
    ASSIGN_OR_RETURN(source, SafetensorsWeightSource::Open(config.model));
  }
  ASSIGN_OR_RETURN(engine->model_,
                   LlamaModel::Load(mc, *source, weight_dtype, max_model_len, engine->backend_.get(), shard));
  source.reset();

  // The KV cache takes the configured budget, in whole blocks; by default no more than the sequence cap can use.
  const int blocks_per_seq = (max_model_len + config.block_size - 1) / config.block_size;
  const size_t block_bytes = engine->model_->KvBytesPerBlock(config.block_size);
  int64_t budget = config.kv_cache_memory_bytes;
  if (budget <= 0 && engine->backend_->name() != "cpu") {
    ASSIGN_OR_RETURN(budget,
                     PlanKvCacheBytes(*engine->model_, *engine->backend_, config, max_model_len, engine->info_));
  }
  int64_t num_blocks = 0;
  if (budget <= 0) {
    num_blocks = std::min<int64_t>(kDefaultCpuKvCacheBytes / static_cast<int64_t>(block_bytes),
                                   static_cast<int64_t>(blocks_per_seq) * config.max_num_seqs);
  } else {
    num_blocks = budget / static_cast<int64_t>(block_bytes);
  }
  if (num_blocks < blocks_per_seq) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the KV cache holds ", num_blocks * config.block_size, " tokens, fewer than one sequence of max_model_len ",
        max_model_len, "; raise --kv-cache-memory or lower --max-model-len"));
  }
  if (num_blocks > (1ll << 30) / config.block_size) num_blocks = (1ll << 30) / config.block_size;  // int32 slots
  if (engine->tp_links_ != nullptr) {
    // Block ids are shared by all ranks, so every rank takes the smallest cache any rank can hold.
    std::vector<int64_t> all(tp_size);
    RETURN_IF_ERROR(engine->tp_links_->AllGather(&num_blocks, sizeof(num_blocks), all.data()));
    num_blocks = *std::min_element(all.begin(), all.end());
  }
  RETURN_IF_ERROR(engine->model_->AllocateKvCache(static_cast<int>(num_blocks), config.block_size));

  engine->block_manager_ =
      std::make_unique<BlockManager>(static_cast<int>(num_blocks), config.block_size, config.enable_prefix_caching);
  SchedulerConfig scheduler_config{config.max_num_seqs, config.max_num_batched_tokens, SchedulingPolicy::kFcfs};
  if (config.scheduling_policy == "priority") {
    scheduler_config.policy = SchedulingPolicy::kPriority;
  } else if (config.scheduling_policy != "fcfs") {
    return absl::InvalidArgumentError(
        absl::StrCat("--scheduling-policy '", config.scheduling_policy, "' is not one of fcfs, priority"));
  }
  engine->scheduler_ = std::make_unique<Scheduler>(scheduler_config, engine->block_manager_.get());
  engine->runner_ = std::make_unique<ModelRunner>(engine->model_.get(), engine->backend_.get(), config.block_size,
                                                 engine->tp_links_);

  engine->eos_token_ids_ = engine->generation_config_.eos_token_ids;
  if (engine->eos_token_ids_.empty()) engine->eos_token_ids_ = mc.eos_token_ids;
  engine->sampler_ = std::make_unique<Sampler>(engine->eos_token_ids_);

  EngineInfo& info = engine->info_;
  info.backend = std::string(engine->backend_->name());
  info.weight_dtype = std::string(DTypeName(weight_dtype));
  info.weight_bytes = engine->model_->weight_bytes();
  info.num_kv_blocks = static_cast<int>(num_blocks);
  info.block_size = config.block_size;
  info.kv_capacity_tokens = num_blocks * config.block_size;
  info.kv_cache_bytes = static_cast<size_t>(num_blocks) * block_bytes;
  return engine;
}

SamplingParams LLMEngine::DefaultSamplingParams() const {
  return ::tessera::engine::DefaultSamplingParams(generation_config_);
}

absl::Status LLMEngine::ValidateRequest(std::vector<int32_t>& prompt_token_ids, const SamplingParams& params) const {
  RETURN_IF_ERROR(params.Validate());
  RETURN_IF_ERROR(ValidateAgainstModel(params, model_config_.vocab_size));
  if (params.truncate_prompt_tokens && *params.truncate_prompt_tokens > 0 &&
      static_cast<int>(prompt_token_ids.size()) > *params.truncate_prompt_tokens) {
    // Keep the last tokens, as vLLM does: the end of a prompt matters most for what follows.
    prompt_token_ids.erase(prompt_token_ids.begin(), prompt_token_ids.end() - *params.truncate_prompt_tokens);
  }
  if (prompt_token_ids.empty()) return absl::InvalidArgumentError("prompt must contain at least one token");
  for (int32_t id : prompt_token_ids) {
    if (id < 0 || id >= model_config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token id ", id, " is outside the vocabulary [0, ",
                                                     model_config_.vocab_size, ")"));
    }
  }
  const int prompt_len = static_cast<int>(prompt_token_ids.size());
  if (prompt_len >= info_.max_model_len) {
    return absl::InvalidArgumentError(absl::StrCat("prompt has ", prompt_len, " tokens, but max_model_len is ",
                                                   info_.max_model_len,
                                                   " and at least one token must be generated"));
  }
  return ValidateLength(params, prompt_len, info_.max_model_len);
}

absl::Status LLMEngine::AddRequest(const std::string& request_id, std::vector<int32_t> prompt_token_ids,
                                   const SamplingParams& params) {
  if (requests_.contains(request_id)) {
    return absl::AlreadyExistsError(absl::StrCat("request id '", request_id, "' is already in use"));
  }
  RETURN_IF_ERROR(ValidateRequest(prompt_token_ids, params));
  const int prompt_len = static_cast<int>(prompt_token_ids.size());

  auto parent = std::make_unique<ParentRequest>();
  parent->id = request_id;
  parent->prompt_token_ids = std::move(prompt_token_ids);
  parent->params = params;
  if (params.prompt_logprobs) parent->prompt_logprobs.emplace(prompt_len);
  const auto now = std::chrono::steady_clock::now();
  const int num_sequences = params.num_sequences();
  for (int i = 0; i < num_sequences; ++i) {
    auto r = std::make_unique<Request>();
    r->id = request_id;
    r->index = i;
    r->parent = parent.get();
    r->prompt_token_ids = parent->prompt_token_ids;
    r->params = params;
    // Each sequence of a seeded request gets its own reproducible stream.
    if (params.seed) r->params.seed = *params.seed + static_cast<uint64_t>(i);
    r->max_tokens = ResolveMaxTokens(params, prompt_len, info_.max_model_len);
    r->priority = params.priority;
    r->keep_all_logits = params.prompt_logprobs.has_value() && i == 0;
    r->arrival_order = next_arrival_++;
    r->arrival_time = now;
    r->sampling_state = SequenceSamplingState(r->prompt_token_ids);
    r->rng.seed(r->params.seed.value_or(config_.seed * 0x9e3779b97f4a7c15ull + r->arrival_order));
    scheduler_->Add(r.get());
    parent->sequences.push_back(std::move(r));
  }
  requests_.emplace(request_id, std::move(parent));
  return absl::OkStatus();
}

void LLMEngine::FinishSequence(Request& r, FinishReason reason) {
  if (r.is_finished()) return;
  r.finish_reason = reason;
  r.finish_time = std::chrono::steady_clock::now();
  scheduler_->Finish(&r);
  if (r.parent) ++r.parent->num_finished;
}

void LLMEngine::AppendToken(Request& r, const SampledToken& sampled) {
  const int32_t token = sampled.token_id;
  r.output_token_ids.push_back(token);
  r.sampling_state.Append(token);
  ++r.num_new_tokens;
  if (sampled.logprobs) {
    r.cumulative_logprob += sampled.logprobs->logprob;
    r.logprobs.push_back(*sampled.logprobs);
  }
  const auto now = std::chrono::steady_clock::now();
  if (!r.first_token_time) r.first_token_time = now;
  r.last_token_time = now;
  const auto& stops = r.params.stop_token_ids;
  FinishReason reason = FinishReason::kNone;
  if (!r.params.ignore_eos && std::find(eos_token_ids_.begin(), eos_token_ids_.end(), token) != eos_token_ids_.end()) {
    reason = FinishReason::kStop;
    r.stop_token = token;
  } else if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
    reason = FinishReason::kStop;
    r.stop_token = token;
  } else if (static_cast<int>(r.output_token_ids.size()) >= r.max_tokens || r.num_tokens() >= info_.max_model_len) {
    reason = FinishReason::kLength;
  }
  if (reason != FinishReason::kNone) FinishSequence(r, reason);
}

RequestOutput LLMEngine::MakeOutput(const ParentRequest& parent) const {
  RequestOutput out;
  out.request_id = parent.id;
  out.prompt_token_ids = parent.prompt_token_ids;
  out.prompt_logprobs = parent.prompt_logprobs;
  out.finished = parent.finished();
  std::vector<const Request*> sequences;
  for (const auto& r : parent.sequences) sequences.push_back(r.get());
  const int n = parent.params.n;
  if (static_cast<int>(sequences.size()) > n) {
    // best_of: keep the n sequences the model found most likely.
    std::stable_sort(sequences.begin(), sequences.end(), [](const Request* a, const Request* b) {
      return a->cumulative_logprob > b->cumulative_logprob;
    });
    sequences.resize(n);
  }
  const Request& first = *parent.sequences[0];
  out.num_cached_tokens = first.num_cached_tokens;
  out.metrics.arrival_time = first.arrival_time;
  for (const Request* r : sequences) {
    CompletionOutput c;
    c.index = r->index;
    c.token_ids = r->output_token_ids;
    c.num_new_tokens = r->num_new_tokens;
    if (r->params.logprobs) {
      c.cumulative_logprob = r->cumulative_logprob;
      c.logprobs = r->logprobs;
    }
    c.finish_reason = r->finish_reason;
    c.stop_token = r->stop_token;
    c.stop_string = r->stop_string;
    out.num_preemptions += r->num_preemptions;
    auto earliest = [](auto& into, const auto& candidate) {
      if (candidate && (!into || *candidate < *into)) into = candidate;
    };
    auto latest = [](auto& into, const auto& candidate) {
      if (candidate && (!into || *candidate > *into)) into = candidate;
    };
    earliest(out.metrics.first_scheduled_time, r->first_scheduled_time);
    earliest(out.metrics.first_token_time, r->first_token_time);
    latest(out.metrics.last_token_time, r->last_token_time);
    latest(out.metrics.finished_time, r->finish_time);
    out.outputs.push_back(std::move(c));
  }
  // Reported in index order whatever the ranking was.
  std::sort(out.outputs.begin(), out.outputs.end(),
            [](const CompletionOutput& a, const CompletionOutput& b) { return a.index < b.index; });
  return out;
}

void LLMEngine::RecordPromptLogprobs(Request& r, int chunk_start, int chunk_tokens, const StepLogits& logits,
                                     int chunk) {
  auto& prompt_logprobs = *r.parent->prompt_logprobs;
  const int prompt_len = static_cast<int>(r.prompt_token_ids.size());
  const int num_top = *r.params.prompt_logprobs;
  for (int j = 0; j < chunk_tokens; ++j) {
    const int next = chunk_start + j + 1;  // the row at position p predicts the token at p + 1
    if (next >= prompt_len) break;
    const float* row = logits.row(logits.first_row[chunk] + j);
    prompt_logprobs[next] = ComputeTokenLogprobs(std::span<const float>(row, logits.vocab_size),
                                                 r.prompt_token_ids[next], num_top);
  }
}

absl::Status LLMEngine::CheckTensorParallelGroup() {
  RETURN_IF_ERROR(fatal_error_);
  absl::Status status = runner_->CheckFollowers();
  if (!status.ok()) fatal_error_ = status;
  return status;
}

absl::StatusOr<std::vector<RequestOutput>> LLMEngine::Step() {
  RETURN_IF_ERROR(fatal_error_);
  std::vector<RequestOutput> outputs;
  SchedulerOutput step = scheduler_->Schedule();
  num_preemptions_ += static_cast<int64_t>(step.preempted.size());
  if (step.empty()) return outputs;
  const auto now = std::chrono::steady_clock::now();
  for (const ScheduledChunk& c : step.chunks)
    if (!c.request->first_scheduled_time) c.request->first_scheduled_time = now;
  absl::StatusOr<const StepLogits*> executed = runner_->Execute(step.chunks, *block_manager_);
  if (!executed.ok()) {
    // A tensor-parallel group that failed mid-step is out of step for good: every later step would fail too.
    if (tp_links_ != nullptr) fatal_error_ = executed.status();
    return executed.status();
  }
  const StepLogits* logits = *executed;

  std::vector<ParentRequest*> touched;
  sample_chunks_.clear();
  for (size_t i = 0; i < step.chunks.size(); ++i) {
    Request& r = *step.chunks[i].request;
    const int start = r.num_computed_tokens;
    r.num_computed_tokens += step.chunks[i].num_tokens;
    block_manager_->CacheFullBlocks(r);
    if (r.keep_all_logits && r.parent && r.parent->prompt_logprobs) {
      RecordPromptLogprobs(r, start, step.chunks[i].num_tokens, *logits, static_cast<int>(i));
    }
    if (r.num_computed_tokens < r.num_tokens()) continue;  // a prompt chunk; the prompt is not done yet
    sample_chunks_.push_back(static_cast<int>(i));
  }
  // Each sequence samples from its own row with its own state and generator, so the rows are independent and are
  // sampled in parallel: one row of a 128k vocabulary takes about a millisecond on one core, which would otherwise
  // dominate a large decode batch. Tokens are then appended in schedule order, as before.
  sampled_.resize(sample_chunks_.size());
  const int num_samples = static_cast<int>(sample_chunks_.size());
#pragma omp parallel for schedule(dynamic, 1) if (num_samples > 1)
  for (int k = 0; k < num_samples; ++k) {
    const int i = sample_chunks_[k];
    Request& r = *step.chunks[i].request;
    const int row = logits->first_row[i] + logits->num_rows[i] - 1;
    const std::span<const float> row_logits(logits->row(row), logits->vocab_size);
    SampledToken sampled = sampler_->Sample(row_logits, r.params, r.sampling_state, r.rng);
    if (!sampled.logprobs && r.parent && r.params.best_of && *r.params.best_of > r.params.n) {
      // best_of ranks sequences by cumulative logprob even when the user asked for no logprobs.
      sampled.logprobs = ComputeTokenLogprobs(row_logits, sampled.token_id, 0);
    }
    sampled_[k] = std::move(sampled);
  }
  for (int k = 0; k < num_samples; ++k) {
    Request& r = *step.chunks[sample_chunks_[k]].request;
    AppendToken(r, sampled_[k]);
    if (r.parent && std::find(touched.begin(), touched.end(), r.parent) == touched.end()) touched.push_back(r.parent);
  }
  for (ParentRequest* parent : touched) {
    const bool holds_back = parent->params.best_of && *parent->params.best_of > parent->params.n;
    if (holds_back && !parent->finished()) continue;
    outputs.push_back(MakeOutput(*parent));
    for (auto& r : parent->sequences) r->num_new_tokens = 0;
  }
  for (ParentRequest* parent : touched) {
    if (parent->finished()) requests_.erase(parent->id);
  }
  return outputs;
}

std::optional<RequestOutput> LLMEngine::AbortRequest(const std::string& request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return std::nullopt;
  for (auto& r : it->second->sequences) FinishSequence(*r, FinishReason::kAbort);
  RequestOutput out = MakeOutput(*it->second);
  requests_.erase(it);
  return out;
}

std::optional<RequestOutput> LLMEngine::StopSequence(const std::string& request_id, int index,
                                                     const std::string& stop_string) {
  auto it = requests_.find(request_id);
  if (it == requests_.end() || index < 0 || index >= static_cast<int>(it->second->sequences.size())) {
    return std::nullopt;
  }
  Request& r = *it->second->sequences[index];
  r.stop_string = stop_string;
  FinishSequence(r, FinishReason::kStop);
  if (!it->second->finished()) return std::nullopt;
  RequestOutput out = MakeOutput(*it->second);
  requests_.erase(it);
  return out;
}

}  // namespace tessera::engine
