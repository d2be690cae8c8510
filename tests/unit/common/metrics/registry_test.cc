#include "common/metrics/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/metrics/process_collector.h"
#include "tests/unit/common/metrics/promtool.h"

namespace tessera::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(RegistryTest, EmptyRegistryRendersNothing) {
  Registry registry;
  EXPECT_EQ(registry.Render(), "");
}

TEST(RegistryTest, CounterExactText) {
  Registry registry;
  absl::StatusOr<CounterFamily*> family =
      registry.AddCounter("tessera_requests_total", "Requests handled.", {"method", "status"});
  ASSERT_TRUE(family.ok()) << family.status();
  Counter* ok_get = *(*family)->WithLabels({"GET", "200"});
  Counter* bad_post = *(*family)->WithLabels({"POST", "400"});
  ok_get->Increment();
  ok_get->Increment(2);
  bad_post->Increment(0.5);
  EXPECT_EQ(registry.Render(),
            "# HELP tessera_requests_total Requests handled.\n"
            "# TYPE tessera_requests_total counter\n"
            "tessera_requests_total{method=\"GET\",status=\"200\"} 3\n"
            "tessera_requests_total{method=\"POST\",status=\"400\"} 0.5\n");
}

TEST(RegistryTest, CounterWithoutLabels) {
  Registry registry;
  Counter* counter = *(*registry.AddCounter("events_total", "Events."))->WithLabels({});
  counter->Increment(7);
  EXPECT_EQ(registry.Render(),
            "# HELP events_total Events.\n"
            "# TYPE events_total counter\n"
            "events_total 7\n");
}

TEST(RegistryTest, CounterNeverDecreases) {
  Registry registry;
  Counter* counter = *(*registry.AddCounter("c_total", "C."))->WithLabels({});
  counter->Increment(5);
  counter->Increment(-3);
  counter->Increment(std::nan(""));
  EXPECT_EQ(counter->Value(), 5);
  counter->IncreaseTo(4);
  EXPECT_EQ(counter->Value(), 5);
  counter->IncreaseTo(9.5);
  EXPECT_EQ(counter->Value(), 9.5);
}

TEST(RegistryTest, GaugeExactTextWithSpecialValues) {
  Registry registry;
  GaugeFamily* family = *registry.AddGauge("temperature", "Current temperature.", {"room"});
  (*family->WithLabels({"a"}))->Set(21.5);
  Gauge* b = *family->WithLabels({"b"});
  b->Set(10);
  b->Increment(5);
  b->Decrement(20);
  (*family->WithLabels({"c"}))->Set(std::numeric_limits<double>::infinity());
  (*family->WithLabels({"d"}))->Set(-std::numeric_limits<double>::infinity());
  (*family->WithLabels({"e"}))->Set(std::nan(""));
  EXPECT_EQ(registry.Render(),
            "# HELP temperature Current temperature.\n"
            "# TYPE temperature gauge\n"
            "temperature{room=\"a\"} 21.5\n"
            "temperature{room=\"b\"} -5\n"
            "temperature{room=\"c\"} +Inf\n"
            "temperature{room=\"d\"} -Inf\n"
            "temperature{room=\"e\"} NaN\n");
}

TEST(RegistryTest, HistogramExactTextIsCumulativeWithInf) {
  Registry registry;
  HistogramFamily* family = *registry.AddHistogram("latency_seconds", "Latency.", {0.1, 0.5, 1}, {"route"});
  Histogram* histogram = *family->WithLabels({"/v1"});
  for (double value : {0.05, 0.1, 0.3, 0.7, 3.0}) histogram->Observe(value);
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{route=\"/v1\",le=\"0.1\"} 2\n"  // bounds are inclusive: 0.1 counts here
            "latency_seconds_bucket{route=\"/v1\",le=\"0.5\"} 3\n"
            "latency_seconds_bucket{route=\"/v1\",le=\"1\"} 4\n"
            "latency_seconds_bucket{route=\"/v1\",le=\"+Inf\"} 5\n"
            "latency_seconds_sum{route=\"/v1\"} 4.15\n"
            "latency_seconds_count{route=\"/v1\"} 5\n");
}

