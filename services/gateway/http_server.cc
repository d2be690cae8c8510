#include "services/gateway/http_server.h"

#include <sys/socket.h>

#include <cerrno>

// g++ 12 in C++20 needs <utility> ahead of Asio's headers.
#include <utility>

#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <exception>
#include <mutex>
#include <string_view>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/json_util.h"
#include "common/metrics/metrics_http_server.h"
#include "common/metrics/process_collector.h"
#include "nlohmann/json.hpp"
#include "services/gateway/auth.h"
#include "services/gateway/backend_client.h"
#include "services/gateway/errors.h"
#include "services/gateway/model_catalog.h"
#include "services/gateway/openai_response.h"
#include "services/gateway/openai_schema.h"

namespace tessera::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Request = http::request<http::string_body>;
using Json = nlohmann::ordered_json;

namespace {

constexpr char kServerName[] = "tessera-gateway";
constexpr char kJsonContentType[] = "application/json";
constexpr size_t kHeaderLimitBytes = 64 * 1024;

std::chrono::steady_clock::duration ToSteady(absl::Duration duration) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(absl::ToChronoNanoseconds(duration));
}

std::string_view PathOf(const Request& request) {
  std::string_view target(request.target().data(), request.target().size());
  const size_t query = target.find('?');
  return query == std::string_view::npos ? target : target.substr(0, query);
}

// The connection's stream, plus the status of the response last written on it, which the request metrics take.
class Connection : public beast::tcp_stream {
 public:
  using beast::tcp_stream::tcp_stream;
  http::status response_status = http::status::unknown;
};

// The handler label: the routes served, everything else as "other", so that scanners probing random paths cannot
// grow the number of series without bound.
std::string_view HandlerLabel(std::string_view path) {
  for (std::string_view route : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/tokenize", "/detokenize",
                                 "/health", "/version", "/metrics"}) {
    if (path == route) return route;
  }
  return "other";
}

// Request bodies must be JSON, as in vLLM (415 otherwise). A request without a Content-Type is read as JSON, since
// simple clients often send none; parameters such as "; charset=utf-8" are allowed.
bool IsJsonContentType(const Request& request) {
  const auto field = request.find(http::field::content_type);
  if (field == request.end()) return true;
  std::string_view value(field->value().data(), field->value().size());
  value = value.substr(0, value.find(';'));
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  return beast::iequals(value, "application/json");
}

// The answer to a request that could not be read as HTTP, or 0 when the connection just ended (the client closed,
// timed out or reset it) and there is nobody to answer.
int StatusForReadError(const beast::error_code& ec) {
  if (ec == http::error::header_limit) return 431;
  if (ec == http::error::body_limit) return 413;
  if (ec == http::error::bad_line_ending || ec == http::error::bad_method || ec == http::error::bad_target ||
      ec == http::error::bad_version || ec == http::error::bad_field || ec == http::error::bad_value ||
      ec == http::error::bad_content_length || ec == http::error::bad_transfer_encoding ||
      ec == http::error::bad_chunk || ec == http::error::bad_chunk_extension || ec == http::error::bad_obs_fold ||
      ec == http::error::multiple_content_length) {
    return 400;
  }
  return 0;
}

