// EngineMetrics: exact exposition text for the vLLM-compatible catalogue fed by hand-made outputs, then a real
// engine run whose counts must agree with what it generated, checked by promtool when it is installed.
#include "services/worker/engine/engine_metrics.h"

#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/worker/engine/llm_engine.h"
#include "tests/unit/common/metrics/promtool.h"

namespace tessera::engine {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

// The lines of one family, from its # HELP line up to the next family.
std::string FamilyBlock(const std::string& text, const std::string& name) {
  size_t start = text.find("# HELP " + name + " ");
  if (start == std::string::npos) return "";
  size_t end = text.find("# HELP ", start + 1);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The sample value on the line that starts with `series` followed by a space.
double SampleValue(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

Clock::time_point At(double seconds) {
  return Clock::time_point() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

std::unique_ptr<EngineMetrics> MakeMetrics(metrics::Registry& registry, int max_model_len = 100) {
  auto created = EngineMetrics::Create(registry, "tiny", max_model_len);
  EXPECT_TRUE(created.ok()) << created.status();
  return created.ok() ? std::move(*created) : nullptr;
}

TEST(Build125BucketsTest, MatchesVllm) {
  EXPECT_EQ(Build125Buckets(100), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(Build125Buckets(4096), (std::vector<double>{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}));
  EXPECT_TRUE(Build125Buckets(0).empty());
}

TEST(EngineMetricsTest, EverySeriesExistsAtZeroFromTheStart) {
  metrics::Registry registry;
  auto m = MakeMetrics(registry);
  ASSERT_NE(m, nullptr);
  std::string text = registry.Render();
  for (const char* series :
       {"tessera_num_requests_running{model_name=\"tiny\"} 0", "tessera_num_requests_waiting{model_name=\"tiny\"} 0",
        "tessera_kv_cache_usage_perc{model_name=\"tiny\"} 0", "tessera_prompt_tokens_total{model_name=\"tiny\"} 0",
        "tessera_generation_tokens_total{model_name=\"tiny\"} 0",
        "tessera_num_preemptions_total{model_name=\"tiny\"} 0",
        "tessera_prefix_cache_queries_total{model_name=\"tiny\"} 0",
        "tessera_prefix_cache_hits_total{model_name=\"tiny\"} 0",
        "tessera_request_success_total{model_name=\"tiny\",finished_reason=\"abort\"} 0",
        "tessera_request_success_total{model_name=\"tiny\",finished_reason=\"length\"} 0",
        "tessera_request_success_total{model_name=\"tiny\",finished_reason=\"stop\"} 0",
        "tessera_time_to_first_token_seconds_count{model_name=\"tiny\"} 0",
        "tessera_inter_token_latency_seconds_count{model_name=\"tiny\"} 0",
        "tessera_e2e_request_latency_seconds_count{model_name=\"tiny\"} 0",
        "tessera_request_queue_time_seconds_count{model_name=\"tiny\"} 0",
        "tessera_request_inference_time_seconds_count{model_name=\"tiny\"} 0",
        "tessera_request_prefill_time_seconds_count{model_name=\"tiny\"} 0",
        "tessera_request_decode_time_seconds_count{model_name=\"tiny\"} 0",
        "tessera_request_prompt_tokens_count{model_name=\"tiny\"} 0",
        "tessera_request_generation_tokens_count{model_name=\"tiny\"} 0"}) {
    EXPECT_THAT(text, HasSubstr(std::string("\n") + series + "\n")) << series;
  }
}

TEST(EngineMetricsTest, StepStatsExactText) {
  metrics::Registry registry;
  auto m = MakeMetrics(registry);
  ASSERT_NE(m, nullptr);
  m->RecordStep({.num_running = 3, .num_waiting = 2, .kv_cache_usage = 0.25, .num_preemptions = 1,
                 .prefix_cache_queries = 48, .prefix_cache_hits = 32});
  m->RecordStep({.num_running = 4, .num_waiting = 0, .kv_cache_usage = 0.5, .num_preemptions = 0,
                 .prefix_cache_queries = 16, .prefix_cache_hits = 0});
  std::string text = registry.Render();
  EXPECT_EQ(FamilyBlock(text, "tessera_num_requests_running"),
            "# HELP tessera_num_requests_running Number of requests in model execution batches.\n"
            "# TYPE tessera_num_requests_running gauge\n"
            "tessera_num_requests_running{model_name=\"tiny\"} 4\n");
  EXPECT_EQ(FamilyBlock(text, "tessera_num_requests_waiting"),
            "# HELP tessera_num_requests_waiting Number of requests waiting to be processed.\n"
            "# TYPE tessera_num_requests_waiting gauge\n"
            "tessera_num_requests_waiting{model_name=\"tiny\"} 0\n");
  EXPECT_EQ(FamilyBlock(text, "tessera_kv_cache_usage_perc"),
            "# HELP tessera_kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
            "# TYPE tessera_kv_cache_usage_perc gauge\n"
            "tessera_kv_cache_usage_perc{model_name=\"tiny\"} 0.5\n");
  EXPECT_EQ(FamilyBlock(text, "tessera_num_preemptions_total"),
            "# HELP tessera_num_preemptions_total Cumulative number of preemption from the engine.\n"
            "# TYPE tessera_num_preemptions_total counter\n"
            "tessera_num_preemptions_total{model_name=\"tiny\"} 1\n");
  EXPECT_EQ(FamilyBlock(text, "tessera_prefix_cache_queries_total"),
            "# HELP tessera_prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.\n"
            "# TYPE tessera_prefix_cache_queries_total counter\n"
            "tessera_prefix_cache_queries_total{model_name=\"tiny\"} 64\n");
  EXPECT_EQ(FamilyBlock(text, "tessera_prefix_cache_hits_total"),
            "# HELP tessera_prefix_cache_hits_total Prefix cache hits, in terms of number of cached tokens.\n"
            "# TYPE tessera_prefix_cache_hits_total counter\n"
            "tessera_prefix_cache_hits_total{model_name=\"tiny\"} 32\n");
}

TEST(EngineMetricsTest, CacheConfigInfo) {
  metrics::Registry registry;
  auto m = MakeMetrics(registry);
  ASSERT_NE(m, nullptr);
  m->RecordCacheConfig({.block_size = 16, .num_gpu_blocks = 512, .enable_prefix_caching = true,
                        .cache_dtype = "bfloat16"});
  EXPECT_EQ(FamilyBlock(registry.Render(), "tessera_cache_config_info"),
            "# HELP tessera_cache_config_info Information of the LLMEngine CacheConfig\n"
            "# TYPE tessera_cache_config_info gauge\n"
            "tessera_cache_config_info{model_name=\"tiny\",block_size=\"16\",cache_dtype=\"bfloat16\","
            "enable_prefix_caching=\"True\",num_gpu_blocks=\"512\"} 1\n");
}

// A request that arrives at t=10, is scheduled at 10.5, gets its first token at 11 and three more tokens in two
// later steps (at 11.25 and 11.5), then finishes by length at 11.5.
TEST(EngineMetricsTest, RequestLifecycleExactText) {
  metrics::Registry registry;
  auto m = MakeMetrics(registry);
  ASSERT_NE(m, nullptr);
  RequestOutput out;
  out.request_id = "r1";
  out.prompt_token_ids = std::vector<int32_t>(7, 5);
  out.outputs.resize(1);
  out.metrics.arrival_time = At(10);
  out.metrics.first_scheduled_time = At(10.5);
  out.metrics.first_token_time = At(11);

  out.outputs[0].token_ids = {1};
  out.outputs[0].num_new_tokens = 1;
  out.metrics.last_token_time = At(11);
  m->RecordOutput(out);

  out.outputs[0].token_ids = {1, 2, 3};
  out.outputs[0].num_new_tokens = 2;
  out.metrics.last_token_time = At(11.25);
  m->RecordOutput(out);

  out.outputs[0].token_ids = {1, 2, 3, 4};
  out.outputs[0].num_new_tokens = 1;
  out.outputs[0].finish_reason = FinishReason::kLength;
  out.metrics.last_token_time = At(11.5);
  out.metrics.finished_time = At(11.5);
  out.finished = true;
  m->RecordOutput(out);

  std::string text = registry.Render();
  EXPECT_EQ(SampleValue(text, "tessera_prompt_tokens_total{model_name=\"tiny\"}"), 7);
  EXPECT_EQ(SampleValue(text, "tessera_generation_tokens_total{model_name=\"tiny\"}"), 4);
  EXPECT_EQ(FamilyBlock(text, "tessera_request_success_total"),
            "# HELP tessera_request_success_total Count of successfully processed requests.\n"
            "# TYPE tessera_request_success_total counter\n"
            "tessera_request_success_total{model_name=\"tiny\",finished_reason=\"abort\"} 0\n"
            "tessera_request_success_total{model_name=\"tiny\",finished_reason=\"length\"} 1\n"
            "tessera_request_success_total{model_name=\"tiny\",finished_reason=\"stop\"} 0\n");
  // TTFT = 11 - 10 = 1 s, with vLLM's 22 bounds.
  EXPECT_EQ(FamilyBlock(text, "tessera_time_to_first_token_seconds"),
            "# HELP tessera_time_to_first_token_seconds Histogram of time to first token in seconds.\n"
            "# TYPE tessera_time_to_first_token_seconds histogram\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.001\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.005\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.01\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.02\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.04\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.06\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.08\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.1\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.25\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.5\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"0.75\"} 0\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"1\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"2.5\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"5\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"7.5\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"10\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"20\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"40\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"80\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"160\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"640\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"2560\"} 1\n"
            "tessera_time_to_first_token_seconds_bucket{model_name=\"tiny\",le=\"+Inf\"} 1\n"
            "tessera_time_to_first_token_seconds_sum{model_name=\"tiny\"} 1\n"
            "tessera_time_to_first_token_seconds_count{model_name=\"tiny\"} 1\n");
  // Two later steps: one ITL observation each (0.25 s), not one per token.
  std::string itl = FamilyBlock(text, "tessera_inter_token_latency_seconds");
  EXPECT_THAT(itl, HasSubstr("tessera_inter_token_latency_seconds_bucket{model_name=\"tiny\",le=\"0.2\"} 0\n"
                             "tessera_inter_token_latency_seconds_bucket{model_name=\"tiny\",le=\"0.3\"} 2\n"));
  EXPECT_THAT(itl, HasSubstr("tessera_inter_token_latency_seconds_sum{model_name=\"tiny\"} 0.5\n"
                             "tessera_inter_token_latency_seconds_count{model_name=\"tiny\"} 2\n"));
  // e2e 1.5, queue 0.5, inference 1, prefill 0.5, decode 0.5.
  EXPECT_EQ(SampleValue(text, "tessera_e2e_request_latency_seconds_sum{model_name=\"tiny\"}"), 1.5);
  EXPECT_THAT(text, HasSubstr("tessera_e2e_request_latency_seconds_bucket{model_name=\"tiny\",le=\"1\"} 0\n"
                              "tessera_e2e_request_latency_seconds_bucket{model_name=\"tiny\",le=\"1.5\"} 1\n"));
  EXPECT_EQ(SampleValue(text, "tessera_request_queue_time_seconds_sum{model_name=\"tiny\"}"), 0.5);
  EXPECT_EQ(SampleValue(text, "tessera_request_inference_time_seconds_sum{model_name=\"tiny\"}"), 1);
  EXPECT_EQ(SampleValue(text, "tessera_request_prefill_time_seconds_sum{model_name=\"tiny\"}"), 0.5);
  EXPECT_EQ(SampleValue(text, "tessera_request_decode_time_seconds_sum{model_name=\"tiny\"}"), 0.5);
  EXPECT_EQ(FamilyBlock(text, "tessera_request_prompt_tokens"),
            "# HELP tessera_request_prompt_tokens Number of prefill tokens processed.\n"
            "# TYPE tessera_request_prompt_tokens histogram\n"
            "tessera_request_prompt_tokens_bucket{model_name=\"tiny\",le=\"1\"} 0\n"
            "tessera_request_prompt_tokens_bucket{model_name=\"tiny\",le=\"2\"} 0\n"
            "tessera_request_prompt_tokens_bucket{model_name=\"tiny\",le=\"5\"} 0\n"
            "tessera_request_prompt_tokens_bucket{model_name=\"tiny\",le=\"10\"} 1\n"
            "tessera_request_prompt_tokens_bucket{model_name=\"tiny\",le=\"20\"} 1\n"
            "tessera_request_prompt_tokens_bucket{model_name=\"tiny\",le=\"50\"} 1\n"
            "tessera_request_prompt_tokens_bucket{model_name=\"tiny\",le=\"100\"} 1\n"
            "tessera_request_prompt_tokens_bucket{model_name=\"tiny\",le=\"+Inf\"} 1\n"
            "tessera_request_prompt_tokens_sum{model_name=\"tiny\"} 7\n"
            "tessera_request_prompt_tokens_count{model_name=\"tiny\"} 1\n");
  EXPECT_EQ(SampleValue(text, "tessera_request_generation_tokens_sum{model_name=\"tiny\"}"), 4);
}

TEST(EngineMetricsTest, AbortBeforeSchedulingSkipsMissingPhases) {
  metrics::Registry registry;
  auto m = MakeMetrics(registry);
  ASSERT_NE(m, nullptr);
  RequestOutput out;
  out.request_id = "gone";
  out.prompt_token_ids = {1, 2, 3};
  out.outputs.resize(2);  // n = 2, both aborted
  for (CompletionOutput& c : out.outputs) c.finish_reason = FinishReason::kAbort;
  out.finished = true;
  out.metrics.arrival_time = At(1);
  out.metrics.finished_time = At(3);
  m->RecordOutput(out);
  std::string text = registry.Render();
  EXPECT_EQ(SampleValue(text, "tessera_request_success_total{model_name=\"tiny\",finished_reason=\"abort\"}"), 2);
  EXPECT_EQ(SampleValue(text, "tessera_e2e_request_latency_seconds_sum{model_name=\"tiny\"}"), 2);
  EXPECT_EQ(SampleValue(text, "tessera_request_queue_time_seconds_count{model_name=\"tiny\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tessera_request_prefill_time_seconds_count{model_name=\"tiny\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tessera_request_decode_time_seconds_count{model_name=\"tiny\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tessera_time_to_first_token_seconds_count{model_name=\"tiny\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tessera_prompt_tokens_total{model_name=\"tiny\"}"), 0);  // never prefilled
  EXPECT_EQ(SampleValue(text, "tessera_request_generation_tokens_count{model_name=\"tiny\"}"), 2);
}

TEST(EngineMetricsTest, TwoModelsShareARegistry) {
  metrics::Registry registry;
  auto a = EngineMetrics::Create(registry, "a", 100);
  auto b = EngineMetrics::Create(registry, "b", 100);
  ASSERT_TRUE(a.ok() && b.ok());
  (*a)->RecordStep({.num_running = 1});
  (*b)->RecordStep({.num_running = 2});
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("tessera_num_requests_running{model_name=\"a\"} 1\n"
                              "tessera_num_requests_running{model_name=\"b\"} 2\n"));
  // A clashing definition is an error, not a silent second series.
  metrics::Registry clash;
  ASSERT_TRUE(clash.AddCounter("tessera_num_requests_running", "Something else.").ok());
  EXPECT_EQ(EngineMetrics::Create(clash, "a", 100).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(EngineMetricsTest, RealEngineRunAgreesWithItsOutputs) {
  EngineConfig config;
  config.model = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-llama";
  config.max_model_len = 256;
  config.kv_cache_memory_bytes = 16ll << 20;
  auto engine = LLMEngine::Create(config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  metrics::Registry registry;
  auto m = MakeMetrics(registry, (*engine)->info().max_model_len);
  ASSERT_NE(m, nullptr);

  SamplingParams params;
  params.max_tokens = 6;
  params.ignore_eos = true;
  const std::vector<std::vector<int32_t>> prompts = {{17, 300, 45, 812, 9}, {77, 512, 33}, {101, 7, 8, 9, 10, 11}};
  size_t prompt_tokens = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    ASSERT_TRUE((*engine)->AddRequest("req" + std::to_string(i), prompts[i], params).ok());
    prompt_tokens += prompts[i].size();
  }
  int64_t previous_preemptions = 0;
  int generated = 0;
  int finished = 0;
  int steps_with_tokens = 0;
  while ((*engine)->HasUnfinishedRequests()) {
    auto outputs = (*engine)->Step();
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    for (const RequestOutput& out : *outputs) {
      m->RecordOutput(out);
      for (const CompletionOutput& c : out.outputs) generated += c.num_new_tokens;
      steps_with_tokens += out.outputs[0].num_new_tokens > 0 ? 1 : 0;
      finished += out.finished ? 1 : 0;
    }
    m->RecordStep({.num_running = (*engine)->num_running(), .num_waiting = (*engine)->num_waiting(),
                   .kv_cache_usage = (*engine)->kv_cache_usage(),
                   .num_preemptions = (*engine)->num_preemptions() - previous_preemptions});
    previous_preemptions = (*engine)->num_preemptions();
  }
  ASSERT_EQ(finished, 3);
  ASSERT_EQ(generated, 18);
  std::string text = registry.Render();
  EXPECT_EQ(SampleValue(text, "tessera_generation_tokens_total{model_name=\"tiny\"}"), 18);
  EXPECT_EQ(SampleValue(text, "tessera_prompt_tokens_total{model_name=\"tiny\"}"), prompt_tokens);
  EXPECT_EQ(SampleValue(text, "tessera_request_success_total{model_name=\"tiny\",finished_reason=\"length\"}"), 3);
  EXPECT_EQ(SampleValue(text, "tessera_time_to_first_token_seconds_count{model_name=\"tiny\"}"), 3);
  EXPECT_EQ(SampleValue(text, "tessera_inter_token_latency_seconds_count{model_name=\"tiny\"}"),
            steps_with_tokens - 3);
  for (const char* histogram : {"e2e_request_latency_seconds", "request_queue_time_seconds",
                                "request_inference_time_seconds", "request_prefill_time_seconds",
                                "request_decode_time_seconds", "request_prompt_tokens",
                                "request_generation_tokens"}) {
    EXPECT_EQ(SampleValue(text, std::string("tessera_") + histogram + "_count{model_name=\"tiny\"}"), 3)
        << histogram;
  }
  EXPECT_EQ(SampleValue(text, "tessera_request_generation_tokens_sum{model_name=\"tiny\"}"), 18);
  EXPECT_EQ(SampleValue(text, "tessera_num_requests_running{model_name=\"tiny\"}"), 0);
  EXPECT_EQ(SampleValue(text, "tessera_kv_cache_usage_perc{model_name=\"tiny\"}"), 0);
  EXPECT_THAT(text, Not(HasSubstr("NaN")));
}

TEST(EngineMetricsTest, PromtoolAcceptsTheCatalogue) {
  if (!metrics::PromtoolAvailable()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  metrics::Registry registry;
  auto m = MakeMetrics(registry, 4096);
  ASSERT_NE(m, nullptr);
  m->RecordCacheConfig({.block_size = 16, .num_gpu_blocks = 100, .enable_prefix_caching = true});
  m->RecordStep({.num_running = 1, .num_waiting = 1, .kv_cache_usage = 0.1});
  RequestOutput out;
  out.request_id = "r";
  out.prompt_token_ids = {1, 2};
  out.outputs.resize(1);
  out.outputs[0].token_ids = {3};
  out.outputs[0].num_new_tokens = 1;
  out.outputs[0].finish_reason = FinishReason::kStop;
  out.finished = true;
  out.metrics.arrival_time = At(0);
  out.metrics.first_scheduled_time = At(0.001);
  out.metrics.first_token_time = At(0.01);
  out.metrics.last_token_time = At(0.01);
  out.metrics.finished_time = At(0.02);
  m->RecordOutput(out);
  metrics::PromtoolResult result = metrics::RunPromtoolCheckMetrics(registry.Render());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "");
}

}  // namespace
}  // namespace tessera::engine
