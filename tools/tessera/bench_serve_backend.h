// What `tessera bench serve` drives: one streamed generation request at a time per coroutine, timed chunk by
// chunk. Backends are the OpenAI HTTP API (completions or chat, through the gateway) and tessera.v1.Generation
// over gRPC (a worker or the router directly). Every backend runs its requests on one Asio io_context.
#pragma once

// g++ 12 in C++20 needs <utility> ahead of Asio's headers.
#include <utility>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "absl/status/statusor.h"
#include "tools/tessera/bench_serve_metrics.h"

namespace tessera::cli {

using BenchClock = std::chrono::steady_clock;

// One prompt of the dataset, ready to send.
struct BenchRequest {
  std::string request_id;
  std::string model;                      // the name the server knows the model by
  std::string prompt;                     // text prompt
  std::vector<int32_t> prompt_token_ids;  // sent instead of `prompt` when non-empty
  int prompt_len = 0;
  int output_len = 0;
};

// The sampling fields every request carries; unset ones are left to the server's defaults, as vLLM does.
struct BenchSampling {
  bool ignore_eos = true;
  std::optional<double> temperature, top_p, min_p, frequency_penalty, presence_penalty, repetition_penalty;
  std::optional<int> top_k;
};

class ServeBackend {
 public:
  virtual ~ServeBackend() = default;
  // Sends `request` and streams its output. Never fails as a whole: errors end up in the outcome. Times are taken
  // from `run_start`.
  virtual boost::asio::awaitable<RequestOutcome> Send(const BenchRequest& request,
                                                      BenchClock::time_point run_start) = 0;
  // The first model the server lists (when --model is not given).
  virtual boost::asio::awaitable<absl::StatusOr<std::string>> FirstModel() = 0;
  // "POST http://host:port/v1/completions" or "grpc host:port", for messages.
  virtual std::string Describe() const = 0;
};

inline double SecondsBetween(BenchClock::time_point from, BenchClock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace tessera::cli
