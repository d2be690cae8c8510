// A small HTTP/1.1 endpoint that Prometheus scrapes: GET /metrics answers with a Registry rendered in the text
// exposition format, anything else is 404. It runs on its own IO thread, so a service whose main protocol is not
// HTTP (the gRPC worker) can still be scraped. Boost stays inside the .cc file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics/registry.h"

namespace tessera::metrics {

// The Content-Type of the text exposition format 0.0.4.
inline constexpr char kTextFormatContentType[] = "text/plain; version=0.0.4; charset=utf-8";

class MetricsHttpServer {
 public:
  // Binds `host`:`port` (port 0 picks a free one) and starts serving `registry`, which must outlive the server.
  // Errors: InvalidArgument for a host that is not an IP address, Unavailable when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const Registry* registry, const std::string& host,
                                                                  uint16_t port);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  uint16_t port() const;
  // Joins the IO thread and closes the listening socket. Idempotent. Connections still open close when the server
  // is destroyed.
  void Stop();

  class Impl;

 private:
  explicit MetricsHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::metrics
