#include "common/metrics/metrics_http_server.h"

// g++ 12 in C++20 needs <utility> ahead of Asio's headers.
#include <utility>

#include <chrono>
#include <exception>
#include <mutex>
#include <string_view>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace tessera::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A scrape is a tiny GET; anything slower or larger is not Prometheus and is dropped.
constexpr auto kIoTimeout = std::chrono::seconds(30);
constexpr size_t kHeaderLimitBytes = 16 * 1024;
constexpr size_t kBodyLimitBytes = 16 * 1024;

}  // namespace

class MetricsHttpServer::Impl {
 public:
  explicit Impl(const Registry* registry) : registry_(registry), acceptor_(io_context_) {}

  absl::Status Listen(const std::string& host, uint16_t port) {
    beast::error_code ec;
    const asio::ip::address address = asio::ip::make_address(host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("metrics host '", host, "' is not an IP address"));
    const tcp::endpoint endpoint(address, port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", ec.message()));
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_context_, Accept(), asio::detached);
    thread_ = std::thread([this] { io_context_.run(); });
    return absl::OkStatus();
  }

  uint16_t port() const { return port_; }

  void Stop() {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    io_context_.stop();
    if (thread_.joinable()) thread_.join();
    // With the IO thread gone nothing else touches the acceptor; closing it refuses new connections at once.
    beast::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
      if (ec) continue;  // one failed accept (reset, fd limit) must not end scraping
      asio::co_spawn(io_context_, Session(std::move(socket)), [](std::exception_ptr) {});
    }
  }

  asio::awaitable<void> Session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimitBytes);
      parser.body_limit(kBodyLimitBytes);
      beast::error_code ec;
      stream.expires_after(kIoTimeout);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      const http::request<http::string_body>& request = parser.get();
      http::response<http::string_body> response = Respond(request);
      stream.expires_after(kIoTimeout);
      co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
      if (ec || !response.keep_alive()) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  http::response<http::string_body> Respond(const http::request<http::string_body>& request) const {
    std::string_view target(request.target().data(), request.target().size());
    const size_t query = target.find('?');
    if (query != std::string_view::npos) target = target.substr(0, query);
    const bool is_metrics = target == "/metrics";
    const bool is_get = request.method() == http::verb::get || request.method() == http::verb::head;
    http::response<http::string_body> response;
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::server, "tessera-metrics");
    if (is_metrics && is_get) {
      response.result(http::status::ok);
      response.set(http::field::content_type, kTextFormatContentType);
      if (request.method() == http::verb::get) response.body() = registry_->Render();
    } else if (is_metrics) {
      response.result(http::status::method_not_allowed);
      response.set(http::field::allow, "GET, HEAD");
      response.set(http::field::content_type, "text/plain; charset=utf-8");
      response.body() = "only GET and HEAD are allowed on /metrics\n";
    } else {
      response.result(http::status::not_found);
      response.set(http::field::content_type, "text/plain; charset=utf-8");
      response.body() = "not found; metrics are served at /metrics\n";
    }
    response.prepare_payload();
    return response;
  }

  const Registry* registry_;
  asio::io_context io_context_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::mutex stop_mutex_;
  bool stopped_ = false;
};

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(const Registry* registry,
                                                                            const std::string& host, uint16_t port) {
  if (registry == nullptr) return absl::InvalidArgumentError("metrics server needs a registry");
  auto impl = std::make_unique<Impl>(registry);
  if (absl::Status status = impl->Listen(host, port); !status.ok()) return status;
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(impl)));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsHttpServer::~MetricsHttpServer() {
  if (impl_) impl_->Stop();
}

uint16_t MetricsHttpServer::port() const { return impl_->port(); }

void MetricsHttpServer::Stop() { impl_->Stop(); }

}  // namespace tessera::metrics
