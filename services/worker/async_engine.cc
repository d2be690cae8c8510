#include "services/worker/async_engine.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::worker {

using engine::FinishReason;
using engine::RequestOutput;
using engine::SamplingParams;
using engine::StopStringMatch;
using Clock = std::chrono::steady_clock;

void GenerationUpdate::MergeFrom(GenerationUpdate&& later) {
  for (SequenceUpdate& s : later.sequences) {
    SequenceUpdate* into = nullptr;
    for (SequenceUpdate& existing : sequences) {
      if (existing.index == s.index) into = &existing;
    }
    if (into == nullptr) {
      sequences.push_back(std::move(s));
      continue;
    }
    into->text += s.text;
    into->token_ids.insert(into->token_ids.end(), s.token_ids.begin(), s.token_ids.end());
    for (engine::TokenLogprobs& lp : s.logprobs) into->logprobs.push_back(std::move(lp));
    if (s.finish_reason != FinishReason::kNone) {
      into->finish_reason = s.finish_reason;
      into->stop_token = s.stop_token;
      into->stop_string = std::move(s.stop_string);
    }
  }
  if (later.prompt_logprobs) prompt_logprobs = std::move(later.prompt_logprobs);
  if (later.finished) {
    finished = true;
    error = std::move(later.error);
    num_cached_tokens = later.num_cached_tokens;
    num_completion_tokens = later.num_completion_tokens;
  }
}

std::optional<GenerationUpdate> GenerationStream::Next(Clock::time_point until) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!ready_.wait_until(lock, until, [&] { return pending_.has_value() || final_taken_; })) return std::nullopt;
  if (!pending_) return std::nullopt;
  GenerationUpdate update = std::move(*pending_);
  pending_.reset();
  if (update.finished) final_taken_ = true;
  return update;
}

bool GenerationStream::done() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return final_taken_;
}

void GenerationStream::Push(GenerationUpdate update) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (final_pushed_) return;
    final_pushed_ = update.finished;
    if (pending_) {
      pending_->MergeFrom(std::move(update));
    } else {
      pending_ = std::move(update);
    }
  }
  ready_.notify_all();
}

absl::StatusOr<std::unique_ptr<AsyncEngine>> AsyncEngine::Create(const engine::EngineConfig& config,
                                                                 const AsyncEngineOptions& options) {
  ASSIGN_OR_RETURN(auto engine, engine::LLMEngine::Create(config, options.tensor_parallel_group));
  ASSIGN_OR_RETURN(auto prompts, engine::PromptProcessor::Create(config.model));
  std::unique_ptr<engine::EngineMetrics> metrics;
  if (options.metrics_registry != nullptr) {
    const std::string model_name = options.metrics_model_name.empty() ? config.model : options.metrics_model_name;
    ASSIGN_OR_RETURN(metrics, engine::EngineMetrics::Create(*options.metrics_registry, model_name,
                                                            engine->info().max_model_len));
    engine::CacheConfigInfo cache;
    cache.block_size = engine->info().block_size;
    cache.num_gpu_blocks = engine->info().num_kv_blocks;
    cache.enable_prefix_caching = config.enable_prefix_caching;
    metrics->RecordCacheConfig(cache);
  }
  return std::unique_ptr<AsyncEngine>(
      new AsyncEngine(config, options, std::move(engine), std::move(prompts), std::move(metrics)));
}

AsyncEngine::AsyncEngine(const engine::EngineConfig& config, const AsyncEngineOptions& options,
                         std::unique_ptr<engine::LLMEngine> engine, std::unique_ptr<engine::PromptProcessor> prompts,
                         std::unique_ptr<engine::EngineMetrics> metrics)
    : config_(config),
      options_(options),
      engine_(std::move(engine)),
      prompts_(std::move(prompts)),
      default_params_(engine_->DefaultSamplingParams()),
      info_(engine_->info()),
      model_config_(engine_->model_config()),
      output_processor_(prompts_->tokenizer()),
      metrics_(std::move(metrics)) {
  recorded_preemptions_ = engine_->num_preemptions();
  recorded_prefix_cache_queries_ = engine_->block_manager().prefix_cache_queries();
  recorded_prefix_cache_hits_ = engine_->block_manager().prefix_cache_hits();
  RecordStepMetrics();
  PublishLoad();
  thread_ = std::thread([this] { Loop(); });
}

AsyncEngine::~AsyncEngine() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

