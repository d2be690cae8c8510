// When `tessera bench serve` sends each request, as vLLM's `bench serve` schedules them: all at once for an infinite
// --request-rate, otherwise gaps drawn from a gamma distribution (shape = --burstiness, mean = 1/rate; burstiness 1
// is a Poisson process), then scaled so that the last request goes out at num_requests/rate.
// Header-only so that the unit tests, which cannot link the CLI's sources, test this very code.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace tessera::cli {

// Seconds after the start of the run at which request i is sent, non-decreasing. `rate` > 0 (may be infinite),
// `burstiness` > 0 (may be infinite: evenly spaced).
inline std::vector<double> ArrivalOffsets(int num_requests, double rate, double burstiness, uint64_t seed) {
  std::vector<double> offsets(static_cast<size_t>(std::max(num_requests, 0)), 0.0);
  if (offsets.empty() || std::isinf(rate)) return offsets;
  std::mt19937_64 rng(seed);
  double total = 0.0;
  if (std::isinf(burstiness)) {
    for (double& offset : offsets) offset = (total += 1.0 / rate);
  } else {
    // Mean gap shape * scale = 1/rate whatever the burstiness; a lower shape makes the gaps burstier.
    std::gamma_distribution<double> gap(burstiness, 1.0 / (rate * burstiness));
    for (double& offset : offsets) offset = (total += gap(rng));
  }
  // The sum of random gaps misses num_requests/rate by a few percent; scaling it back keeps the offered load (and so
  // the throughput figures) stable across seeds, as vLLM does.
  if (offsets.back() > 0.0) {
    const double scale = (static_cast<double>(num_requests) / rate) / offsets.back();
    for (double& offset : offsets) offset *= scale;
  }
  return offsets;
}

}  // namespace tessera::cli
