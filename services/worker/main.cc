// tessera-worker: serves one model over gRPC (tessera.v1.Generation, tessera.v1.WorkerControl, grpc.health.v1).
// SIGTERM or SIGINT drains: health turns NOT_SERVING, no new requests are admitted, in-flight ones get
// --drain-grace-seconds to finish, then the process exits 0.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/command_line.h"
#include "common/metrics/metrics_http_server.h"
#include "common/metrics/process_collector.h"
#include "common/metrics/registry.h"
#include "common/status_macros.h"
#include "services/worker/async_engine.h"
#include "services/worker/engine/engine_flags.h"
#include "services/worker/generation_service.h"
#include "services/worker/registration_client.h"
#include "services/worker/tensor_parallel_launcher.h"
#include "services/worker/worker_server.h"

namespace tessera::worker {
namespace {

std::vector<FlagSpec> WorkerFlagSpecs() {
  std::vector<FlagSpec> specs = engine::EngineFlagSpecs();
  specs.push_back({"host", true, "address to listen on (default 0.0.0.0)"});
  specs.push_back({"port", true, "port to listen on (required; 0 picks a free one)"});
  specs.push_back({"served-model-name", true, "model id clients use (default: the --model argument)"});
  specs.push_back({"advertised-address", true, "host:port reported to the router (default: host:port bound)"});
  specs.push_back({"max-in-flight-requests", true,
                   "refuse requests beyond this many with RESOURCE_EXHAUSTED "
                   "(default 0 = no limit)"});
  specs.push_back({"drain-grace-seconds", true, "on SIGTERM, how long in-flight requests may run on (default 30)"});
  specs.push_back({"metrics-port", true,
                   "serve Prometheus metrics at GET /metrics on this port (same host; default: no metrics endpoint)"});
  specs.push_back({"register-with", true,
                   "HOST:PORT of a tessera-router: register there and push a load report every second"});
  for (FlagSpec& spec : TensorParallelFlagSpecs()) specs.push_back(std::move(spec));
  specs.push_back({"help", false, "show this help"});
  return specs;
}

absl::Status Run(int argc, char** argv) {
  const std::vector<FlagSpec> specs = WorkerFlagSpecs();
  ASSIGN_OR_RETURN(CommandLine flags, CommandLine::Parse(argc, argv, 1, specs));
  if (flags.Has("help")) {
    std::fprintf(stdout, "usage: tessera-worker --model DIR --port N [flags]\n%s", CommandLine::Usage(specs).c_str());
    return absl::OkStatus();
  }
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", flags.positional()[0], "'"));
  }
  ASSIGN_OR_RETURN(engine::EngineConfig config, engine::EngineConfigFromFlags(flags));
  // A follower rank serves no requests: it runs the steps its leader sends until the leader stops.
  if (IsTensorParallelFollower(flags)) return RunTensorParallelFollower(flags, config);
  if (!flags.Has("port")) return absl::InvalidArgumentError("--port N is required");
  ASSIGN_OR_RETURN(int64_t port, flags.GetInt("port", 0));
  ASSIGN_OR_RETURN(int64_t max_in_flight, flags.GetInt("max-in-flight-requests", 0));
  ASSIGN_OR_RETURN(int64_t grace_seconds, flags.GetInt("drain-grace-seconds", 30));
  if (max_in_flight < 0) return absl::InvalidArgumentError("--max-in-flight-requests must not be negative");
  if (grace_seconds < 0) return absl::InvalidArgumentError("--drain-grace-seconds must not be negative");
  ASSIGN_OR_RETURN(int64_t metrics_port, flags.GetInt("metrics-port", -1));
  if (flags.Has("metrics-port") && (metrics_port < 0 || metrics_port > 65535)) {
    return absl::InvalidArgumentError("--metrics-port must be between 0 and 65535");
  }
  const std::string served_model_name = flags.GetString("served-model-name", flags.GetString("model"));