absl::Status AsyncEngine::Validate(std::vector<int32_t>& prompt_token_ids, SamplingParams& params) const {
  // The engine's own admission checks, run here so that their errors come back from Submit.
  RETURN_IF_ERROR(prompts_->PrepareParams(params));
  return engine_->ValidateRequest(prompt_token_ids, params);
}

absl::StatusOr<std::shared_ptr<GenerationStream>> AsyncEngine::Submit(std::string request_id,
                                                                      std::vector<int32_t> prompt_token_ids,
                                                                      SamplingParams params) {
  RETURN_IF_ERROR(Validate(prompt_token_ids, params));
  std::shared_ptr<GenerationStream> stream;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return absl::UnavailableError("the engine is shutting down");
    if (draining_) return absl::UnavailableError("the worker is draining and admits no new requests");
    if (!fatal_error_.ok()) {
      return absl::UnavailableError(absl::StrCat("the worker cannot run requests: ", fatal_error_.message()));
    }
    if (options_.max_in_flight_requests > 0 && static_cast<int>(in_flight_.size()) >= options_.max_in_flight_requests) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the worker already runs ", in_flight_.size(), " requests, its limit; retry later"));
    }
    if (request_id.empty()) {
      do {
        request_id = absl::StrCat("tessera-", next_generated_id_++);
      } while (in_flight_.contains(request_id));
    } else if (in_flight_.contains(request_id)) {
      return absl::AlreadyExistsError(absl::StrCat("request id '", request_id, "' is already in use"));
    }
    stream = std::make_shared<GenerationStream>(request_id, std::move(prompt_token_ids));
    in_flight_.emplace(request_id, stream);
    pending_.push_back({stream, std::move(params)});
    load_.num_in_flight = static_cast<int>(in_flight_.size());
  }
  wake_.notify_all();
  return stream;
}

void AsyncEngine::Abort(const std::string& request_id) {
  std::shared_ptr<GenerationStream> never_started;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!in_flight_.contains(request_id)) return;
    // A request the engine thread has not picked up yet ends here; the engine never sees it.
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->stream->request_id() == request_id) {
        never_started = it->stream;
        pending_.erase(it);
        in_flight_.erase(request_id);
        load_.num_in_flight = static_cast<int>(in_flight_.size());
        break;
      }
    }
    if (!never_started) pending_aborts_.push_back(request_id);
  }
  if (never_started) {
    GenerationUpdate update;
    update.finished = true;
    never_started->Push(std::move(update));
    idle_.notify_all();
  } else {
    wake_.notify_all();
  }
}

void AsyncEngine::Drain(std::optional<Clock::duration> grace) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    draining_ = true;
    load_.draining = true;
    if (grace) drain_deadline_ = Clock::now() + *grace;
  }
  wake_.notify_all();
}

bool AsyncEngine::draining() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return draining_;
}

bool AsyncEngine::WaitIdle(Clock::time_point until) {
  std::unique_lock<std::mutex> lock(mutex_);
  return idle_.wait_until(lock, until, [&] { return in_flight_.empty(); });
}

EngineLoad AsyncEngine::GetLoad() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return load_;
}

void AsyncEngine::PublishLoad() {
  EngineLoad load;
  load.num_running = engine_->num_running();
  load.num_waiting = engine_->num_waiting();
  load.kv_cache_usage = engine_->kv_cache_usage();
  load.prefix_cache_queries = engine_->block_manager().prefix_cache_queries();
  load.prefix_cache_hits = engine_->block_manager().prefix_cache_hits();
  load.prefix_cache_hit_rate = load.prefix_cache_queries > 0 ? static_cast<double>(load.prefix_cache_hits) /
                                                                   static_cast<double>(load.prefix_cache_queries)
                                                             : 0.0;
  load.kv_capacity_tokens = info_.kv_capacity_tokens;
  load.max_num_seqs = config_.max_num_seqs;
  std::lock_guard<std::mutex> lock(mutex_);
  load.num_in_flight = static_cast<int>(in_flight_.size());
  load.draining = draining_;
  engine_busy_ = engine_->HasUnfinishedRequests();
  load_ = load;
}

