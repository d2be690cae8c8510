// The engine behind a thread-safe front: one engine thread owns the LLMEngine and runs its Step() loop while any
// request is unfinished (sleeping on a condition variable otherwise); callers on any thread submit requests, read
// their output as a stream of updates (text and token deltas per sequence, then the finish and usage), abort them,
// and read the load. Requests are validated on the caller's thread, so errors come back from Submit before anything
// is queued; prompt processing (tokenizing, chat templates) also stays on the callers' threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/metrics/registry.h"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/engine_metrics.h"
#include "services/worker/engine/llm_engine.h"
#include "services/worker/engine/output_processor.h"
#include "services/worker/engine/prompt_processor.h"
#include "services/worker/engine/sampling_params.h"

namespace tessera::worker {

// New output of one of the request's sequences since the previous update.
struct SequenceUpdate {
  int index = 0;
  std::string text;                                                  // new text, stop strings applied
  std::vector<int32_t> token_ids;                                    // new token ids
  std::vector<engine::TokenLogprobs> logprobs;                       // one per new token when logprobs were requested
  engine::FinishReason finish_reason = engine::FinishReason::kNone;  // set once, when the sequence ends
  std::optional<int32_t> stop_token;                                 // the EOS or stop_token_ids entry that ended it
  std::string stop_string;                                           // the stop string that ended it
};

// Everything a request produced since the caller last looked. Updates that pile up while the caller is busy are
// merged, so a slow reader never holds up the engine and never loses output.
struct GenerationUpdate {
  std::vector<SequenceUpdate> sequences;
  // One entry per prompt token (the first empty) when prompt_logprobs were requested; in one update only.
  std::optional<std::vector<std::optional<engine::TokenLogprobs>>> prompt_logprobs;
  bool finished = false;  // the last update of the request
  absl::Status error;     // set on the last update when the engine failed while running the request
  // Known when finished:
  int num_cached_tokens = 0;  // prompt tokens served from the prefix cache
  int num_completion_tokens = 0;

  // Appends `later` to this update (text and tokens concatenated per sequence, finish facts taken over).
  void MergeFrom(GenerationUpdate&& later);
};

// The caller's end of one request.
class GenerationStream {
 public:
  GenerationStream(std::string request_id, std::vector<int32_t> prompt_token_ids)
      : request_id_(std::move(request_id)), prompt_token_ids_(std::move(prompt_token_ids)) {}

  const std::string& request_id() const { return request_id_; }
  // The prompt the engine runs (after truncate_prompt_tokens).
  const std::vector<int32_t>& prompt_token_ids() const { return prompt_token_ids_; }

  // Waits until there is output or `until` passes. Returns all output since the previous call, or nullopt on
  // timeout and once the final update has been taken.
  std::optional<GenerationUpdate> Next(std::chrono::steady_clock::time_point until);
  // True once the final update has been taken by Next.
  bool done() const;

 private:
  friend class AsyncEngine;
  void Push(GenerationUpdate update);

  const std::string request_id_;
  const std::vector<int32_t> prompt_token_ids_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::optional<GenerationUpdate> pending_;
  bool final_pushed_ = false;
  bool final_taken_ = false;
};

struct EngineLoad {
  int num_running = 0;
  int num_waiting = 0;
  int num_in_flight = 0;        // submitted and not yet finished (includes those not yet in the scheduler)
  double kv_cache_usage = 0.0;  // 0..1
  int64_t prefix_cache_queries = 0;
  int64_t prefix_cache_hits = 0;
  double prefix_cache_hit_rate = 0.0;  // hits / queries over the engine's lifetime, 0 before any query
  int64_t kv_capacity_tokens = 0;
  int max_num_seqs = 0;
  bool draining = false;
};

struct AsyncEngineOptions {
  // Requests in flight beyond this are refused with ResourceExhausted; 0 = no limit.
  int max_in_flight_requests = 0;
  // When set, the engine thread feeds the engine's Prometheus series (EngineMetrics) into this registry, which
  // must outlive the engine.
  metrics::Registry* metrics_registry = nullptr;
  // The series' model_name label; empty means the --model argument (config.model).
  std::string metrics_model_name;
  // This engine is the leader of a tensor-parallel group (must outlive the engine); null for a whole model.
  const engine::TensorParallelGroup* tensor_parallel_group = nullptr;
  // Called once, from the engine thread, when the engine can no longer run steps (a tensor-parallel rank is gone);
  // every request then ends with an error and new ones are refused.
  std::function<void(const absl::Status&)> on_fatal_error;
};

class AsyncEngine {
 public:
  static absl::StatusOr<std::unique_ptr<AsyncEngine>> Create(const engine::EngineConfig& config,
                                                             const AsyncEngineOptions& options = {});
  // Stops the engine thread; requests still running end with finish reason abort.
  ~AsyncEngine();
  AsyncEngine(const AsyncEngine&) = delete;
  AsyncEngine& operator=(const AsyncEngine&) = delete;

