// The figures of `tessera bench serve`, computed from the timed requests exactly as vLLM's `bench serve` does:
// throughputs over the run's duration, TTFT, TPOT (decode time / (output tokens - 1)), ITL (every gap between
// streamed chunks) and E2EL, each as mean, median, population std and numpy-style (linear) percentiles.
// Header-only so that the unit tests, which cannot link the CLI's sources, test this very code.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace tessera::cli {

// One benchmark request as the client saw it. Times are seconds.
struct RequestOutcome {
  bool success = false;
  std::string error;        // why it failed; empty on success
  int prompt_len = 0;       // the dataset's length, replaced by the server's usage.prompt_tokens when sent
  int output_tokens = 0;    // generated tokens (the server's usage, else counted by the client)
  double start_time = 0.0;  // when it was sent, from the start of the run
  double queue_time = 0.0;  // how long it waited for a --max-concurrency slot before being sent
  double ttft = 0.0;        // to the first streamed chunk carrying output
  std::vector<double> itl;  // gaps between consecutive output chunks
  double latency = 0.0;     // to the last output chunk (E2EL)
  std::string generated_text;
};

struct MetricStats {
  double mean_ms = 0.0;
  double median_ms = 0.0;
  double std_ms = 0.0;
  std::vector<std::pair<double, double>> percentiles_ms;  // (percentile, value)
};

struct ServingMetrics {
  int completed = 0;
  int failed = 0;
  int64_t total_input = 0;
  int64_t total_output = 0;
  double request_throughput = 0.0;
  double output_throughput = 0.0;
  double total_token_throughput = 0.0;
  double max_output_tokens_per_s = 0.0;  // the busiest whole second of the run
  int max_concurrent_requests = 0;       // most requests in flight at once
  MetricStats ttft, tpot, itl, e2el;
  std::vector<int> output_lens;  // per request, 0 for a failed one
};

// numpy.percentile with linear interpolation; 0 for no values (numpy over [0], as vLLM passes `values or 0`).
inline double Percentile(std::vector<double> values, double percent) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  const double rank = std::clamp(percent, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(rank));
  const size_t above = std::min(below + 1, values.size() - 1);
  return values[below] + (values[above] - values[below]) * (rank - static_cast<double>(below));
}

inline MetricStats Summarize(const std::vector<double>& seconds, const std::vector<double>& percentiles) {
  MetricStats stats;
  if (!seconds.empty()) {
    const double n = static_cast<double>(seconds.size());
    const double mean = std::accumulate(seconds.begin(), seconds.end(), 0.0) / n;
    double squares = 0.0;
    for (double v : seconds) squares += (v - mean) * (v - mean);
    stats.mean_ms = mean * 1000.0;
    stats.std_ms = std::sqrt(squares / n) * 1000.0;
    stats.median_ms = Percentile(seconds, 50.0) * 1000.0;
  }
  for (double p : percentiles) stats.percentiles_ms.emplace_back(p, Percentile(seconds, p) * 1000.0);
  return stats;
}

inline ServingMetrics ComputeServingMetrics(const std::vector<RequestOutcome>& outcomes, double duration_s,
                                            const std::vector<double>& percentiles) {
  ServingMetrics m;
  std::vector<double> ttfts, tpots, itls, e2els;
  double first_start = 0.0, last_end = 0.0;
  for (const RequestOutcome& r : outcomes) {
    if (!r.success) {
      ++m.failed;
      m.output_lens.push_back(0);
      continue;
    }
    if (m.completed == 0 || r.start_time < first_start) first_start = r.start_time;
    if (m.completed == 0 || r.start_time + r.latency > last_end) last_end = r.start_time + r.latency;
    ++m.completed;
    m.output_lens.push_back(r.output_tokens);
    m.total_input += r.prompt_len;
    m.total_output += r.output_tokens;
    if (r.output_tokens > 1) tpots.push_back((r.latency - r.ttft) / (r.output_tokens - 1));
    itls.insert(itls.end(), r.itl.begin(), r.itl.end());
    ttfts.push_back(r.ttft);
    e2els.push_back(r.latency);
  }
  const double secs = duration_s > 0.0 ? duration_s : 1e-9;
  m.request_throughput = m.completed / secs;
  m.output_throughput = static_cast<double>(m.total_output) / secs;
  m.total_token_throughput = static_cast<double>(m.total_input + m.total_output) / secs;
  m.ttft = Summarize(ttfts, percentiles);
  m.tpot = Summarize(tpots, percentiles);
  m.itl = Summarize(itls, percentiles);
  m.e2el = Summarize(e2els, percentiles);

  if (m.completed > 0) {
    // Output chunks per whole second of the run (first chunk at ttft, then one per ITL gap), as vLLM counts them.
    const size_t buckets = static_cast<size_t>(std::ceil(last_end - first_start)) + 1;
    std::vector<double> per_second(buckets, 0.0);
    std::vector<std::pair<double, int>> events;  // (time, +1 arrival / -1 departure)
    for (const RequestOutcome& r : outcomes) {
      if (!r.success) continue;
      double t = r.start_time + r.ttft;
      auto count = [&](double at) {
        const double offset = at - first_start;
        if (offset >= 0.0 && offset < static_cast<double>(buckets)) per_second[static_cast<size_t>(offset)] += 1.0;
      };
      count(t);
      for (double gap : r.itl) count(t += gap);
      events.emplace_back(r.start_time, +1);
      events.emplace_back(r.start_time + r.latency, -1);
    }
    m.max_output_tokens_per_s = *std::max_element(per_second.begin(), per_second.end());
    // Half-open intervals: a request ending exactly when another starts does not overlap it.
    std::sort(events.begin(), events.end());
    int in_flight = 0;
    for (const auto& [time, delta] : events) {
      in_flight += delta;
      m.max_concurrent_requests = std::max(m.max_concurrent_requests, in_flight);
    }
  }
  return m;
}

}  // namespace tessera::cli
