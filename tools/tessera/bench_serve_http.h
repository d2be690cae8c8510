// The OpenAI HTTP backends of `tessera bench serve` (vLLM's `openai` and `openai-chat`): streamed POSTs to
// /v1/completions or /v1/chat/completions over Boost.Beast, one connection per request in flight (idle ones are
// reused, as aiohttp's pool does), the SSE stream parsed as it arrives and every chunk timestamped on arrival.
#pragma once

// g++ 12 in C++20 needs <utility> ahead of Asio's headers.
#include <utility>

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "absl/status/statusor.h"
#include "tools/tessera/bench_serve_backend.h"

namespace tessera::cli {

// http://host[:port][/prefix]; https is refused with a clear message (the benchmark speaks plain HTTP).
struct HttpBaseUrl {
  std::string host;
  std::string port;
  std::string path_prefix;  // without a trailing '/'
  std::string ToString() const;
};
absl::StatusOr<HttpBaseUrl> ParseHttpBaseUrl(const std::string& url);

struct OpenAiHttpOptions {
  HttpBaseUrl base_url;
  std::string endpoint = "/v1/completions";
  bool chat = false;    // openai-chat: messages in, delta.content out
  std::string api_key;  // sent as "Authorization: Bearer KEY" when non-empty
  BenchSampling sampling;
  double request_timeout_s = 6 * 3600;  // a deadline on every network step, as vLLM's 6 h client timeout
};

class OpenAiHttpBackend : public ServeBackend {
 public:
  // Resolves the host once, so that requests spend no time on DNS.
  static absl::StatusOr<std::unique_ptr<OpenAiHttpBackend>> Create(boost::asio::any_io_executor executor,
                                                                   OpenAiHttpOptions options);
  ~OpenAiHttpBackend() override;

  boost::asio::awaitable<RequestOutcome> Send(const BenchRequest& request, BenchClock::time_point run_start) override;
  boost::asio::awaitable<absl::StatusOr<std::string>> FirstModel() override;
  std::string Describe() const override;

 private:
  struct State;
  explicit OpenAiHttpBackend(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace tessera::cli
