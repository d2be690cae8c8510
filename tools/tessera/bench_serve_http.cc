#include "tools/tessera/bench_serve_http.h"

// g++ 12 in C++20 needs <utility> ahead of Asio's headers.
#include <utility>

#include <optional>
#include <string_view>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "common/json_util.h"
#include "nlohmann/json.hpp"
#include "tools/tessera/bench_serve_sse.h"

namespace tessera::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Json = nlohmann::json;

constexpr size_t kErrorBodyLimit = 1 << 20;

// What the server said went wrong: the OpenAI error message when the body is one, else the body itself.
std::string ErrorMessageOf(const std::string& body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    const auto error = j.find("error");
    if (error != j.end() && error->is_object()) {
      const auto message = error->find("message");
      if (message != error->end() && message->is_string()) return message->get<std::string>();
    }
  }
  std::string trimmed(absl::StripAsciiWhitespace(body));
  if (trimmed.size() > 500) trimmed = trimmed.substr(0, 500) + "...";
  return trimmed;
}

std::string Abbreviate(std::string_view text) {
  return text.size() > 200 ? std::string(text.substr(0, 200)) + "..." : std::string(text);
}

// The progress of one streamed response.
struct StreamState {
  BenchClock::time_point sent;
  BenchClock::time_point last_chunk;
  bool first_chunk = false;
  bool done = false;  // `data: [DONE]` seen
};

// Takes one SSE event of a completion stream, as vLLM's request functions do: every event with choices is an
// output chunk (TTFT for the first, an ITL gap for the others; its text may be empty), the usage event gives the
// token counts. Returns an error message for an error event or malformed data.
std::optional<std::string> TakeEvent(const std::string& data, BenchClock::time_point at, bool chat, StreamState& state,
                                     RequestOutcome& out) {
  if (state.done) return std::nullopt;
  if (data == "[DONE]") {
    state.done = true;
    return std::nullopt;
  }
  const Json event = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!event.is_object()) return CatMessage("malformed stream event: ", Abbreviate(data));
  if (const auto error = event.find("error"); error != event.end()) {
    return CatMessage("error event in the stream: ", ErrorMessageOf(data));
  }
  const auto choices = event.find("choices");
  if (choices != event.end() && choices->is_array() && !choices->empty()) {
    if (!state.first_chunk) {
      state.first_chunk = true;
      out.ttft = SecondsBetween(state.sent, at);
    } else {
      out.itl.push_back(SecondsBetween(state.last_chunk, at));
    }
    state.last_chunk = at;
    const Json& choice = choices->front();
    const Json* text = nullptr;
    if (chat) {
      const auto delta = choice.find("delta");
      if (delta != choice.end() && delta->is_object()) {
        const auto content = delta->find("content");
        if (content != delta->end()) text = &*content;
      }
    } else if (const auto found = choice.find("text"); found != choice.end()) {
      text = &*found;
    }
    if (text != nullptr && text->is_string()) out.generated_text += text->get<std::string>();
    return std::nullopt;
  }
  const auto usage = event.find("usage");
  if (usage != event.end() && usage->is_object()) {
    if (const auto n = usage->find("completion_tokens"); n != usage->end() && n->is_number_integer()) {
      out.output_tokens = n->get<int>();
    }
    if (const auto n = usage->find("prompt_tokens"); n != usage->end() && n->is_number_integer()) {
      out.prompt_len = n->get<int>();
    }
  }
  return std::nullopt;
}

}  // namespace

std::string HttpBaseUrl::ToString() const { return CatMessage("http://", host, ":", port, path_prefix); }

