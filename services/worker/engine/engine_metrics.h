// The engine's Prometheus series, named and shaped like vLLM's (prefix tessera_ instead of vllm:, same help text,
// same histogram buckets, a model_name label) so that vLLM dashboards and alerts carry over. The engine loop feeds
// it scheduler state after each step and every RequestOutput it produces; the worker serves the registry.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/registry.h"
#include "services/worker/engine/request_output.h"

namespace tessera::engine {

// Scheduler state after a step. The last three are what happened since the previous RecordStep, as vLLM records
// them; the caller keeps the previous totals (LLMEngine::num_preemptions(), BlockManager's prefix-cache counts).
struct EngineStepStats {
  int num_running = 0;
  int num_waiting = 0;
  double kv_cache_usage = 0;          // fraction of KV blocks in use, 0..1
  int64_t num_preemptions = 0;
  int64_t prefix_cache_queries = 0;   // prompt tokens looked up in the prefix cache
  int64_t prefix_cache_hits = 0;      // of those, tokens found
};

// What vLLM publishes as cache_config_info (an info gauge: value 1, facts in labels).
struct CacheConfigInfo {
  int block_size = 0;
  int num_gpu_blocks = 0;  // vLLM's label name, kept for dashboards; on the CPU backend it counts CPU blocks
  bool enable_prefix_caching = false;
  std::string cache_dtype = "auto";
};

// vLLM's token-count buckets: 1, 2, 5, 10, 20, 50, ... up to and including `max_value`.
std::vector<double> Build125Buckets(int64_t max_value);

class EngineMetrics {
 public:
  // Registers the series in `registry` (or reuses them when another EngineMetrics registered the same ones) and
  // creates this model's children, so that every series is exported from the start at zero. `max_model_len`
  // bounds the token-count histograms, as in vLLM.
  static absl::StatusOr<std::unique_ptr<EngineMetrics>> Create(metrics::Registry& registry, std::string model_name,
                                                               int max_model_len);

  void RecordStep(const EngineStepStats& stats);
  void RecordCacheConfig(const CacheConfigInfo& info);

  // For every output the engine reports (Step, AbortRequest, StopSequence): token counters, time to first token
  // and inter-token latency, then, when the request finished, what RecordFinished records.
  void RecordOutput(const RequestOutput& output);
  // The per-step part of RecordOutput. The first report with tokens counts the prompt and observes TTFT
  // (first_token_time - arrival_time); each later one observes one inter-token latency, the time since the
  // request's previous tokens, as vLLM does per request and step.
  void RecordNewTokens(const RequestOutput& output);
  // The end-of-request part of RecordOutput: request_success by finish reason and generation-token count per
  // finished sequence; e2e latency, queue, inference, prefill and decode times and prompt length per request.
  // Phases whose timestamps are missing (aborted while waiting, say) are skipped. Forgets the request.
  void RecordFinished(const RequestOutput& output);

 private:
  EngineMetrics() = default;

  std::string model_name_;
  metrics::Gauge* num_requests_running_ = nullptr;
  metrics::Gauge* num_requests_waiting_ = nullptr;
  metrics::Gauge* kv_cache_usage_perc_ = nullptr;
  metrics::Counter* num_preemptions_ = nullptr;
  metrics::Counter* prefix_cache_queries_ = nullptr;
  metrics::Counter* prefix_cache_hits_ = nullptr;
  metrics::Counter* prompt_tokens_ = nullptr;
  metrics::Counter* generation_tokens_ = nullptr;
  metrics::CounterFamily* request_success_ = nullptr;
  metrics::GaugeFamily* cache_config_info_ = nullptr;
  metrics::Histogram* request_prompt_tokens_ = nullptr;
  metrics::Histogram* request_generation_tokens_ = nullptr;
  metrics::Histogram* time_to_first_token_ = nullptr;
  metrics::Histogram* inter_token_latency_ = nullptr;
  metrics::Histogram* e2e_request_latency_ = nullptr;
  metrics::Histogram* request_queue_time_ = nullptr;
  metrics::Histogram* request_inference_time_ = nullptr;
  metrics::Histogram* request_prefill_time_ = nullptr;
  metrics::Histogram* request_decode_time_ = nullptr;

  absl::Mutex mutex_;
  // When each request in flight last produced tokens: the reference for its next inter-token latency.
  absl::flat_hash_map<std::string, std::optional<std::chrono::steady_clock::time_point>> last_token_time_
      ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::engine
