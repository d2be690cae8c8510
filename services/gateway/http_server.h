// The gateway's HTTP/1.1 server (Boost.Beast on Asio coroutines): OpenAI routes (and vLLM's /tokenize,
// /detokenize) translated onto the backend's tessera.v1.Generation API, SSE streaming, keep-alive, body and header
// limits, Bearer API keys, CORS, and Prometheus metrics of every request at GET /metrics.
// Boost stays inside http_server.cc; this header only carries the options and the lifetime.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics/registry.h"
#include "tessera/v1/generation.grpc.pb.h"

namespace tessera::gateway {

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;  // 0 picks a free port (see HttpServer::port())
  std::vector<std::string> api_keys;  // empty: no authentication
  // Origins allowed to call from a browser: {"*"} allows any; otherwise a request whose Origin is listed gets it back
  // in Access-Control-Allow-Origin. Empty: no CORS headers.
  std::vector<std::string> cors_origins;
  // Put on every chat request so that workers split <think> output into reasoning_content ("deepseek_r1", "qwen3");
  // empty: no split.
  std::string reasoning_parser;
  // How long the backend's model list is trusted: it names the model of requests that omit one and answers 404
  // for unknown ones without a backend round trip.
  absl::Duration model_list_max_age = absl::Seconds(2);
  absl::Duration request_timeout = absl::Seconds(600);  // deadline of each backend call
  absl::Duration header_timeout = absl::Seconds(30);    // also the keep-alive idle limit
  absl::Duration body_timeout = absl::Seconds(60);
  absl::Duration write_timeout = absl::Seconds(60);
  absl::Duration health_timeout = absl::Seconds(5);
  size_t max_body_bytes = 32u << 20;
  int io_threads = 2;
  // Where the HTTP metrics go and what GET /metrics renders; it must outlive the server. Null: the server keeps
  // its own registry, with the process_* metrics. A caller's registry gets no process collector from here.
  metrics::Registry* metrics_registry = nullptr;
};

class HttpServer {
 public:
  // Binds and starts serving; the backend is the router (or a worker) behind `stub`.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      HttpServerOptions options, std::shared_ptr<tessera::v1::Generation::StubInterface> stub);
  ~HttpServer();

  uint16_t port() const;
  // Stops accepting, cancels the backend calls in flight and joins the IO threads. Idempotent.
  void Stop();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::gateway