absl::StatusOr<HttpBaseUrl> ParseHttpBaseUrl(const std::string& url) {
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    return absl::InvalidArgumentError(
        CatMessage("base URL '", url, "': https is not supported; benchmark the server over plain http://"));
  }
  if (!rest.starts_with("http://")) {
    return absl::InvalidArgumentError(CatMessage("base URL '", url, "' must start with http://"));
  }
  rest.remove_prefix(std::string_view("http://").size());
  HttpBaseUrl parsed;
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) parsed.path_prefix = std::string(rest.substr(slash));
  while (!parsed.path_prefix.empty() && parsed.path_prefix.back() == '/') parsed.path_prefix.pop_back();
  parsed.port = "80";
  if (authority.starts_with("[")) {  // [v6 address]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos)
      return absl::InvalidArgumentError(CatMessage("base URL '", url, "': bad host"));
    parsed.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    if (!authority.empty()) {
      if (!authority.starts_with(":")) {
        return absl::InvalidArgumentError(CatMessage("base URL '", url, "': bad host"));
      }
      parsed.port = std::string(authority.substr(1));
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    parsed.host = std::string(authority.substr(0, colon));
    parsed.port = std::string(authority.substr(colon + 1));
  } else {
    parsed.host = std::string(authority);
  }
  int port = 0;
  if (parsed.host.empty()) return absl::InvalidArgumentError(CatMessage("base URL '", url, "' has no host"));
  if (!absl::SimpleAtoi(parsed.port, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(
        CatMessage("base URL '", url, "': port '", parsed.port, "' is not in [1, 65535]"));
  }
  return parsed;
}

struct OpenAiHttpBackend::State {
  asio::any_io_executor executor;
  OpenAiHttpOptions options;
  tcp::resolver::results_type endpoints;
  std::vector<beast::tcp_stream> idle;  // kept-alive connections, reused LIFO

  std::chrono::steady_clock::duration Timeout() const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(options.request_timeout_s));
  }

  std::string Target(std::string_view endpoint) const { return CatMessage(options.base_url.path_prefix, endpoint); }

  http::request<http::string_body> NewRequest(http::verb verb, std::string_view endpoint) const {
    http::request<http::string_body> request{verb, Target(endpoint), 11};
    request.set(http::field::host, CatMessage(options.base_url.host, ":", options.base_url.port));
    request.set(http::field::user_agent, "tessera-bench-serve");
    if (!options.api_key.empty()) request.set(http::field::authorization, CatMessage("Bearer ", options.api_key));
    request.keep_alive(true);
    return request;
  }

  std::string Body(const BenchRequest& r) const {
    Json body;
    body["model"] = r.model;
    if (options.chat) {
      body["messages"] = Json::array({{{"role", "user"}, {"content", r.prompt}}});
      body["max_completion_tokens"] = r.output_len;
    } else {
      if (r.prompt_token_ids.empty()) {
        body["prompt"] = r.prompt;
      } else {
        body["prompt"] = r.prompt_token_ids;
      }
      body["max_tokens"] = r.output_len;
    }
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
    const BenchSampling& s = options.sampling;
    if (s.ignore_eos) body["ignore_eos"] = true;
    if (s.temperature) body["temperature"] = *s.temperature;
    if (s.top_p) body["top_p"] = *s.top_p;
    if (s.top_k) body["top_k"] = *s.top_k;
    if (s.min_p) body["min_p"] = *s.min_p;
    if (s.frequency_penalty) body["frequency_penalty"] = *s.frequency_penalty;
    if (s.presence_penalty) body["presence_penalty"] = *s.presence_penalty;
    if (s.repetition_penalty) body["repetition_penalty"] = *s.repetition_penalty;
    // Random token prompts decode to arbitrary bytes; invalid UTF-8 is replaced rather than thrown on.
    return body.dump(-1, ' ', false, Json::error_handler_t::replace);
  }

  // A new connection, or an error message naming the server.
  asio::awaitable<std::optional<std::string>> Connect(beast::tcp_stream& stream) {
    beast::error_code ec;
    stream.expires_after(Timeout());
    co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return CatMessage("cannot connect to ", options.base_url.ToString(), ": ", ec.message());
    stream.socket().set_option(tcp::no_delay(true), ec);
    co_return std::nullopt;
  }

  // Reads the rest of an error response's body (bounded) into a message.
  asio::awaitable<std::string> ReadErrorBody(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                             http::response_parser<http::buffer_body>& parser) {
    std::string body;
    char chunk[8192];
    while (!parser.is_done() && body.size() < kErrorBodyLimit) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof(chunk);
      beast::error_code ec;
      stream.expires_after(Timeout());
      co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      body.append(chunk, sizeof(chunk) - parser.get().body().size);
      if (ec) break;
    }
    co_return body;
  }

  enum class Exchange { kFinished, kRetry };

  // One POST on `stream` and its streamed answer. kRetry: a reused connection had been closed by the server before
  // it saw the request, so it is worth sending again on a new one.
  asio::awaitable<Exchange> PostOnce(beast::tcp_stream& stream, bool reused, http::request<http::string_body>& request,
                                     StreamState& state, RequestOutcome& out) {
    beast::error_code ec;
    stream.expires_after(Timeout());
    co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (reused) co_return Exchange::kRetry;
      out.error = CatMessage("sending the request to ", options.base_url.ToString(), " failed: ", ec.message());
      co_return Exchange::kFinished;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    stream.expires_after(Timeout());
    co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (reused && (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                     ec == asio::error::eof || ec == asio::error::broken_pipe)) {
        co_return Exchange::kRetry;
      }
      out.error = CatMessage("no response from ", options.base_url.ToString(), ": ", ec.message());
      co_return Exchange::kFinished;
    }
    const http::status status = parser.get().result();
    if (status != http::status::ok) {
      const std::string body = co_await ReadErrorBody(stream, buffer, parser);
      out.error = CatMessage("HTTP ", parser.get().result_int(), " ", std::string(parser.get().reason()), " from ",
                             std::string(request.target()), ": ", ErrorMessageOf(body));
      co_return Exchange::kFinished;
    }

    SseReader sse;
    char chunk[16384];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof(chunk);
      stream.expires_after(Timeout());
      co_await http::async_read_some(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      // Stamped as soon as the bytes are in, before any parsing, as the Python client stamps each chunk it reads.
      const BenchClock::time_point at = BenchClock::now();
      if (ec == http::error::need_buffer) ec = {};
      const size_t received = sizeof(chunk) - parser.get().body().size;
      for (const std::string& data : sse.Feed(std::string_view(chunk, received))) {
        if (std::optional<std::string> error = TakeEvent(data, at, options.chat, state, out)) {
          out.error = std::move(*error);
          co_return Exchange::kFinished;
        }
      }
      if (ec) {
        out.error = CatMessage("the stream from ", options.base_url.ToString(), " broke off: ", ec.message());
        co_return Exchange::kFinished;
      }
    }
    const BenchClock::time_point at = BenchClock::now();
    for (const std::string& data : sse.Finish()) {
      if (std::optional<std::string> error = TakeEvent(data, at, options.chat, state, out)) {
        out.error = std::move(*error);
        co_return Exchange::kFinished;
      }
    }
    if (!state.first_chunk) {
      out.error = "the stream carried no output chunk (never received a valid chunk to time the first token)";
    } else if (!state.done) {
      out.error = "the stream ended without 'data: [DONE]'";
    } else {
      out.success = true;
      if (parser.keep_alive()) idle.push_back(std::move(stream));
    }
    co_return Exchange::kFinished;
  }
};