// Whether the client disconnected while its request waits on the backend. Shared by the handler and the watcher
// coroutine; both run on the connection's strand.
struct DisconnectWatch {
  bool active = true;
  bool client_gone = false;
};

}  // namespace

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, std::shared_ptr<tessera::v1::Generation::StubInterface> stub)
      : options_(std::move(options)),
        authenticator_(options_.api_keys),
        backend_(std::move(stub), options_.request_timeout),
        registry_(options_.metrics_registry != nullptr ? options_.metrics_registry : &own_registry_),
        catalog_(options_.model_list_max_age),
        acceptor_(io_context_) {}

  absl::Status Listen() {
    if (registry_ == &own_registry_) {
      if (absl::Status status = metrics::AddProcessCollector(own_registry_); !status.ok()) return status;
    }
    absl::StatusOr<metrics::CounterFamily*> requests = registry_->AddCounter(
        "http_requests_total", "Total number of HTTP requests by handler, method and status.",
        {"handler", "method", "status"});
    if (!requests.ok()) return requests.status();
    requests_total_ = *requests;
    absl::StatusOr<metrics::HistogramFamily*> durations = registry_->AddHistogram(
        "http_request_duration_seconds", "Duration of HTTP requests in seconds, until the response is written.",
        {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}, {"handler"});
    if (!durations.ok()) return durations.status();
    request_duration_ = *durations;
    beast::error_code ec;
    const asio::ip::address address = asio::ip::make_address(options_.host, ec);
    if (ec) return absl::InvalidArgumentError(CatMessage("--host '", options_.host, "' is not an IP address"));
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          CatMessage("cannot listen on ", options_.host, ":", options_.port, ": ", ec.message()));
    }
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_context_, Accept(), asio::detached);
    const int threads = std::max(1, options_.io_threads);
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { io_context_.run(); });
    return absl::OkStatus();
  }

  uint16_t port() const { return port_; }

  void Stop() {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    asio::post(io_context_, [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    // Backend threads post their last events to the IO strands, so they end before the IO threads do.
    backend_.Shutdown();
    io_context_.stop();
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      beast::error_code ec;
      // Named, not a temporary: g++ 12 destroys non-trivial temporaries of a co_await expression twice, which
      // here would release the strand under its own handlers.
      auto strand = asio::make_strand(io_context_);
      tcp::socket socket = co_await acceptor_.async_accept(strand, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) continue;  // a connection that failed during accept (reset, fd limit): keep serving the others
      // Each SSE event is a small write; Nagle would hold it until the client's delayed ACK (~40 ms).
      socket.set_option(tcp::no_delay(true), ec);
      auto executor = socket.get_executor();
      asio::co_spawn(executor, Session(std::move(socket)), [](std::exception_ptr) {});
    }
  }

  // One connection: requests are read and answered in order until the client or an error ends it.
  asio::awaitable<void> Session(tcp::socket socket) {
    Connection stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimitBytes);
      parser.body_limit(options_.max_body_bytes);
      beast::error_code ec;
      // Headers must arrive in time, which also bounds how long an idle keep-alive connection is held
      // (slow-loris clients are closed when it expires).
      stream.expires_after(ToSteady(options_.header_timeout));
      co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        co_await WriteReadError(stream, ec);
        break;
      }
      const auto started = std::chrono::steady_clock::now();
      const std::string handler(HandlerLabel(PathOf(parser.get())));
      const std::string method = MethodLabel(parser.get());
      stream.response_status = http::status::unknown;
      if (!parser.is_done()) {
        const auto expect = parser.get().find(http::field::expect);
        if (expect != parser.get().end() && beast::iequals(expect->value(), "100-continue")) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          stream.expires_after(ToSteady(options_.write_timeout));
          co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()),
                                     asio::redirect_error(asio::use_awaitable, ec));
          if (ec) break;
        }
        stream.expires_after(ToSteady(options_.body_timeout));
        co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          co_await WriteReadError(stream, ec);
          RecordRequest(handler, method, stream.response_status, started);
          break;
        }
      }
      Request request = parser.release();
      const bool keep_alive = co_await Handle(stream, request);
      RecordRequest(handler, method, stream.response_status, started);
      if (!keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    co_await DrainBeforeClose(stream);
  }

  // A client still sending a refused body (413) would get a reset on close, which can destroy the answer before
  // it reads it; like nginx's lingering close, read and drop what still arrives, for a bounded time and amount,
  // after the answer went out. A client that is done closes its side and this ends at once.
  asio::awaitable<void> DrainBeforeClose(Connection& stream) {
    constexpr size_t kMaxDrainBytes = 4u << 20;
    std::array<char, 16384> scratch;
    size_t drained = 0;
    stream.expires_after(std::chrono::seconds(2));
    while (drained < kMaxDrainBytes) {
      beast::error_code ec;
      const size_t n = co_await stream.async_read_some(asio::buffer(scratch),
                                                      asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      drained += n;
    }
  }

  static std::string MethodLabel(const Request& request) {
    // Unknown methods would let clients invent label values.
    return request.method() == http::verb::unknown ? "other" : std::string(request.method_string());
  }

  // A request whose response never went out (the client left first) counts with status 499, as nginx logs it.
  void RecordRequest(const std::string& handler, const std::string& method, http::status status,
                     std::chrono::steady_clock::time_point started) {
    const int code = status == http::status::unknown ? 499 : static_cast<int>(status);
    if (absl::StatusOr<metrics::Counter*> counter = requests_total_->WithLabels({handler, method, std::to_string(code)});
        counter.ok()) {
      (*counter)->Increment();
    }
    if (absl::StatusOr<metrics::Histogram*> histogram = request_duration_->WithLabels({handler}); histogram.ok()) {
      (*histogram)->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  }

  // The Access-Control-Allow-Origin value for this request, or empty when CORS is off or its origin not allowed.
  std::string AllowedOrigin(const Request& request) const {
    if (options_.cors_origins.empty()) return {};
    for (const std::string& allowed : options_.cors_origins) {
      if (allowed == "*") return allowed;
    }
    const auto origin = request.find(http::field::origin);
    if (origin == request.end()) return {};
    const std::string_view value(origin->value().data(), origin->value().size());
    for (const std::string& allowed : options_.cors_origins) {
      if (allowed == value) return allowed;
    }
    return {};
  }

  void AddCommonHeaders(http::fields& fields, const Request& request) const {
    fields.set(http::field::server, kServerName);
    if (options_.cors_origins.empty()) return;
    const std::string origin = AllowedOrigin(request);
    if (!origin.empty()) fields.set(http::field::access_control_allow_origin, origin);
    // The answer depends on the request's Origin unless every origin is allowed; caches must keep them apart.
    if (origin != "*") fields.set(http::field::vary, "Origin");
  }

  // Writes a whole response; returns whether the connection stays open.
  asio::awaitable<bool> Write(Connection& stream, const Request& request, http::status status,
                              std::string body, std::string_view content_type, bool allow_keep_alive = true) {
    http::response<http::string_body> response(status, request.version());
    AddCommonHeaders(response.base(), request);
    if (!content_type.empty()) response.set(http::field::content_type, content_type);
    response.keep_alive(allow_keep_alive && request.keep_alive());
    response.body() = std::move(body);
    response.prepare_payload();
    stream.response_status = status;
    beast::error_code ec;
    stream.expires_after(ToSteady(options_.write_timeout));
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec && response.keep_alive();
  }

  // Callers pass named errors: g++ 12 destroys temporaries bound to a coroutine's reference parameters twice.
  asio::awaitable<bool> WriteError(Connection& stream, const Request& request, const ApiError& error) {
    std::string body = error.ToJson();
    co_return co_await Write(stream, request, static_cast<http::status>(error.http_status), std::move(body),
                             kJsonContentType);
  }

  // Answers a request that could not be read (see StatusForReadError) and leaves the connection to be closed: what
  // follows on it cannot be framed any more.
  asio::awaitable<void> WriteReadError(Connection& stream, const beast::error_code& ec) {
    const int status = StatusForReadError(ec);
    if (status == 0) co_return;
    std::string message;
    if (status == 413) {
      message = CatMessage("request body exceeds the limit of ", options_.max_body_bytes, " bytes");
    } else if (status == 431) {
      message = CatMessage("request headers exceed the limit of ", kHeaderLimitBytes, " bytes");
    } else {
      message = CatMessage("malformed HTTP request: ", ec.message());
    }
    Request request;
    request.version(11);
    request.keep_alive(false);
    const ApiError error{status, std::move(message), std::nullopt};
    std::string body = error.ToJson();
    co_await Write(stream, request, static_cast<http::status>(status), std::move(body), kJsonContentType, false);
  }

  asio::awaitable<bool> UnsupportedMediaType(Connection& stream, const Request& request) {
    const ApiError error{415, "Unsupported Media Type: only 'application/json' request bodies are accepted",
                         std::nullopt};
    co_return co_await WriteError(stream, request, error);
  }

  asio::awaitable<bool> Handle(Connection& stream, const Request& request) {
    const std::string_view path = PathOf(request);
    const http::verb method = request.method();

    if (method == http::verb::options) co_return co_await Preflight(stream, request);
    // Probes and scrapes stay open; everything else needs a key when keys are configured.
    if (path == "/health" && method == http::verb::get) co_return co_await Health(stream, request);
    if (path == "/metrics" && method == http::verb::get) {
      std::string text = registry_->Render();
      co_return co_await Write(stream, request, http::status::ok, std::move(text), metrics::kTextFormatContentType);
    }
    if (path == "/version" && method == http::verb::get) {
      std::string version = R"({"version":"0.1.0"})";
      co_return co_await Write(stream, request, http::status::ok, std::move(version), kJsonContentType);
    }
    if (authenticator_.enabled()) {
      const auto authorization = request.find(http::field::authorization);
      const std::string_view header = authorization == request.end()
                                          ? std::string_view()
                                          : std::string_view(authorization->value().data(),
                                                             authorization->value().size());
      if (!authenticator_.Authorize(header)) {
        const ApiError error{401, "Unauthorized: invalid or missing API key", std::nullopt};
        co_return co_await WriteError(stream, request, error);
      }
    }
    const bool is_chat = path == "/v1/chat/completions";
    const bool is_completion = path == "/v1/completions";
    if (is_chat || is_completion) {
      if (method != http::verb::post) co_return co_await MethodNotAllowed(stream, request, "POST");
      co_return co_await Generate(stream, request,
                                  is_chat ? Endpoint::kChatCompletions : Endpoint::kCompletions);
    }
    if (path == "/v1/models") {
      if (method != http::verb::get) co_return co_await MethodNotAllowed(stream, request, "GET");
      co_return co_await Models(stream, request);
    }
    if (path == "/tokenize") {
      if (method != http::verb::post) co_return co_await MethodNotAllowed(stream, request, "POST");
      co_return co_await Tokenize(stream, request);
    }
    if (path == "/detokenize") {
      if (method != http::verb::post) co_return co_await MethodNotAllowed(stream, request, "POST");
      co_return co_await Detokenize(stream, request);
    }
    const ApiError error{404, CatMessage("route ", std::string(request.method_string()), " ", path, " not found"),
                         std::nullopt};
    co_return co_await WriteError(stream, request, error);
  }

  asio::awaitable<bool> MethodNotAllowed(Connection& stream, const Request& request, std::string_view allow) {
    const ApiError error{405, CatMessage("method ", std::string(request.method_string()), " is not allowed; use ",
                                         allow),
                         std::nullopt};
    co_return co_await WriteError(stream, request, error);
  }

  asio::awaitable<bool> Preflight(Connection& stream, const Request& request) {
    http::response<http::empty_body> response(http::status::no_content, request.version());
    AddCommonHeaders(response.base(), request);
    if (!AllowedOrigin(request).empty()) {
      response.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
      const auto requested = request.find(http::field::access_control_request_headers);
      response.set(http::field::access_control_allow_headers,
                   requested != request.end() ? std::string(requested->value()) : "Authorization, Content-Type");
      response.set(http::field::access_control_max_age, "600");
    }
    response.set(http::field::allow, "GET, POST, OPTIONS");
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    stream.response_status = http::status::no_content;
    beast::error_code ec;
    stream.expires_after(ToSteady(options_.write_timeout));
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec && response.keep_alive();
  }

  // Runs `job` on a backend thread and resumes this coroutine on its strand with the result.
  template <typename Result, typename Job>
  asio::awaitable<Result> OffIoThread(Job job) {
    auto executor = co_await asio::this_coro::executor;
    auto initiation = [this, executor, job = std::move(job)](auto handler) mutable {
      // std::function needs a copyable job; the completion handler is move-only.
      auto shared_handler = std::make_shared<decltype(handler)>(std::move(handler));
      backend_.RunTracked([executor, job = std::move(job), shared_handler]() mutable {
        Result result = job();
        asio::post(executor, [shared_handler, result = std::move(result)]() mutable {
          std::move (*shared_handler)(std::move(result));
        });
      });
    };
    co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(Result)>(std::move(initiation),
                                                                                         asio::use_awaitable);
  }

  using ModelsResult = std::pair<grpc::Status, tessera::v1::ListModelsResponse>;

  static void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout));
  }

  asio::awaitable<ModelsResult> ListModels(absl::Duration timeout) {
    ModelsResult result = co_await OffIoThread<ModelsResult>([this, timeout] {
      grpc::ClientContext context;
      SetDeadline(context, timeout);
      ModelsResult answer;
      answer.first = backend_.stub().ListModels(&context, tessera::v1::ListModelsRequest(), &answer.second);
      return answer;
    });
    if (result.first.ok()) catalog_.Store(result.second, absl::Now());
    co_return result;
  }

  // The served models: the catalog's while fresh, else the backend's.
  asio::awaitable<absl::StatusOr<tessera::v1::ListModelsResponse>> ServedModels() {
    std::optional<tessera::v1::ListModelsResponse> cached = catalog_.Fresh(absl::Now());
    if (cached) co_return std::move(*cached);
    ModelsResult result = co_await ListModels(options_.request_timeout);
    if (!result.first.ok()) co_return StatusFromGrpc(result.first);
    co_return std::move(result.second);
  }

  // The model a request runs on (see ResolveModel); a backend that cannot list its models gives its status.
  asio::awaitable<absl::StatusOr<std::string>> ResolveRequestModel(std::string requested) {
    absl::StatusOr<tessera::v1::ListModelsResponse> models = co_await ServedModels();
    if (!models.ok()) co_return models.status();
    co_return ResolveModel(*models, requested);
  }

  asio::awaitable<bool> Tokenize(Connection& stream, const Request& request) {
    if (!IsJsonContentType(request)) co_return co_await UnsupportedMediaType(stream, request);
    absl::StatusOr<tessera::v1::TokenizeRequest> parsed = ParseTokenizeRequest(request.body());
    if (!parsed.ok()) {
      const ApiError error = ApiErrorFromStatus(parsed.status());
      co_return co_await WriteError(stream, request, error);
    }
    std::string requested_model = parsed->model();
    absl::StatusOr<std::string> model = co_await ResolveRequestModel(std::move(requested_model));
    if (!model.ok()) {
      const ApiError error = ApiErrorFromStatus(model.status());
      co_return co_await WriteError(stream, request, error);
    }
    parsed->set_model(*model);
    using TokenizeResult = std::pair<grpc::Status, tessera::v1::TokenizeResponse>;
    // A named job: g++ 12 destroys a non-trivial temporary lambda of a co_await expression twice.
    auto job = [this, call = std::move(*parsed)] {
      grpc::ClientContext context;
      SetDeadline(context, options_.request_timeout);
      TokenizeResult answer;
      answer.first = backend_.stub().Tokenize(&context, call, &answer.second);
      return answer;
    };
    TokenizeResult result = co_await OffIoThread<TokenizeResult>(std::move(job));
    if (!result.first.ok()) {
      const ApiError error = ApiErrorFromGrpc(result.first);
      co_return co_await WriteError(stream, request, error);
    }
    std::string body = TokenizeResponseJson(result.second);
    co_return co_await Write(stream, request, http::status::ok, std::move(body), kJsonContentType);
  }

  asio::awaitable<bool> Detokenize(Connection& stream, const Request& request) {
    if (!IsJsonContentType(request)) co_return co_await UnsupportedMediaType(stream, request);
    absl::StatusOr<tessera::v1::DetokenizeRequest> parsed = ParseDetokenizeRequest(request.body());
    if (!parsed.ok()) {
      const ApiError error = ApiErrorFromStatus(parsed.status());
      co_return co_await WriteError(stream, request, error);
    }
    std::string requested_model = parsed->model();
    absl::StatusOr<std::string> model = co_await ResolveRequestModel(std::move(requested_model));
    if (!model.ok()) {
      const ApiError error = ApiErrorFromStatus(model.status());
      co_return co_await WriteError(stream, request, error);
    }
    parsed->set_model(*model);
    using DetokenizeResult = std::pair<grpc::Status, tessera::v1::DetokenizeResponse>;
    // A named job: g++ 12 destroys a non-trivial temporary lambda of a co_await expression twice.
    auto job = [this, call = std::move(*parsed)] {
      grpc::ClientContext context;
      SetDeadline(context, options_.request_timeout);
      DetokenizeResult answer;
      answer.first = backend_.stub().Detokenize(&context, call, &answer.second);
      return answer;
    };
    DetokenizeResult result = co_await OffIoThread<DetokenizeResult>(std::move(job));
    if (!result.first.ok()) {
      const ApiError error = ApiErrorFromGrpc(result.first);
      co_return co_await WriteError(stream, request, error);
    }
    std::string body = DetokenizeResponseJson(result.second);
    co_return co_await Write(stream, request, http::status::ok, std::move(body), kJsonContentType);
  }

  asio::awaitable<bool> Health(Connection& stream, const Request& request) {
    ModelsResult result = co_await ListModels(options_.health_timeout);
    if (!result.first.ok()) {
      const ApiError error{503, CatMessage("backend unavailable: ", result.first.error_message()), std::nullopt};
      co_return co_await WriteError(stream, request, error);
    }
    // A router lists the models of its healthy workers only: none listed means nothing could answer a request.
    if (result.second.models().empty()) {
      const ApiError error{503, "no healthy worker serves a model", std::nullopt};
      co_return co_await WriteError(stream, request, error);
    }
    co_return co_await Write(stream, request, http::status::ok, std::string(), std::string_view());
  }

  asio::awaitable<bool> Models(Connection& stream, const Request& request) {
    ModelsResult result = co_await ListModels(options_.request_timeout);
    if (!result.first.ok()) {
      const ApiError error = ApiErrorFromGrpc(result.first);
      co_return co_await WriteError(stream, request, error);
    }
    Json body;
    body["object"] = "list";
    body["data"] = Json::array();
    for (const tessera::v1::ModelCard& card : result.second.models()) {
      Json model;
      model["id"] = card.id();
      model["object"] = "model";
      model["created"] = card.created();
      model["owned_by"] = card.owned_by().empty() ? "tessera" : card.owned_by();
      model["root"] = card.id();
      model["parent"] = nullptr;
      if (card.max_model_len() > 0) model["max_model_len"] = card.max_model_len();
      body["data"].push_back(std::move(model));
    }
    std::string text = body.dump(-1, ' ', false, Json::error_handler_t::replace);
    co_return co_await Write(stream, request, http::status::ok, std::move(text), kJsonContentType);
  }

  // Waits for the socket to become readable while the request is with the backend: end of stream or a reset
  // means the client left, and the backend call is cancelled.
  asio::awaitable<void> WatchDisconnect(tcp::socket& socket, std::shared_ptr<DisconnectWatch> watch,
                                        std::shared_ptr<GenerateStream> call) {
    for (;;) {
      beast::error_code ec;
      co_await socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
      if (!watch->active || ec == asio::error::operation_aborted) co_return;
      if (!ec) {
        // Never a blocking peek: readiness can be reported with no byte waiting, and a blocking receive would
        // then stall this connection's thread for good. Nothing waiting means wait again.
        char byte;
        const ssize_t peeked = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (peeked > 0) co_return;  // the next pipelined request arrived early; it stays for the session
        if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
      }
      watch->client_gone = true;
      call->Cancel();
      co_return;
    }
  }

  asio::awaitable<bool> Generate(Connection& stream, const Request& request, Endpoint endpoint) {
    if (!IsJsonContentType(request)) co_return co_await UnsupportedMediaType(stream, request);
    absl::StatusOr<OpenAIRequest> parsed = endpoint == Endpoint::kChatCompletions
                                               ? ParseChatCompletionRequest(request.body())
                                               : ParseCompletionRequest(request.body());
    if (!parsed.ok()) {
      const ApiError error = ApiErrorFromStatus(parsed.status());
      co_return co_await WriteError(stream, request, error);
    }
    std::string requested_model = parsed->generate.model();
    absl::StatusOr<std::string> model = co_await ResolveRequestModel(std::move(requested_model));
    if (!model.ok()) {
      const ApiError error = ApiErrorFromStatus(model.status());
      co_return co_await WriteError(stream, request, error);
    }
    // The router routes on the model, and every response names it, so it is always filled in.
    parsed->generate.set_model(*model);
    if (endpoint == Endpoint::kChatCompletions && !options_.reasoning_parser.empty()) {
      parsed->generate.set_reasoning_parser(options_.reasoning_parser);
    }
    const std::string id = NewResponseId(endpoint);
    parsed->generate.set_request_id(id);
    const ResponseContext context = ResponseContext::ForRequest(*parsed, id, static_cast<int64_t>(std::time(nullptr)));

    auto executor = co_await asio::this_coro::executor;
    auto wakeup = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
    std::shared_ptr<GenerateStream> call = backend_.StartGenerate(std::move(parsed->generate), [wakeup] {
      asio::post(wakeup->get_executor(), [wakeup] { wakeup->cancel(); });
    });
    auto watch = std::make_shared<DisconnectWatch>();
    asio::co_spawn(executor, WatchDisconnect(stream.socket(), watch, call), asio::detached);

    const bool keep_alive = parsed->stream ? co_await Stream(stream, request, context, *call, *watch, *wakeup)
                                           : co_await Collect(stream, request, context, *call, *watch, *wakeup);
    watch->active = false;
    beast::error_code ignored;
    stream.socket().cancel(ignored);  // ends the watcher's wait
    co_return keep_alive;
  }

  // Waits until the backend has news (or the call ended) and takes it.
  asio::awaitable<GenerateStream::Batch> NextBatch(GenerateStream& call, asio::steady_timer& wakeup) {
    for (;;) {
      GenerateStream::Batch batch = call.Drain();
      if (!batch.responses.empty() || batch.status) co_return batch;
      // The reader thread posts wakeup.cancel() to this strand after queueing, so nothing is missed between the
      // Drain above and this wait.
      wakeup.expires_at(asio::steady_timer::time_point::max());
      beast::error_code ec;
      co_await wakeup.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

  asio::awaitable<bool> Collect(Connection& stream, const Request& request, const ResponseContext& context,
                                GenerateStream& call, DisconnectWatch& watch, asio::steady_timer& wakeup) {
    CompletionAccumulator accumulator(context);
    for (;;) {
      GenerateStream::Batch batch = co_await NextBatch(call, wakeup);
      for (const tessera::v1::GenerateResponse& response : batch.responses) accumulator.Add(response);
      if (!batch.status) continue;
      if (watch.client_gone) co_return false;
      if (!batch.status->ok()) {
        const ApiError error = ApiErrorFromGrpc(*batch.status);
        co_return co_await WriteError(stream, request, error);
      }
      std::string body = accumulator.ToJson();
      co_return co_await Write(stream, request, http::status::ok, std::move(body), kJsonContentType);
    }
  }

  asio::awaitable<bool> WriteChunk(Connection& stream, const std::string& data) {
    beast::error_code ec;
    stream.expires_after(ToSteady(options_.write_timeout));
    auto chunk = http::make_chunk(asio::buffer(data));
    co_await asio::async_write(stream, chunk, asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }

  asio::awaitable<bool> Stream(Connection& stream, const Request& request, const ResponseContext& context,
                               GenerateStream& call, DisconnectWatch& watch, asio::steady_timer& wakeup) {
    StreamChunkBuilder builder(context);
    bool headers_sent = false;
    for (;;) {
      GenerateStream::Batch batch = co_await NextBatch(call, wakeup);
      if (watch.client_gone) co_return false;
      // Errors before the first response keep their HTTP status (429 load shedding, 400 prompt too long, ...).
      if (!headers_sent && batch.responses.empty() && batch.status && !batch.status->ok()) {
        const ApiError error = ApiErrorFromGrpc(*batch.status);
        co_return co_await WriteError(stream, request, error);
      }
      if (!headers_sent) {
        http::response<http::empty_body> response(http::status::ok, request.version());
        AddCommonHeaders(response.base(), request);
        response.set(http::field::content_type, "text/event-stream");
        response.set(http::field::cache_control, "no-cache");
        response.keep_alive(request.keep_alive());
        response.chunked(true);
        stream.response_status = http::status::ok;
        http::response_serializer<http::empty_body> serializer(response);
        beast::error_code ec;
        stream.expires_after(ToSteady(options_.write_timeout));
        co_await http::async_write_header(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          call.Cancel();
          co_return false;
        }
        headers_sent = true;
      }
      std::string data;
      for (const tessera::v1::GenerateResponse& response : batch.responses) {
        for (std::string& event : builder.OnResponse(response)) data += event;
      }
      if (batch.status) {
        if (batch.status->ok()) {
          for (std::string& event : builder.Finish()) data += event;
        } else {
          data += StreamChunkBuilder::ErrorEvent(ApiErrorFromGrpc(*batch.status));
          data += kSseDone;
        }
      }
      if (!data.empty() && !co_await WriteChunk(stream, data)) {
        call.Cancel();
        co_return false;
      }
      if (batch.status) {
        beast::error_code ec;
        stream.expires_after(ToSteady(options_.write_timeout));
        auto last_chunk = http::make_chunk_last();
        co_await asio::async_write(stream, last_chunk, asio::redirect_error(asio::use_awaitable, ec));
        co_return !ec && request.keep_alive();
      }
    }
  }

  HttpServerOptions options_;
  ApiKeyAuthenticator authenticator_;
  BackendClient backend_;
  metrics::Registry own_registry_;
  metrics::Registry* registry_;
  metrics::CounterFamily* requests_total_ = nullptr;
  metrics::HistogramFamily* request_duration_ = nullptr;
  ModelCatalog catalog_;
  asio::io_context io_context_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::vector<std::thread> threads_;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    HttpServerOptions options, std::shared_ptr<tessera::v1::Generation::StubInterface> stub) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(stub));
  if (absl::Status status = impl->Listen(); !status.ok()) return status;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  if (impl_) impl_->Stop();
}

uint16_t HttpServer::port() const { return impl_->port(); }

void HttpServer::Stop() { impl_->Stop(); }

}  // namespace tessera::gateway