TEST(RegistryTest, HistogramWithoutLabelsAndNaN) {
  Registry registry;
  Histogram* histogram = *(*registry.AddHistogram("size_bytes", "Sizes.", {1, 10, 100}))->WithLabels({});
  histogram->Observe(1);
  histogram->Observe(1000);
  EXPECT_EQ(registry.Render(),
            "# HELP size_bytes Sizes.\n"
            "# TYPE size_bytes histogram\n"
            "size_bytes_bucket{le=\"1\"} 1\n"
            "size_bytes_bucket{le=\"10\"} 1\n"
            "size_bytes_bucket{le=\"100\"} 1\n"
            "size_bytes_bucket{le=\"+Inf\"} 2\n"
            "size_bytes_sum 1001\n"
            "size_bytes_count 2\n");
  histogram->Observe(std::nan(""));
  Histogram::Snapshot snapshot = histogram->TakeSnapshot();
  EXPECT_EQ(snapshot.cumulative_counts, (std::vector<uint64_t>{1, 1, 1, 3}));
  EXPECT_EQ(snapshot.count, 3u);
  EXPECT_TRUE(std::isnan(snapshot.sum));
}

TEST(RegistryTest, HistogramExplicitInfBoundIsNotDuplicated) {
  Registry registry;
  HistogramFamily* family =
      *registry.AddHistogram("h", "H.", {1, std::numeric_limits<double>::infinity()});
  EXPECT_EQ(family->upper_bounds(), (std::vector<double>{1, std::numeric_limits<double>::infinity()}));
  HistogramFamily* only_inf = *registry.AddHistogram("only_inf", "Only +Inf.", {});
  EXPECT_EQ(only_inf->upper_bounds().size(), 1u);
}

TEST(RegistryTest, EscapingOfLabelValuesAndHelp) {
  Registry registry;
  GaugeFamily* family = *registry.AddGauge("escaped", "Help with \\ backslash\nand \"quotes\".", {"path"});
  (*family->WithLabels({"C:\\dir\n\"quoted\""}))->Set(1);
  EXPECT_EQ(registry.Render(),
            "# HELP escaped Help with \\\\ backslash\\nand \"quotes\".\n"
            "# TYPE escaped gauge\n"
            "escaped{path=\"C:\\\\dir\\n\\\"quoted\\\"\"} 1\n");
}

TEST(RegistryTest, OrderingIsByFamilyNameThenLabelValues) {
  Registry registry;
  GaugeFamily* zebra = *registry.AddGauge("zebra", "Z.", {"k"});
  GaugeFamily* alpha = *registry.AddGauge("alpha", "A.", {"k"});
  for (const char* value : {"c", "a", "b"}) {
    (*zebra->WithLabels({value}))->Set(1);
    (*alpha->WithLabels({value}))->Set(2);
  }
  EXPECT_EQ(registry.Render(),
            "# HELP alpha A.\n# TYPE alpha gauge\n"
            "alpha{k=\"a\"} 2\nalpha{k=\"b\"} 2\nalpha{k=\"c\"} 2\n"
            "# HELP zebra Z.\n# TYPE zebra gauge\n"
            "zebra{k=\"a\"} 1\nzebra{k=\"b\"} 1\nzebra{k=\"c\"} 1\n");
  EXPECT_EQ(registry.Render(), registry.Render());
}

TEST(RegistryTest, FamilyWithoutChildrenRendersOnlyHeader) {
  Registry registry;
  ASSERT_TRUE(registry.AddCounter("later_total", "Filled later.", {"x"}).ok());
  EXPECT_EQ(registry.Render(), "# HELP later_total Filled later.\n# TYPE later_total counter\n");
}

TEST(RegistryTest, HandlesAreStableAndShared) {
  Registry registry;
  CounterFamily* family = *registry.AddCounter("x_total", "X.", {"a"});
  Counter* first = *family->WithLabels({"1"});
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(family->WithLabels({std::to_string(i + 2)}).ok());
  EXPECT_EQ(*family->WithLabels({"1"}), first);
}

TEST(RegistryTest, SameDefinitionReturnsSameFamily) {
  Registry registry;
  CounterFamily* first = *registry.AddCounter("shared_total", "Shared.", {"a"});
  absl::StatusOr<CounterFamily*> second = registry.AddCounter("shared_total", "Shared.", {"a"});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, first);
  HistogramFamily* h1 = *registry.AddHistogram("h_seconds", "H.", {1, 2});
  EXPECT_EQ(*registry.AddHistogram("h_seconds", "H.", {1, 2}), h1);
}