OpenAiHttpBackend::OpenAiHttpBackend(std::unique_ptr<State> state) : state_(std::move(state)) {}
OpenAiHttpBackend::~OpenAiHttpBackend() = default;

absl::StatusOr<std::unique_ptr<OpenAiHttpBackend>> OpenAiHttpBackend::Create(asio::any_io_executor executor,
                                                                             OpenAiHttpOptions options) {
  auto state = std::make_unique<State>();
  state->executor = executor;
  state->options = std::move(options);
  tcp::resolver resolver(executor);
  beast::error_code ec;
  state->endpoints = resolver.resolve(state->options.base_url.host, state->options.base_url.port, ec);
  if (ec) {
    return absl::UnavailableError(
        CatMessage("cannot resolve ", state->options.base_url.ToString(), ": ", ec.message()));
  }
  return std::unique_ptr<OpenAiHttpBackend>(new OpenAiHttpBackend(std::move(state)));
}

std::string OpenAiHttpBackend::Describe() const {
  return CatMessage("POST ", state_->options.base_url.ToString(), state_->options.endpoint);
}

asio::awaitable<RequestOutcome> OpenAiHttpBackend::Send(const BenchRequest& request, BenchClock::time_point run_start) {
  State& s = *state_;
  RequestOutcome out;
  out.prompt_len = request.prompt_len;
  http::request<http::string_body> message = s.NewRequest(http::verb::post, s.options.endpoint);
  message.set(http::field::content_type, "application/json");
  message.set("x-request-id", request.request_id);
  message.body() = s.Body(request);
  message.prepare_payload();

  StreamState state;
  state.sent = BenchClock::now();
  state.last_chunk = state.sent;
  out.start_time = SecondsBetween(run_start, state.sent);
  for (int attempt = 0;; ++attempt) {
    const bool reused = !s.idle.empty() && attempt == 0;
    std::optional<beast::tcp_stream> stream;
    if (reused) {
      stream.emplace(std::move(s.idle.back()));
      s.idle.pop_back();
    } else {
      stream.emplace(s.executor);
      std::optional<std::string> error = co_await s.Connect(*stream);
      if (error) {
        out.error = std::move(*error);
        break;
      }
    }
    const State::Exchange exchange = co_await s.PostOnce(*stream, reused, message, state, out);
    if (exchange == State::Exchange::kFinished) break;
  }
  out.latency = SecondsBetween(state.sent, state.last_chunk);
  co_return out;
}

asio::awaitable<absl::StatusOr<std::string>> OpenAiHttpBackend::FirstModel() {
  State& s = *state_;
  const std::string url = CatMessage(s.options.base_url.ToString(), "/v1/models");
  beast::tcp_stream stream(s.executor);
  std::optional<std::string> error = co_await s.Connect(stream);
  if (error) co_return absl::UnavailableError(CatMessage("listing the models at ", url, ": ", *error));
  http::request<http::string_body> request = s.NewRequest(http::verb::get, "/v1/models");
  request.keep_alive(false);
  beast::error_code ec;
  stream.expires_after(s.Timeout());
  co_await http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(16 << 20);
  if (!ec) co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return absl::UnavailableError(CatMessage("listing the models at ", url, ": ", ec.message()));
  const std::string& body = parser.get().body();
  if (parser.get().result() != http::status::ok) {
    co_return absl::UnavailableError(
        CatMessage("listing the models at ", url, ": HTTP ", parser.get().result_int(), ": ", ErrorMessageOf(body)));
  }
  const Json models = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (models.is_object()) {
    const auto data = models.find("data");
    if (data != models.end() && data->is_array() && !data->empty() && data->front().is_object()) {
      const auto id = data->front().find("id");
      if (id != data->front().end() && id->is_string()) co_return id->get<std::string>();
    }
  }
  co_return absl::NotFoundError(CatMessage("the server at ", url, " lists no model: ", Abbreviate(body)));
}

}  // namespace tessera::cli
