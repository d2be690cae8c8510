// The pure parts of `tessera bench serve`: the arrival schedule, the metric computation and the SSE reader.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/tessera/bench_serve_arrivals.h"
#include "tools/tessera/bench_serve_metrics.h"
#include "tools/tessera/bench_serve_sse.h"

namespace tessera::cli {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Pointwise;

std::vector<double> Gaps(const std::vector<double>& offsets) {
  std::vector<double> gaps;
  double previous = 0.0;
  for (double t : offsets) {
    gaps.push_back(t - previous);
    previous = t;
  }
  return gaps;
}

double CoefficientOfVariation(const std::vector<double>& values) {
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / values.size();
  double squares = 0.0;
  for (double v : values) squares += (v - mean) * (v - mean);
  return std::sqrt(squares / values.size()) / mean;
}

TEST(ArrivalOffsets, InfiniteRateSendsEverythingAtOnce) {
  EXPECT_THAT(ArrivalOffsets(4, INFINITY, 1.0, 0), ElementsAre(0.0, 0.0, 0.0, 0.0));
  EXPECT_THAT(ArrivalOffsets(3, INFINITY, 0.5, 7), ElementsAre(0.0, 0.0, 0.0));
  EXPECT_TRUE(ArrivalOffsets(0, 10.0, 1.0, 0).empty());
}

TEST(ArrivalOffsets, OffersExactlyTheRequestedMeanRate) {
  for (double rate : {0.5, 10.0, 250.0}) {
    const std::vector<double> offsets = ArrivalOffsets(1000, rate, 1.0, 42);
    ASSERT_EQ(offsets.size(), 1000u);
    EXPECT_TRUE(std::is_sorted(offsets.begin(), offsets.end()));
    EXPECT_GT(offsets.front(), 0.0);
    // Scaled so that the last request goes out at n / rate: the mean rate is exact, as vLLM's schedule.
    EXPECT_NEAR(offsets.back(), 1000.0 / rate, 1e-9 * 1000.0 / rate);
  }
}

TEST(ArrivalOffsets, PoissonGapsAreExponential) {
  const std::vector<double> gaps = Gaps(ArrivalOffsets(20000, 10.0, 1.0, 1));
  // An exponential distribution has a coefficient of variation of 1 and a median of ln(2) times its mean.
  EXPECT_NEAR(CoefficientOfVariation(gaps), 1.0, 0.05);
  std::vector<double> sorted = gaps;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NEAR(sorted[sorted.size() / 2], std::log(2.0) * 0.1, 0.01);
}

TEST(ArrivalOffsets, BurstinessIsTheGammaShape) {
  // Gamma(shape k) gaps have a coefficient of variation of 1/sqrt(k): burstier below 1, steadier above.
  EXPECT_NEAR(CoefficientOfVariation(Gaps(ArrivalOffsets(20000, 10.0, 0.25, 3))), 2.0, 0.15);
  EXPECT_NEAR(CoefficientOfVariation(Gaps(ArrivalOffsets(20000, 10.0, 4.0, 3))), 0.5, 0.05);
}

TEST(ArrivalOffsets, InfiniteBurstinessSpacesRequestsEvenly) {
  EXPECT_THAT(ArrivalOffsets(4, 2.0, INFINITY, 0), Pointwise(DoubleNear(1e-12), std::vector<double>{0.5, 1, 1.5, 2}));
}

TEST(ArrivalOffsets, SameSeedSameSchedule) {
  EXPECT_EQ(ArrivalOffsets(100, 5.0, 1.0, 9), ArrivalOffsets(100, 5.0, 1.0, 9));
  EXPECT_EQ(ArrivalOffsets(100, 5.0, 0.5, 9), ArrivalOffsets(100, 5.0, 0.5, 9));
  EXPECT_NE(ArrivalOffsets(100, 5.0, 1.0, 9), ArrivalOffsets(100, 5.0, 1.0, 10));
}

TEST(Percentile, InterpolatesLinearlyLikeNumpy) {
  const std::vector<double> values = {4.0, 1.0, 3.0, 2.0};
  EXPECT_DOUBLE_EQ(Percentile(values, 0), 1.0);
  EXPECT_DOUBLE_EQ(Percentile(values, 50), 2.5);
  EXPECT_NEAR(Percentile(values, 99), 3.97, 1e-12);  // numpy.percentile([1, 2, 3, 4], 99)
  EXPECT_DOUBLE_EQ(Percentile(values, 100), 4.0);
  EXPECT_DOUBLE_EQ(Percentile({7.0}, 99), 7.0);
  EXPECT_DOUBLE_EQ(Percentile({}, 50), 0.0);
}

TEST(Summarize, MeanMedianPopulationStdAndPercentilesInMilliseconds) {
  const MetricStats stats = Summarize({0.001, 0.002, 0.003, 0.010}, {50, 90, 99});
  EXPECT_NEAR(stats.mean_ms, 4.0, 1e-9);
  EXPECT_NEAR(stats.median_ms, 2.5, 1e-9);
  EXPECT_NEAR(stats.std_ms, std::sqrt((9.0 + 4.0 + 1.0 + 36.0) / 4.0), 1e-12);
  ASSERT_EQ(stats.percentiles_ms.size(), 3u);
  EXPECT_DOUBLE_EQ(stats.percentiles_ms[0].first, 50);
  EXPECT_NEAR(stats.percentiles_ms[0].second, 2.5, 1e-9);
  EXPECT_NEAR(stats.percentiles_ms[1].second, 7.9, 1e-9);
  EXPECT_NEAR(stats.percentiles_ms[2].second, 9.79, 1e-9);
  // Percentiles never decrease with p, and bracket the median.
  EXPECT_LE(stats.median_ms, stats.percentiles_ms[1].second);
  EXPECT_LE(stats.percentiles_ms[1].second, stats.percentiles_ms[2].second);
}

RequestOutcome Succeeded(double start, int prompt_len, int output_tokens, double ttft, std::vector<double> itl) {
  RequestOutcome r;
  r.success = true;
  r.start_time = start;
  r.prompt_len = prompt_len;
  r.output_tokens = output_tokens;
  r.ttft = ttft;
  r.latency = ttft + std::accumulate(itl.begin(), itl.end(), 0.0);
  r.itl = std::move(itl);
  return r;
}

TEST(ComputeServingMetrics, CountsTokensAndTimesOfSuccessfulRequestsOnly) {
  std::vector<RequestOutcome> outcomes;
  outcomes.push_back(Succeeded(0.0, 10, 3, 0.5, {0.25, 0.25}));  // ends at 1.0
  RequestOutcome failed;
  failed.error = "HTTP 500";
  failed.prompt_len = 99;
  outcomes.push_back(failed);
  outcomes.push_back(Succeeded(0.5, 20, 5, 1.0, {0.5, 0.5, 0.5, 0.5}));  // ends at 3.5

  const ServingMetrics m = ComputeServingMetrics(outcomes, 4.0, {99});
  EXPECT_EQ(m.completed, 2);
  EXPECT_EQ(m.failed, 1);
  EXPECT_EQ(m.total_input, 30);
  EXPECT_EQ(m.total_output, 8);
  EXPECT_THAT(m.output_lens, ElementsAre(3, 0, 5));
  EXPECT_DOUBLE_EQ(m.request_throughput, 0.5);
  EXPECT_DOUBLE_EQ(m.output_throughput, 2.0);
  EXPECT_DOUBLE_EQ(m.total_token_throughput, 38.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.ttft.mean_ms, 750.0);
  // TPOT excludes the first token: (1.0 - 0.5) / 2 and (3.0 - 1.0) / 4.
  EXPECT_NEAR(m.tpot.mean_ms, 375.0, 1e-9);
  EXPECT_NEAR(m.tpot.median_ms, 375.0, 1e-9);
  // ITL pools every gap of every request.
  EXPECT_NEAR(m.itl.mean_ms, (0.25 * 2 + 0.5 * 4) / 6 * 1000.0, 1e-9);
  EXPECT_NEAR(m.itl.median_ms, 500.0, 1e-9);
  EXPECT_NEAR(m.e2el.mean_ms, (1.0 + 3.0) / 2 * 1000.0, 1e-9);
  EXPECT_EQ(m.max_concurrent_requests, 2);
  // Chunks at 0.5, 0.75, 1.0 (first request) and 1.5, 2.0, 2.5, 3.0, 3.5: second [1, 2) holds two, [0, 1) two,
  // [2, 3) two, [3, 4) two; none holds more.
  EXPECT_DOUBLE_EQ(m.max_output_tokens_per_s, 2.0);
}

TEST(ComputeServingMetrics, OneTokenOutputsHaveNoTpotAndTouchingRequestsDoNotOverlap) {
  std::vector<RequestOutcome> outcomes = {Succeeded(0.0, 4, 1, 0.2, {}), Succeeded(0.2, 4, 1, 0.3, {})};
  const ServingMetrics m = ComputeServingMetrics(outcomes, 1.0, {50, 99});
  EXPECT_EQ(m.completed, 2);
  EXPECT_DOUBLE_EQ(m.tpot.mean_ms, 0.0);
  EXPECT_DOUBLE_EQ(m.itl.mean_ms, 0.0);
  EXPECT_EQ(m.tpot.percentiles_ms.size(), 2u);
  EXPECT_EQ(m.max_concurrent_requests, 1);  // the second starts exactly when the first ends
}

TEST(ComputeServingMetrics, AllFailed) {
  RequestOutcome failed;
  failed.error = "connection refused";
  const ServingMetrics m = ComputeServingMetrics({failed, failed}, 0.5, {99});
  EXPECT_EQ(m.completed, 0);
  EXPECT_EQ(m.failed, 2);
  EXPECT_EQ(m.total_output, 0);
  EXPECT_DOUBLE_EQ(m.request_throughput, 0.0);
  EXPECT_DOUBLE_EQ(m.ttft.percentiles_ms[0].second, 0.0);
}

TEST(SseReader, YieldsEachEventOnceItsBlankLineArrives) {
  SseReader reader;
  EXPECT_TRUE(reader.Feed("data: {\"a\":").empty());
  EXPECT_TRUE(reader.Feed("1}\n").empty());
  EXPECT_THAT(reader.Feed("\ndata: [DONE]\n\n"), ElementsAre("{\"a\":1}", "[DONE]"));
  EXPECT_TRUE(reader.Finish().empty());
}

TEST(SseReader, ByteByByteEqualsAllAtOnce) {
  const std::string stream =
      ": keep-alive comment\r\n\r\ndata: one\r\n\r\nevent: x\nid: 3\ndata:two\ndata: lines\n\ndata: [DONE]\n\n";
  SseReader whole;
  const std::vector<std::string> expected = whole.Feed(stream);
  EXPECT_THAT(expected, ElementsAre("one", "two\nlines", "[DONE]"));
  SseReader bytes;
  std::vector<std::string> got;
  for (char c : stream) {
    for (std::string& event : bytes.Feed(std::string(1, c))) got.push_back(std::move(event));
  }
  EXPECT_EQ(got, expected);
}

TEST(SseReader, FinishFlushesAnUnterminatedEvent) {
  SseReader reader;
  EXPECT_TRUE(reader.Feed("data: last").empty());
  EXPECT_THAT(reader.Finish(), ElementsAre("last"));
  EXPECT_TRUE(reader.Finish().empty());
}

}  // namespace
}  // namespace tessera::cli