TEST(RegistryTest, ConflictingDefinitionsAreRejected) {
  Registry registry;
  ASSERT_TRUE(registry.AddCounter("m_total", "M.", {"a"}).ok());
  EXPECT_EQ(registry.AddGauge("m_total", "M.", {"a"}).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddCounter("m_total", "M.", {"b"}).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddCounter("m_total", "Other.", {"a"}).status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(registry.AddHistogram("h", "H.", {1}).ok());
  EXPECT_EQ(registry.AddHistogram("h", "H.", {2}).status().code(), absl::StatusCode::kAlreadyExists);
  // A histogram writes h_bucket, h_sum and h_count: nothing else may claim those names, in either order.
  absl::Status clash = registry.AddGauge("h_count", "C.").status();
  EXPECT_EQ(clash.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(clash.message(), HasSubstr("h_count"));
  ASSERT_TRUE(registry.AddGauge("g_sum", "G.").ok());
  EXPECT_EQ(registry.AddHistogram("g", "G.", {1}).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(RegistryTest, InvalidDefinitionsAreClearErrors) {
  Registry registry;
  absl::Status bad_name = registry.AddCounter("bad-name_total", "X.").status();
  EXPECT_EQ(bad_name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_name.message(), HasSubstr("'bad-name_total'"));
  absl::Status bad_label = registry.AddGauge("g", "G.", {"__reserved"}).status();
  EXPECT_EQ(bad_label.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_label.message(), HasSubstr("'__reserved'"));
  EXPECT_THAT(registry.AddGauge("g", "G.", {"a", "a"}).status().message(), HasSubstr("appears twice"));
  EXPECT_THAT(registry.AddGauge("g", "").status().message(), HasSubstr("HELP"));
  EXPECT_THAT(registry.AddGauge("g", "\xFF").status().message(), HasSubstr("UTF-8"));
  EXPECT_THAT(registry.AddHistogram("h", "H.", {1}, {"le"}).status().message(), HasSubstr("'le' is reserved"));
  EXPECT_THAT(registry.AddHistogram("h", "H.", {1, 1}).status().message(), HasSubstr("strictly increasing"));
  EXPECT_THAT(registry.AddHistogram("h", "H.", {2, 1}).status().message(), HasSubstr("strictly increasing"));
  EXPECT_THAT(registry.AddHistogram("h", "H.", {std::nan("")}).status().message(), HasSubstr("NaN"));
  EXPECT_EQ(registry.Render(), "");  // nothing half-registered
}

TEST(RegistryTest, WrongLabelValuesAreClearErrors) {
  Registry registry;
  CounterFamily* family = *registry.AddCounter("r_total", "R.", {"a", "b"});
  absl::Status too_few = family->WithLabels({"x"}).status();
  EXPECT_EQ(too_few.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(too_few.message(), HasSubstr("'r_total' takes 2 label values"));
  EXPECT_THAT(too_few.message(), HasSubstr("got 1"));
  EXPECT_FALSE(family->WithLabels({"x", "y", "z"}).ok());
  EXPECT_THAT(family->WithLabels({"x", "\xC3"}).status().message(), HasSubstr("label 'b' is not valid UTF-8"));
}

TEST(RegistryTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(LinearBuckets(0.5, 0.5, 3), (std::vector<double>{0.5, 1, 1.5}));
}

TEST(RegistryTest, ConcurrentUpdatesLoseNothing) {
  Registry registry;
  CounterFamily* counters = *registry.AddCounter("hits_total", "Hits.", {"thread_group"});
  GaugeFamily* gauges = *registry.AddGauge("level", "Level.");
  HistogramFamily* histograms = *registry.AddHistogram("obs", "Observations.", {0.5, 1.5, 2.5});
  Gauge* gauge = *gauges->WithLabels({});
  Histogram* histogram = *histograms->WithLabels({});
  constexpr int kThreads = 8;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Threads share two children, each looked up concurrently, while another thread renders.
      Counter* counter = *counters->WithLabels({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kIterations; ++i) {
        counter->Increment();
        gauge->Increment();
        gauge->Decrement(0.5);
        histogram->Observe(i % 3);  // 0, 1, 2: one per finite bucket
      }
    });
  }
  std::thread renderer([&] {
    for (int i = 0; i < 20; ++i) EXPECT_THAT(registry.Render(), StartsWith("# HELP hits_total"));
  });
  for (std::thread& thread : threads) thread.join();
  renderer.join();
  constexpr double kTotal = double{kThreads} * kIterations;
  EXPECT_EQ((*counters->WithLabels({"even"}))->Value() + (*counters->WithLabels({"odd"}))->Value(), kTotal);
  EXPECT_EQ(gauge->Value(), kTotal * 0.5);
  Histogram::Snapshot snapshot = histogram->TakeSnapshot();
  EXPECT_EQ(snapshot.count, static_cast<uint64_t>(kTotal));
  EXPECT_EQ(snapshot.cumulative_counts.back(), snapshot.count);
  // Every value is an integer, so the double sum is exact whatever the order of additions.
  double expected_sum = 0;
  for (int i = 0; i < kIterations; ++i) expected_sum += i % 3;
  EXPECT_EQ(snapshot.sum, expected_sum * kThreads);
}

TEST(RegistryTest, CollectHooksRunBeforeRender) {
  Registry registry;
  Gauge* gauge = *(*registry.AddGauge("renders", "Renders so far."))->WithLabels({});
  registry.AddCollectHook([gauge] { gauge->Increment(); });
  EXPECT_THAT(registry.Render(), HasSubstr("renders 1\n"));
  EXPECT_THAT(registry.Render(), HasSubstr("renders 2\n"));
}

TEST(RegistryTest, PromtoolAcceptsEverything) {
  if (!PromtoolAvailable()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  Registry registry;
  ASSERT_TRUE(AddProcessCollector(registry).ok());
  CounterFamily* counters = *registry.AddCounter("tessera_http_requests_total", "HTTP requests by route.",
                                                 {"handler", "method", "status"});
  (*counters->WithLabels({"/v1/chat/completions", "POST", "200"}))->Increment(3);
  (*counters->WithLabels({"weird \"route\"\\\n", "GET", "404"}))->Increment();
  GaugeFamily* gauges = *registry.AddGauge("tessera_level", "A level with \"quotes\", a \\ and a\nnewline.",
                                           {"kind"});
  (*gauges->WithLabels({"inf"}))->Set(std::numeric_limits<double>::infinity());
  (*gauges->WithLabels({"neg_inf"}))->Set(-std::numeric_limits<double>::infinity());
  (*gauges->WithLabels({"nan"}))->Set(std::nan(""));
  (*gauges->WithLabels({"big"}))->Set(1e300);
  (*gauges->WithLabels({"tiny"}))->Set(1.5e-9);
  (*gauges->WithLabels({"unicode \xE2\x82\xAC"}))->Set(-2);
  HistogramFamily* histograms =
      *registry.AddHistogram("tessera_http_request_duration_seconds", "Request latency.",
                             {0.001, 0.01, 0.1, 1, 10, 100}, {"handler"});
  for (double value : {0.0005, 0.05, 0.5, 5.0, 500.0}) (*histograms->WithLabels({"/v1/models"}))->Observe(value);
  ASSERT_TRUE(histograms->WithLabels({"/health"}).ok());  // a child with no observations
  ASSERT_TRUE(registry.AddCounter("tessera_unused_total", "Never incremented.", {"x"}).ok());

  PromtoolResult result = RunPromtoolCheckMetrics(registry.Render());
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(result.output, "");
}

TEST(RegistryTest, PromtoolRejectsBrokenTextSoTheCheckMeansSomething) {
  if (!PromtoolAvailable()) GTEST_SKIP() << "promtool not installed (Debian package prometheus)";
  PromtoolResult result = RunPromtoolCheckMetrics("# TYPE x counter\nx{a=\"unterminated} 1\n");
  EXPECT_NE(result.exit_code, 0);
  PromtoolResult lint = RunPromtoolCheckMetrics("# HELP requests Requests.\n# TYPE requests counter\nrequests 1\n");
  EXPECT_NE(lint.exit_code, 0);
  EXPECT_THAT(lint.output, HasSubstr("_total"));
}

}  // namespace
}  // namespace tessera::metrics
