// tessera-router: routes tessera.v1.Generation calls to a pool of tessera-worker processes (static --workers,
// --discover-dns for a Kubernetes headless Service, and workers that register themselves), with health checks,
// a routing policy (prefix affinity by default), admission control and Prometheus metrics. SIGTERM or SIGINT
// drains: health turns NOT_SERVING, new requests are refused, running streams get --drain-grace-seconds to finish.
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/command_line.h"
#include "common/metrics/metrics_http_server.h"
#include "common/status_macros.h"
#include "services/router/router_server.h"
#include "services/router/worker_address.h"

namespace tessera::router {
namespace {

std::vector<FlagSpec> RouterFlagSpecs() {
  return {
      {"port", true, "port to listen on (required; 0 picks a free one)"},
      {"host", true, "address to listen on (default 0.0.0.0)"},
      {"workers", true, "static workers, comma-separated host:port list"},
      {"discover-dns", true, "NAME:PORT: every A record of NAME is a worker on PORT (Kubernetes headless Service)"},
      {"dns-refresh-seconds", true, "how often --discover-dns resolves again (default 5)"},
      {"policy", true, "round-robin, least-load or prefix-affinity (default prefix-affinity)"},
      {"max-queued-requests", true,
       "requests that may wait for a worker slot; beyond it RESOURCE_EXHAUSTED at once (default 256)"},
      {"max-inflight-per-worker", true,
       "requests in flight per worker (default 0: the worker's max_num_seqs from its load report)"},
      {"prefix-chars", true, "prefix affinity: leading characters of the chat messages or prompt hashed (default 256)"},
      {"prefix-tokens", true, "prefix affinity: leading token ids hashed for token-id prompts (default 64)"},
      {"virtual-nodes", true, "prefix affinity: hash-ring points per worker (default 160)"},
      {"load-guard-abs", true,
       "prefix affinity: overrule the ring when its worker has this many more requests than the least loaded "
       "(default 16)"},
      {"load-guard-ratio", true, "prefix affinity: ... and more than this many times as many (default 1.5)"},
      {"health-check-interval-ms", true, "how often each worker is probed (default 1000)"},
      {"health-check-timeout-ms", true, "how long a probe may take (default 900)"},
      {"unhealthy-after", true, "failed probes in a row that mark a worker unhealthy (default 2)"},
      {"max-attempts", true, "workers tried for one request before its first response (default 3)"},
      {"drain-grace-seconds", true, "on SIGTERM, how long running streams may go on (default 30)"},
      {"metrics-port", true, "serve Prometheus metrics at GET /metrics on this port (default: none)"},
      {"help", false, "show this help"},
  };
}

absl::StatusOr<int> IntFlag(const CommandLine& flags, const std::string& name, int64_t fallback, int64_t low,
                            int64_t high) {
  ASSIGN_OR_RETURN(int64_t value, flags.GetInt(name, fallback));
  if (value < low || value > high) {
    return absl::InvalidArgumentError(absl::StrCat("--", name, " must be between ", low, " and ", high));
  }
  return static_cast<int>(value);
}

absl::Status Run(int argc, char** argv) {
  const std::vector<FlagSpec> specs = RouterFlagSpecs();
  ASSIGN_OR_RETURN(CommandLine flags, CommandLine::Parse(argc, argv, 1, specs));
  if (flags.Has("help")) {
    std::fprintf(stdout,
                 "usage: tessera-router --port N [--workers host:port,...] [--discover-dns NAME:PORT] [flags]\n%s",
                 CommandLine::Usage(specs).c_str());
    return absl::OkStatus();
  }
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  if (!flags.Has("port")) return absl::InvalidArgumentError("--port N is required");

  RouterServerOptions options;
  ASSIGN_OR_RETURN(options.port, IntFlag(flags, "port", 0, 0, 65535));
  options.host = flags.GetString("host", options.host);
  if (flags.Has("workers")) {
    ASSIGN_OR_RETURN(options.static_workers, ParseWorkerList(flags.GetString("workers")));
  }
  if (flags.Has("discover-dns")) {
    ASSIGN_OR_RETURN(options.dns, ParseDnsTarget(flags.GetString("discover-dns")));
  }
  ASSIGN_OR_RETURN(int dns_refresh, IntFlag(flags, "dns-refresh-seconds", 5, 1, 3600));
  options.dns_refresh_interval = absl::Seconds(dns_refresh);
  options.policy = flags.GetString("policy", options.policy);
  ASSIGN_OR_RETURN(options.admission.max_queued_requests, IntFlag(flags, "max-queued-requests", 256, 0, 1 << 24));
  ASSIGN_OR_RETURN(options.registry.max_in_flight_per_worker,
                   IntFlag(flags, "max-inflight-per-worker", 0, 0, 1 << 24));
  ASSIGN_OR_RETURN(options.proxy.routing_key.prefix_chars, IntFlag(flags, "prefix-chars", 256, 1, 1 << 20));
  ASSIGN_OR_RETURN(options.proxy.routing_key.prefix_tokens, IntFlag(flags, "prefix-tokens", 64, 1, 1 << 20));
  ASSIGN_OR_RETURN(options.policy_options.virtual_nodes, IntFlag(flags, "virtual-nodes", 160, 1, 10000));
  ASSIGN_OR_RETURN(options.policy_options.load_guard_abs, flags.GetDouble("load-guard-abs", 16));
  ASSIGN_OR_RETURN(options.policy_options.load_guard_ratio, flags.GetDouble("load-guard-ratio", 1.5));
  ASSIGN_OR_RETURN(int interval_ms, IntFlag(flags, "health-check-interval-ms", 1000, 10, 600000));
  ASSIGN_OR_RETURN(int timeout_ms, IntFlag(flags, "health-check-timeout-ms", 900, 10, 600000));
  options.prober.interval = absl::Milliseconds(interval_ms);
  options.prober.timeout = absl::Milliseconds(timeout_ms);
  ASSIGN_OR_RETURN(options.registry.unhealthy_after_failures, IntFlag(flags, "unhealthy-after", 2, 1, 1000));
  ASSIGN_OR_RETURN(options.proxy.max_attempts, IntFlag(flags, "max-attempts", 3, 1, 100));
  ASSIGN_OR_RETURN(int grace_seconds, IntFlag(flags, "drain-grace-seconds", 30, 0, 86400));
  std::optional<int> metrics_port;
  if (flags.Has("metrics-port")) {
    ASSIGN_OR_RETURN(metrics_port, IntFlag(flags, "metrics-port", 0, 0, 65535));
  }

  // Signals are taken by sigwait below; every thread started from here on inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string policy = options.policy;
  const std::string host = options.host;
  const size_t num_static = options.static_workers.size();
  ASSIGN_OR_RETURN(std::unique_ptr<RouterServer> server, RouterServer::Start(std::move(options)));
  std::fprintf(stderr, "tessera-router: routing with %s on %s (%zu static workers)\n", policy.c_str(),
               server->address().c_str(), num_static);
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server;
  if (metrics_port) {
    ASSIGN_OR_RETURN(metrics_server, metrics::MetricsHttpServer::Start(&server->metrics_registry(), host,
                                                                       static_cast<uint16_t>(*metrics_port)));
    std::fprintf(stderr, "tessera-router: metrics at http://%s:%d/metrics\n", host.c_str(),
                 static_cast<int>(metrics_server->port()));
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "tessera-router: %s received, draining (up to %d s)\n",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT", grace_seconds);
  server->Shutdown(absl::Now() + absl::Seconds(grace_seconds));
  if (metrics_server) metrics_server->Stop();
  metrics_server.reset();
  server.reset();
  std::fprintf(stderr, "tessera-router: stopped\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace tessera::router

int main(int argc, char** argv) {
  absl::Status status = tessera::router::Run(argc, argv);
  if (!status.ok()) {
    std::fprintf(stderr, "tessera-router: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
