#include "services/worker/engine/llm_engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/backend.h"
#include "services/worker/engine/sampler.h"
#include "services/worker/engine/weight_source.h"

namespace tessera::engine {
namespace {

constexpr int64_t kDefaultCpuKvCacheBytes = 1ll << 30;

absl::StatusOr<DType> ResolveWeightDType(const std::string& requested, const ModelConfig& config) {
  if (requested == "auto") return config.torch_dtype;
  if (auto dtype = DTypeFromTorchName(requested)) return *dtype;
  return absl::InvalidArgumentError(
      absl::StrCat("--dtype '", requested, "' is not one of auto, float32, bfloat16, float16"));
}

}  // namespace

LLMEngine::~LLMEngine() = default;

absl::StatusOr<std::unique_ptr<LLMEngine>> LLMEngine::Create(const EngineConfig& config) {
  auto engine = std::unique_ptr<LLMEngine>(new LLMEngine());
  engine->config_ = config;
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
  ASSIGN_OR_RETURN(DType weight_dtype, ResolveWeightDType(config.dtype, mc));

  std::unique_ptr<WeightSource> source;
  if (config.load_format == "dummy") {
    source = std::make_unique<DummyWeightSource>(mc, config.seed);
  } else {
    ASSIGN_OR_RETURN(source, SafetensorsWeightSource::Open(config.model));
  }
  ASSIGN_OR_RETURN(engine->model_, LlamaModel::Load(mc, *source, weight_dtype, max_model_len, engine->backend_.get()));
  source.reset();

  // The KV cache takes the configured budget, in whole blocks; by default no more than the sequence cap can use.
  const int blocks_per_seq = (max_model_len + config.block_size - 1) / config.block_size;
  const size_t block_bytes = engine->model_->KvBytesPerBlock(config.block_size);
  int64_t budget = config.kv_cache_memory_bytes;
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
  engine->runner_ = std::make_unique<ModelRunner>(engine->model_.get(), engine->backend_.get(), config.block_size);

  engine->eos_token_ids_ = engine->generation_config_.eos_token_ids;
  if (engine->eos_token_ids_.empty()) engine->eos_token_ids_ = mc.eos_token_ids;

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

absl::Status LLMEngine::AddRequest(const std::string& request_id, std::vector<int32_t> prompt_token_ids,
                                   const SamplingParams& params) {
  RETURN_IF_ERROR(params.Validate());
  if (requests_.contains(request_id)) {
    return absl::AlreadyExistsError(absl::StrCat("request id '", request_id, "' is already in use"));
  }
  if (prompt_token_ids.empty()) return absl::InvalidArgumentError("prompt must contain at least one token");
  for (int32_t id : prompt_token_ids) {
    if (id < 0 || id >= model_config_.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token id ", id, " is outside the vocabulary [0, ",
                                                     model_config_.vocab_size, ")"));
    }
  }
  if (static_cast<int>(prompt_token_ids.size()) >= info_.max_model_len) {
    return absl::InvalidArgumentError(absl::StrCat("prompt has ", prompt_token_ids.size(),
                                                   " tokens, but max_model_len is ", info_.max_model_len,
                                                   " and at least one token must be generated"));
  }
  auto request = std::make_unique<Request>();
  request->id = request_id;
  request->prompt_token_ids = std::move(prompt_token_ids);
  request->params = params;
  request->arrival_order = next_arrival_++;
  request->arrival_time = std::chrono::steady_clock::now();
  request->rng.seed(params.seed.value_or(config_.seed * 0x9e3779b97f4a7c15ull + request->arrival_order));
  scheduler_->Add(request.get());
  requests_.emplace(request_id, std::move(request));
  return absl::OkStatus();
}

void LLMEngine::AppendToken(Request& r, int32_t token) {
  r.output_token_ids.push_back(token);
  const auto now = std::chrono::steady_clock::now();
  if (!r.first_token_time) r.first_token_time = now;
  const auto& stops = r.params.stop_token_ids;
  if (!r.params.ignore_eos && std::find(eos_token_ids_.begin(), eos_token_ids_.end(), token) != eos_token_ids_.end()) {
    r.finish_reason = FinishReason::kStop;
    r.stop_token = token;
  } else if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
    r.finish_reason = FinishReason::kStop;
    r.stop_token = token;
  } else if (static_cast<int>(r.output_token_ids.size()) >= r.params.max_tokens ||
             r.num_tokens() >= info_.max_model_len) {
    r.finish_reason = FinishReason::kLength;
  }
  if (r.finish_reason != FinishReason::kNone) {
    r.finish_time = now;
    scheduler_->Finish(&r);
  }
}

RequestOutput LLMEngine::MakeOutput(const Request& r, int num_new_tokens) const {
  RequestOutput out;
  out.request_id = r.id;
  out.prompt_token_ids = r.prompt_token_ids;
  out.token_ids = r.output_token_ids;
  out.num_new_tokens = num_new_tokens;
  out.finished = r.is_finished();
  out.finish_reason = r.finish_reason;
  out.stop_token = r.stop_token;
  out.num_preemptions = r.num_preemptions;
  out.num_cached_tokens = r.num_cached_tokens;
  out.arrival_time = r.arrival_time;
  out.first_token_time = r.first_token_time;
  out.finish_time = r.finish_time;
  return out;
}

absl::StatusOr<std::vector<RequestOutput>> LLMEngine::Step() {
  std::vector<RequestOutput> outputs;
  SchedulerOutput step = scheduler_->Schedule();
  num_preemptions_ += static_cast<int64_t>(step.preempted.size());
  if (step.empty()) return outputs;
  ASSIGN_OR_RETURN(const StepLogits* logits, runner_->Execute(step.chunks, *block_manager_));
  std::vector<std::string> finished;
  for (size_t i = 0; i < step.chunks.size(); ++i) {
    Request& r = *step.chunks[i].request;
    r.num_computed_tokens += step.chunks[i].num_tokens;
    block_manager_->CacheFullBlocks(r);
    if (r.num_computed_tokens < r.num_tokens()) continue;  // a prompt chunk; the prompt is not done yet
    const int row = logits->first_row[i] + logits->num_rows[i] - 1;
    AppendToken(r, SampleToken(logits->row(row), logits->vocab_size, r.params, r.rng));
    outputs.push_back(MakeOutput(r, 1));
    if (r.is_finished()) finished.push_back(r.id);
  }
  for (const std::string& id : finished) requests_.erase(id);
  return outputs;
}

void LLMEngine::AbortRequest(const std::string& request_id) {
  auto it = requests_.find(request_id);
  if (it == requests_.end()) return;
  Request& r = *it->second;
  r.finish_reason = FinishReason::kAbort;
  r.finish_time = std::chrono::steady_clock::now();
  scheduler_->Finish(&r);
  requests_.erase(it);
}

}  // namespace tessera::engine
