#include "services/worker/engine/engine_metrics.h"

#include <utility>

#include "common/status_macros.h"

namespace tessera::engine {
namespace {

using Clock = std::chrono::steady_clock;

// vLLM's bounds (vllm/v1/metrics/loggers.py), so that histogram_quantile over our series and theirs agree.
const std::vector<double>& TimeToFirstTokenBuckets() {
  static const std::vector<double> buckets = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,   0.75,
                                              1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};
  return buckets;
}

const std::vector<double>& InterTokenLatencyBuckets() {
  static const std::vector<double> buckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,  0.3,  0.4, 0.5,
                                              0.75, 1.0,   2.5,  5.0,   7.5, 10.0, 20.0, 40.0, 80.0};
  return buckets;
}

const std::vector<double>& RequestLatencyBuckets() {
  static const std::vector<double> buckets = {0.3,  0.5,  0.8,  1.0,  1.5,   2.0,   2.5,   5.0,   10.0,   15.0,  20.0,
                                              30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};
  return buckets;
}

double SecondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

constexpr FinishReason kFinishReasons[] = {FinishReason::kStop, FinishReason::kLength, FinishReason::kAbort};

}  // namespace

std::vector<double> Build125Buckets(int64_t max_value) {
  std::vector<double> buckets;
  for (int64_t scale = 1;; scale *= 10) {
    for (int64_t mantissa : {1, 2, 5}) {
      if (mantissa * scale > max_value) return buckets;
      buckets.push_back(static_cast<double>(mantissa * scale));
    }
  }
}