  // Signals are taken by sigwait below; every thread started from here on inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Declared before the engine: the engine's teardown stops the followers, then this reaps them.
  ASSIGN_OR_RETURN(std::unique_ptr<TensorParallelLeader> tensor_parallel,
                   TensorParallelLeader::Start(flags, engine::EngineFlagSpecs(), config,
                                               flags.GetString("host", "0.0.0.0")));
  if (tensor_parallel) RETURN_IF_ERROR(tensor_parallel->AwaitFollowers());

  AsyncEngineOptions engine_options;
  if (tensor_parallel) engine_options.tensor_parallel_group = tensor_parallel->group();
  // The server exists only after the engine; a failure before then is reported by Create itself.
  std::atomic<WorkerServer*> health_owner{nullptr};
  engine_options.on_fatal_error = [&health_owner](const absl::Status&) {
    if (WorkerServer* owner = health_owner.load()) owner->SetNotServing();
  };
  engine_options.max_in_flight_requests = static_cast<int>(max_in_flight);
  // Declared before the engine and the server so that it outlives both.
  metrics::Registry registry;
  std::unique_ptr<metrics::MetricsHttpServer> metrics_server;
  if (flags.Has("metrics-port")) {
    RETURN_IF_ERROR(metrics::AddProcessCollector(registry));
    engine_options.metrics_registry = &registry;
    engine_options.metrics_model_name = served_model_name;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<AsyncEngine> engine, AsyncEngine::Create(config, engine_options));
  engine::LogEngineInfo(engine->model_config(), engine->info());

  WorkerServerOptions server_options;
  server_options.host = flags.GetString("host", server_options.host);
  server_options.port = static_cast<int>(port);
  server_options.served_model_name = served_model_name;
  server_options.advertised_address = flags.GetString("advertised-address");
  ASSIGN_OR_RETURN(std::unique_ptr<WorkerServer> server, WorkerServer::Start(engine.get(), server_options));
  health_owner = server.get();
  std::fprintf(stderr, "tessera-worker: serving '%s' on %s\n", server_options.served_model_name.c_str(),
               server->address().c_str());
  if (flags.Has("metrics-port")) {
    ASSIGN_OR_RETURN(metrics_server, metrics::MetricsHttpServer::Start(&registry, server_options.host,
                                                                       static_cast<uint16_t>(metrics_port)));
    std::fprintf(stderr, "tessera-worker: metrics at http://%s:%d/metrics\n", server_options.host.c_str(),
                 static_cast<int>(metrics_server->port()));
  }

  // The registration pushes the same report GetLoad answers, built by the same WorkerControlService code.
  std::unique_ptr<WorkerControlService> load_reporter;
  std::unique_ptr<RegistrationClient> registration;
  if (flags.Has("register-with")) {
    const std::string advertised =
        server_options.advertised_address.empty() ? server->address() : server_options.advertised_address;
    load_reporter = std::make_unique<WorkerControlService>(engine.get(), served_model_name, advertised, nullptr);
    RegistrationOptions registration_options;
    registration_options.router_address = flags.GetString("register-with");
    registration_options.log = [](const std::string& message) {
      std::fprintf(stderr, "tessera-worker: %s\n", message.c_str());
    };
    registration = std::make_unique<RegistrationClient>(
        registration_options, [reporter = load_reporter.get()] { return reporter->MakeLoadReport(); });
    registration->Start();
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "tessera-worker: %s received, draining (up to %lld s)\n",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT", static_cast<long long>(grace_seconds));
  const auto grace = std::chrono::seconds(grace_seconds);
  server->Drain(grace);
  if (registration) registration->ReportNow();  // the router stops sending requests here at once
  server->Shutdown(std::chrono::steady_clock::now() + grace);
  if (registration) registration->Stop();
  health_owner = nullptr;
  server.reset();
  engine.reset();
  if (metrics_server) metrics_server->Stop();
  std::fprintf(stderr, "tessera-worker: stopped\n");
  return absl::OkStatus();
}

}  // namespace
}  // namespace tessera::worker

int main(int argc, char** argv) {
  absl::Status status = tessera::worker::Run(argc, argv);
  if (!status.ok()) {
    std::fprintf(stderr, "tessera-worker: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