  // Validates the request as the engine would (parameters, prompt ids, lengths, a free request id) and queues it.
  // An empty request id gets a generated one. Errors: InvalidArgument (naming the field), AlreadyExists (id in
  // use), Unavailable (draining or shutting down), ResourceExhausted (too many requests in flight).
  absl::StatusOr<std::shared_ptr<GenerationStream>> Submit(std::string request_id,
                                                           std::vector<int32_t> prompt_token_ids,
                                                           engine::SamplingParams params);
  // Ends the request at once (its KV blocks are freed before the next step); its stream gets a final update with
  // finish reason abort. Unknown or finished ids are ignored.
  void Abort(const std::string& request_id);
  // Stops admitting requests. With a grace period, requests still running when it ends are aborted.
  void Drain(std::optional<std::chrono::steady_clock::duration> grace = std::nullopt);
  // Waits until no request is in flight or `until` passes; true when idle.
  bool WaitIdle(std::chrono::steady_clock::time_point until);

  EngineLoad GetLoad() const;
  bool draining() const;

  // Facts fixed at creation; safe from any thread.
  const engine::PromptProcessor& prompts() const { return *prompts_; }
  const engine::SamplingParams& default_sampling_params() const { return default_params_; }
  const engine::EngineInfo& info() const { return info_; }
  const ModelConfig& model_config() const { return model_config_; }
  const engine::EngineConfig& config() const { return config_; }

 private:
  struct PendingRequest {
    std::shared_ptr<GenerationStream> stream;
    engine::SamplingParams params;
  };
  // Engine-thread bookkeeping of a running request: what has been handed out so far, per sequence.
  struct ActiveRequest {
    std::shared_ptr<GenerationStream> stream;
    absl::flat_hash_map<int, size_t> tokens_sent;
    absl::flat_hash_map<int, bool> finish_sent;
    bool prompt_logprobs_sent = false;
  };

  AsyncEngine(const engine::EngineConfig& config, const AsyncEngineOptions& options,
              std::unique_ptr<engine::LLMEngine> engine, std::unique_ptr<engine::PromptProcessor> prompts,
              std::unique_ptr<engine::EngineMetrics> metrics);
  absl::Status Validate(std::vector<int32_t>& prompt_token_ids, engine::SamplingParams& params) const;

  // Engine thread.
  void Loop();
  // Turns an engine output into an update for its stream; `stops` collects stop strings found in its text.
  absl::Status Emit(engine::RequestOutput& output, std::vector<engine::StopStringMatch>& stops);
  void AbortInEngine(const std::string& request_id);
  void FailAll(const absl::Status& status);
  void Forget(const std::string& request_id);
  void PublishLoad();
  // Feeds the metrics (when configured) with the scheduler state and what changed since the previous step.
  void RecordStepMetrics();
  void RecordOutputMetrics(const engine::RequestOutput& output);

  const engine::EngineConfig config_;
  const AsyncEngineOptions options_;
  std::unique_ptr<engine::LLMEngine> engine_;
  std::unique_ptr<engine::PromptProcessor> prompts_;
  const engine::SamplingParams default_params_;
  const engine::EngineInfo info_;
  const ModelConfig model_config_;

  // Owned by the engine thread.
  engine::OutputProcessor output_processor_;
  absl::flat_hash_map<std::string, ActiveRequest> active_;
  std::vector<std::string> text_deltas_;
  std::unique_ptr<engine::EngineMetrics> metrics_;  // null without a registry
  // Engine totals at the previous RecordStepMetrics, for the per-step deltas the metrics take.
  int64_t recorded_preemptions_ = 0;
  int64_t recorded_prefix_cache_queries_ = 0;
  int64_t recorded_prefix_cache_hits_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the engine thread waits for work
  std::condition_variable idle_;  // WaitIdle waits for the last request to end
  std::vector<PendingRequest> pending_;
  std::vector<std::string> pending_aborts_;
  absl::flat_hash_map<std::string, std::shared_ptr<GenerationStream>> in_flight_;
  bool engine_busy_ = false;  // the engine has unfinished requests (written by the engine thread)
  bool stopping_ = false;
  bool draining_ = false;
  absl::Status fatal_error_;  // guarded by mutex_; set once when the engine breaks
  std::optional<std::chrono::steady_clock::time_point> drain_deadline_;
  uint64_t next_generated_id_ = 0;
  EngineLoad load_;

  std::thread thread_;
};

}  // namespace tessera::worker