absl::StatusOr<std::unique_ptr<EngineMetrics>> EngineMetrics::Create(metrics::Registry& registry,
                                                                      std::string model_name, int max_model_len) {
  auto engine_metrics = std::unique_ptr<EngineMetrics>(new EngineMetrics());
  EngineMetrics& m = *engine_metrics;
  m.model_name_ = std::move(model_name);
  const std::vector<std::string> model_label = {"model_name"};
  const std::vector<std::string> model_value = {m.model_name_};

  auto gauge = [&](const char* name, const char* help) -> absl::StatusOr<metrics::Gauge*> {
    ASSIGN_OR_RETURN(metrics::GaugeFamily * family, registry.AddGauge(name, help, model_label));
    return family->WithLabels(model_value);
  };
  auto counter = [&](const char* name, const char* help) -> absl::StatusOr<metrics::Counter*> {
    ASSIGN_OR_RETURN(metrics::CounterFamily * family, registry.AddCounter(name, help, model_label));
    return family->WithLabels(model_value);
  };
  auto histogram = [&](const char* name, const char* help,
                       const std::vector<double>& buckets) -> absl::StatusOr<metrics::Histogram*> {
    ASSIGN_OR_RETURN(metrics::HistogramFamily * family, registry.AddHistogram(name, help, buckets, model_label));
    return family->WithLabels(model_value);
  };

  ASSIGN_OR_RETURN(m.num_requests_running_,
                   gauge("tessera_num_requests_running", "Number of requests in model execution batches."));
  ASSIGN_OR_RETURN(m.num_requests_waiting_,
                   gauge("tessera_num_requests_waiting", "Number of requests waiting to be processed."));
  ASSIGN_OR_RETURN(m.kv_cache_usage_perc_,
                   gauge("tessera_kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage."));
  ASSIGN_OR_RETURN(m.prefix_cache_queries_,
                   counter("tessera_prefix_cache_queries_total",
                           "Prefix cache queries, in terms of number of queried tokens."));
  ASSIGN_OR_RETURN(m.prefix_cache_hits_, counter("tessera_prefix_cache_hits_total",
                                                 "Prefix cache hits, in terms of number of cached tokens."));
  ASSIGN_OR_RETURN(m.num_preemptions_,
                   counter("tessera_num_preemptions_total", "Cumulative number of preemption from the engine."));
  ASSIGN_OR_RETURN(m.prompt_tokens_, counter("tessera_prompt_tokens_total", "Number of prefill tokens processed."));
  ASSIGN_OR_RETURN(m.generation_tokens_,
                   counter("tessera_generation_tokens_total", "Number of generation tokens processed."));

  ASSIGN_OR_RETURN(m.request_success_, registry.AddCounter("tessera_request_success_total",
                                                           "Count of successfully processed requests.",
                                                           {"model_name", "finished_reason"}));
  for (FinishReason reason : kFinishReasons) {
    RETURN_IF_ERROR(m.request_success_->WithLabels({m.model_name_, std::string(FinishReasonName(reason))}).status());
  }
  ASSIGN_OR_RETURN(m.cache_config_info_,
                   registry.AddGauge("tessera_cache_config_info", "Information of the LLMEngine CacheConfig",
                                     {"model_name", "block_size", "cache_dtype", "enable_prefix_caching",
                                      "num_gpu_blocks"}));

  std::vector<double> token_buckets = Build125Buckets(max_model_len);
  ASSIGN_OR_RETURN(m.request_prompt_tokens_,
                   histogram("tessera_request_prompt_tokens", "Number of prefill tokens processed.", token_buckets));
  ASSIGN_OR_RETURN(m.request_generation_tokens_, histogram("tessera_request_generation_tokens",
                                                           "Number of generation tokens processed.", token_buckets));
  ASSIGN_OR_RETURN(m.time_to_first_token_,
                   histogram("tessera_time_to_first_token_seconds", "Histogram of time to first token in seconds.",
                             TimeToFirstTokenBuckets()));
  ASSIGN_OR_RETURN(m.inter_token_latency_,
                   histogram("tessera_inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                             InterTokenLatencyBuckets()));
  ASSIGN_OR_RETURN(m.e2e_request_latency_,
                   histogram("tessera_e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                             RequestLatencyBuckets()));
  ASSIGN_OR_RETURN(m.request_queue_time_,
                   histogram("tessera_request_queue_time_seconds",
                             "Histogram of time spent in WAITING phase for request.", RequestLatencyBuckets()));
  ASSIGN_OR_RETURN(m.request_inference_time_,
                   histogram("tessera_request_inference_time_seconds",
                             "Histogram of time spent in RUNNING phase for request.", RequestLatencyBuckets()));
  ASSIGN_OR_RETURN(m.request_prefill_time_,
                   histogram("tessera_request_prefill_time_seconds",
                             "Histogram of time spent in PREFILL phase for request.", RequestLatencyBuckets()));
  ASSIGN_OR_RETURN(m.request_decode_time_,
                   histogram("tessera_request_decode_time_seconds",
                             "Histogram of time spent in DECODE phase for request.", RequestLatencyBuckets()));
  return engine_metrics;
}

void EngineMetrics::RecordStep(const EngineStepStats& stats) {
  num_requests_running_->Set(stats.num_running);
  num_requests_waiting_->Set(stats.num_waiting);
  kv_cache_usage_perc_->Set(stats.kv_cache_usage);
  num_preemptions_->Increment(static_cast<double>(stats.num_preemptions));
  prefix_cache_queries_->Increment(static_cast<double>(stats.prefix_cache_queries));
  prefix_cache_hits_->Increment(static_cast<double>(stats.prefix_cache_hits));
}

void EngineMetrics::RecordCacheConfig(const CacheConfigInfo& info) {
  absl::StatusOr<metrics::Gauge*> gauge = cache_config_info_->WithLabels(
      {model_name_, std::to_string(info.block_size), info.cache_dtype, info.enable_prefix_caching ? "True" : "False",
       std::to_string(info.num_gpu_blocks)});
  // Only a cache_dtype that is not UTF-8 can fail here; an info series is not worth failing the engine for.
  if (gauge.ok()) (*gauge)->Set(1);
}

void EngineMetrics::RecordOutput(const RequestOutput& output) {
  RecordNewTokens(output);
  if (output.finished) RecordFinished(output);
}

void EngineMetrics::RecordNewTokens(const RequestOutput& output) {
  int new_tokens = 0;
  for (const CompletionOutput& completion : output.outputs) new_tokens += completion.num_new_tokens;
  if (new_tokens <= 0) return;
  generation_tokens_->Increment(new_tokens);
  const RequestMetrics& times = output.metrics;
  absl::MutexLock lock(&mutex_);
  auto [it, first_tokens] = last_token_time_.try_emplace(output.request_id);
  if (first_tokens) {
    // The prefill just completed: vLLM counts the whole prompt (cached tokens included) at this point.
    prompt_tokens_->Increment(static_cast<double>(output.prompt_token_ids.size()));
    if (times.first_token_time) {
      time_to_first_token_->Observe(SecondsBetween(times.arrival_time, *times.first_token_time));
    }
  } else if (it->second && times.last_token_time) {
    inter_token_latency_->Observe(SecondsBetween(*it->second, *times.last_token_time));
  }
  it->second = times.last_token_time;
}

void EngineMetrics::RecordFinished(const RequestOutput& output) {
  {
    absl::MutexLock lock(&mutex_);
    last_token_time_.erase(output.request_id);
  }
  for (const CompletionOutput& completion : output.outputs) {
    if (!completion.finished()) continue;
    absl::StatusOr<metrics::Counter*> success =
        request_success_->WithLabels({model_name_, std::string(FinishReasonName(completion.finish_reason))});
    if (success.ok()) (*success)->Increment();
    request_generation_tokens_->Observe(static_cast<double>(completion.token_ids.size()));
  }
  request_prompt_tokens_->Observe(static_cast<double>(output.prompt_token_ids.size()));

  const RequestMetrics& t = output.metrics;
  if (t.finished_time) e2e_request_latency_->Observe(SecondsBetween(t.arrival_time, *t.finished_time));
  if (t.first_scheduled_time) {
    request_queue_time_->Observe(SecondsBetween(t.arrival_time, *t.first_scheduled_time));
    if (t.last_token_time) {
      request_inference_time_->Observe(SecondsBetween(*t.first_scheduled_time, *t.last_token_time));
    }
    if (t.first_token_time) {
      request_prefill_time_->Observe(SecondsBetween(*t.first_scheduled_time, *t.first_token_time));
    }
  }
  if (t.first_token_time && t.last_token_time) {
    request_decode_time_->Observe(SecondsBetween(*t.first_token_time, *t.last_token_time));
  }
}

}  // namespace tessera::engine