void AsyncEngine::RecordStepMetrics() {
  if (metrics_ == nullptr) return;
  const int64_t preemptions = engine_->num_preemptions();
  const int64_t queries = engine_->block_manager().prefix_cache_queries();
  const int64_t hits = engine_->block_manager().prefix_cache_hits();
  engine::EngineStepStats stats;
  stats.num_running = engine_->num_running();
  stats.num_waiting = engine_->num_waiting();
  stats.kv_cache_usage = engine_->kv_cache_usage();
  stats.num_preemptions = preemptions - recorded_preemptions_;
  stats.prefix_cache_queries = queries - recorded_prefix_cache_queries_;
  stats.prefix_cache_hits = hits - recorded_prefix_cache_hits_;
  recorded_preemptions_ = preemptions;
  recorded_prefix_cache_queries_ = queries;
  recorded_prefix_cache_hits_ = hits;
  metrics_->RecordStep(stats);
}

void AsyncEngine::RecordOutputMetrics(const RequestOutput& output) {
  if (metrics_ != nullptr) metrics_->RecordOutput(output);
}

void AsyncEngine::Forget(const std::string& request_id) {
  active_.erase(request_id);
  output_processor_.RemoveRequest(request_id);
  bool idle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_.erase(request_id);
    load_.num_in_flight = static_cast<int>(in_flight_.size());
    idle = in_flight_.empty();
  }
  if (idle) idle_.notify_all();
}

absl::Status AsyncEngine::Emit(RequestOutput& output, std::vector<StopStringMatch>& stops) {
  // Every output the engine reports counts, whether or not a stream still waits for it.
  RecordOutputMetrics(output);
  auto it = active_.find(output.request_id);
  if (it == active_.end()) return absl::OkStatus();
  ActiveRequest& active = it->second;
  RETURN_IF_ERROR(output_processor_.Process(output, text_deltas_, stops));
  GenerationUpdate update;
  bool any_output = false;
  for (size_t i = 0; i < output.outputs.size(); ++i) {
    const engine::CompletionOutput& c = output.outputs[i];
    SequenceUpdate seq;
    seq.index = c.index;
    seq.text = std::move(text_deltas_[i]);
    size_t& sent = active.tokens_sent[c.index];
    if (sent < c.token_ids.size()) {
      seq.token_ids.assign(c.token_ids.begin() + static_cast<std::ptrdiff_t>(sent), c.token_ids.end());
      if (c.logprobs.size() == c.token_ids.size()) {
        seq.logprobs.assign(c.logprobs.begin() + static_cast<std::ptrdiff_t>(sent), c.logprobs.end());
      }
      sent = c.token_ids.size();
    }
    bool& finish_sent = active.finish_sent[c.index];
    if (c.finished() && !finish_sent) {
      finish_sent = true;
      seq.finish_reason = c.finish_reason;
      seq.stop_token = c.stop_token;
      seq.stop_string = c.stop_string;
    }
    if (seq.text.empty() && seq.token_ids.empty() && seq.finish_reason == FinishReason::kNone) continue;
    any_output = true;
    update.sequences.push_back(std::move(seq));
  }
  if (output.prompt_logprobs && !active.prompt_logprobs_sent && (any_output || output.finished)) {
    active.prompt_logprobs_sent = true;
    update.prompt_logprobs = std::move(output.prompt_logprobs);
  }
  if (output.finished) {
    update.finished = true;
    update.num_cached_tokens = output.num_cached_tokens;
    for (const engine::CompletionOutput& c : output.outputs) {
      update.num_completion_tokens += static_cast<int>(c.token_ids.size());
    }
  }
  if (!any_output && !update.finished && !update.prompt_logprobs) return absl::OkStatus();
  std::shared_ptr<GenerationStream> stream = active.stream;
  const bool finished = update.finished;
  stream->Push(std::move(update));
  if (finished) Forget(output.request_id);
  return absl::OkStatus();
}

void AsyncEngine::AbortInEngine(const std::string& request_id) {
  auto it = active_.find(request_id);
  if (it == active_.end()) return;
  std::vector<StopStringMatch> ignored_stops;
  std::optional<RequestOutput> final_output = engine_->AbortRequest(request_id);
  if (final_output) {
    for (engine::CompletionOutput& c : final_output->outputs) c.num_new_tokens = 0;
    final_output->finished = true;
    if (Emit(*final_output, ignored_stops).ok() && !active_.contains(request_id)) return;
  }
  // The engine no longer knew it (or its output could not be turned into text): end the stream plainly.
  GenerationUpdate update;
  update.finished = true;
  it = active_.find(request_id);
  if (it != active_.end()) {
    it->second.stream->Push(std::move(update));
    Forget(request_id);
  }
}

