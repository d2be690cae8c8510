// tessera-gateway: the OpenAI-compatible HTTP front door. Translates OpenAI JSON to tessera.v1.Generation calls on
// the router (or a single worker) and streams the answers back as JSON or Server-Sent Events.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/command_line.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "services/gateway/auth.h"
#include "services/gateway/http_server.h"

namespace {

const std::vector<tessera::FlagSpec>& Flags() {
  static const std::vector<tessera::FlagSpec> flags = {
      {"router", true, "host:port of the router (or a worker) serving tessera.v1.Generation (required)"},
      {"host", true, "address to listen on (default 0.0.0.0)"},
      {"port", true, "port to listen on (default 8000)"},
      {"api-key", true, "accepted Bearer keys, comma-separated (also TESSERA_API_KEYS); none: no authentication"},
      {"api-key-file", true, "file of accepted Bearer keys, one per line ('#' starts a comment line)"},
      {"request-timeout", true, "seconds a request may take end to end (default 600)"},
      {"cors-origin", true,
       "origins allowed to call from browsers, comma-separated, or '*' for any (default: no CORS headers)"},
      {"reasoning-parser", true,
       "split chat output into reasoning_content and content: deepseek_r1 or qwen3 (default: no split)"},
      {"max-body-bytes", true, "largest accepted request body (default 33554432)"},
      {"header-timeout", true,
       "seconds a client may take to send a request's headers, also the keep-alive idle limit (default 30)"},
      {"io-threads", true, "HTTP IO threads (default 2)"},
      {"help", false, "print this help"},
  };
  return flags;
}

int Fail(const std::string& message) {
  std::cerr << "tessera-gateway: " << message << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<tessera::CommandLine> flags = tessera::CommandLine::Parse(argc, argv, 1, Flags());
  if (!flags.ok()) return Fail(std::string(flags.status().message()));
  if (flags->Has("help")) {
    std::cout << "usage: tessera-gateway --router HOST:PORT [--port 8000] [flags]\n"
              << tessera::CommandLine::Usage(Flags());
    return 0;
  }
  const std::string router = flags->GetString("router");
  if (router.empty()) return Fail("--router HOST:PORT is required");

  tessera::gateway::HttpServerOptions options;
  options.host = flags->GetString("host", "0.0.0.0");
  absl::StatusOr<int64_t> port = flags->GetInt("port", 8000);
  if (!port.ok()) return Fail(std::string(port.status().message()));
  if (*port < 0 || *port > 65535) return Fail("--port must be in [0, 65535]");
  options.port = static_cast<uint16_t>(*port);
  absl::StatusOr<double> timeout = flags->GetDouble("request-timeout", 600);
  if (!timeout.ok()) return Fail(std::string(timeout.status().message()));
  if (*timeout <= 0) return Fail("--request-timeout must be positive");
  options.request_timeout = absl::Seconds(*timeout);
  for (absl::string_view origin : absl::StrSplit(flags->GetString("cors-origin"), ',', absl::SkipWhitespace())) {
    options.cors_origins.emplace_back(absl::StripAsciiWhitespace(origin));
  }
  options.reasoning_parser = flags->GetString("reasoning-parser");
  absl::StatusOr<int64_t> max_body = flags->GetInt("max-body-bytes", 32 << 20);
  if (!max_body.ok()) return Fail(std::string(max_body.status().message()));
  if (*max_body < 1) return Fail("--max-body-bytes must be positive");
  options.max_body_bytes = static_cast<size_t>(*max_body);
  absl::StatusOr<double> header_timeout = flags->GetDouble("header-timeout", 30);
  if (!header_timeout.ok()) return Fail(std::string(header_timeout.status().message()));
  if (!(*header_timeout > 0)) return Fail("--header-timeout must be positive");
  options.header_timeout = absl::Seconds(*header_timeout);
  absl::StatusOr<int64_t> io_threads = flags->GetInt("io-threads", 2);
  if (!io_threads.ok()) return Fail(std::string(io_threads.status().message()));
  if (*io_threads < 1 || *io_threads > 256) return Fail("--io-threads must be in [1, 256]");
  options.io_threads = static_cast<int>(*io_threads);

  options.api_keys = tessera::gateway::ParseApiKeyList(flags->GetString("api-key"));
  if (const char* env_keys = std::getenv("TESSERA_API_KEYS")) {
    for (std::string& key : tessera::gateway::ParseApiKeyList(env_keys)) options.api_keys.push_back(std::move(key));
  }
  if (flags->Has("api-key-file")) {
    absl::StatusOr<std::vector<std::string>> keys = tessera::gateway::ReadApiKeyFile(flags->GetString("api-key-file"));
    if (!keys.ok()) return Fail(std::string(keys.status().message()));
    for (std::string& key : *keys) options.api_keys.push_back(std::move(key));
  }

  // Signals are handled by waiting for them on this thread; block them before any other thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  grpc::ChannelArguments channel_arguments;
  channel_arguments.SetMaxReceiveMessageSize(64 << 20);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(router, grpc::InsecureChannelCredentials(), channel_arguments);
  std::shared_ptr<tessera::v1::Generation::StubInterface> stub = tessera::v1::Generation::NewStub(channel);

  absl::StatusOr<std::unique_ptr<tessera::gateway::HttpServer>> server =
      tessera::gateway::HttpServer::Start(options, std::move(stub));
  if (!server.ok()) return Fail(std::string(server.status().message()));
  std::cerr << "tessera-gateway: listening on " << options.host << ":" << (*server)->port() << ", backend "
            << router << (options.api_keys.empty() ? ", no API keys" : ", API keys required") << "\n";

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::cerr << "tessera-gateway: signal " << signal_number << ", shutting down\n";
  (*server)->Stop();
  return 0;
}