void AsyncEngine::FailAll(const absl::Status& status) {
  std::vector<std::string> ids;
  for (const auto& [id, active] : active_) ids.push_back(id);
  for (const std::string& id : ids) {
    if (std::optional<RequestOutput> final_output = engine_->AbortRequest(id)) {
      for (engine::CompletionOutput& c : final_output->outputs) c.num_new_tokens = 0;
      final_output->finished = true;
      RecordOutputMetrics(*final_output);
    }
    GenerationUpdate update;
    update.finished = true;
    update.error = status;
    active_[id].stream->Push(std::move(update));
    Forget(id);
  }
}

void AsyncEngine::Loop() {
  std::vector<StopStringMatch> stops;
  while (true) {
    std::vector<PendingRequest> adds;
    std::vector<std::string> aborts;
    bool drain_expired = false;
    bool stopping = false;
    bool check_followers = false;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto has_work = [&] { return stopping_ || engine_busy_ || !pending_.empty() || !pending_aborts_.empty(); };
      if (drain_deadline_ && !active_.empty()) {
        wake_.wait_until(lock, *drain_deadline_, has_work);
      } else if (engine_->is_tensor_parallel() && fatal_error_.ok()) {
        // An idle tensor-parallel leader still checks its followers every second.
        check_followers = !wake_.wait_for(lock, std::chrono::seconds(1), has_work);
      } else {
        wake_.wait(lock, has_work);
      }
      adds.swap(pending_);
      aborts.swap(pending_aborts_);
      stopping = stopping_;
      drain_expired = drain_deadline_ && Clock::now() >= *drain_deadline_;
    }
    for (PendingRequest& add : adds) {
      const std::string& id = add.stream->request_id();
      absl::Status status = engine_->AddRequest(id, add.stream->prompt_token_ids(), add.params);
      if (status.ok()) {
        output_processor_.AddRequest(id, add.stream->prompt_token_ids(), add.params);
        active_[id].stream = add.stream;
      } else {
        // Submit checked everything AddRequest checks, so this is a bug; the caller still gets the reason.
        GenerationUpdate update;
        update.finished = true;
        update.error = status;
        add.stream->Push(std::move(update));
        Forget(id);
      }
    }
    for (const std::string& id : aborts) AbortInEngine(id);
    if (stopping || drain_expired) {
      std::vector<std::string> ids;
      for (const auto& [id, active] : active_) ids.push_back(id);
      for (const std::string& id : ids) AbortInEngine(id);
    }
    if (stopping) {
      PublishLoad();
      return;
    }
    if (engine_->HasUnfinishedRequests()) {
      absl::StatusOr<std::vector<RequestOutput>> step = engine_->Step();
      // Readers woken by this step's output must already see the load it left (e.g. the KV blocks it took).
      PublishLoad();
      absl::Status status = step.status();
      for (size_t i = 0; status.ok() && i < step->size(); ++i) status = Emit((*step)[i], stops);
      // Stop strings end sequences in the engine; a request whose last sequence ends so reports once more.
      for (size_t i = 0; status.ok() && i < stops.size(); ++i) {
        if (auto final_output = engine_->StopSequence(stops[i].request_id, stops[i].index, stops[i].stop_string)) {
          for (engine::CompletionOutput& c : final_output->outputs) c.num_new_tokens = 0;
          std::vector<StopStringMatch> more;
          status = Emit(*final_output, more);
        }
      }
      stops.clear();
      if (!status.ok() && engine_->fatal_error().ok()) {
        FailAll(absl::InternalError(absl::StrCat("engine step failed: ", status.message())));
      }
    } else if (check_followers) {
      engine_->CheckTensorParallelGroup().IgnoreError();  // a failure shows as fatal_error() below
    }
    if (!engine_->fatal_error().ok()) {
      bool first = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        first = fatal_error_.ok();
        if (first) fatal_error_ = engine_->fatal_error();
      }
      if (first) {
        std::fprintf(stderr, "tessera-worker: engine failed for good: %s\n",
                     std::string(engine_->fatal_error().message()).c_str());
        FailAll(absl::UnavailableError(absl::StrCat("the worker failed: ", engine_->fatal_error().message())));
        if (options_.on_fatal_error) options_.on_fatal_error(engine_->fatal_error());
      }
    }
    RecordStepMetrics();
    PublishLoad();
  }
}

}  // namespace tessera::worker
