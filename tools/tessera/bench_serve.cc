#include "tools/tessera/bench_serve.h"

// g++ 12 in C++20 needs <utility> ahead of Asio's headers.
#include <utility>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/command_line.h"
#include "common/json_util.h"
#include "common/progress_bar.h"
#include "common/status_macros.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "tools/tessera/bench_serve_arrivals.h"
#include "tools/tessera/bench_serve_backend.h"
#include "tools/tessera/bench_serve_grpc.h"
#include "tools/tessera/bench_serve_http.h"
#include "tools/tessera/bench_serve_metrics.h"
#include "tools/tessera/random_dataset.h"
#include "tools/tessera/subcommand.h"

namespace tessera::cli {
namespace {

namespace asio = boost::asio;
using OrderedJson = nlohmann::ordered_json;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

std::vector<FlagSpec> ServeFlagSpecs() {
  return {
      {"backend", true, "openai (/v1/completions, default), openai-chat (/v1/chat/completions) or tessera-grpc"},
      {"base-url", true, "server base URL, e.g. http://127.0.0.1:8000 (default http://HOST:PORT)"},
      {"host", true, "server host when --base-url is not given (default 127.0.0.1)"},
      {"port", true, "server port when --base-url is not given (default 8000)"},
      {"endpoint", true, "API path (default /v1/completions, /v1/chat/completions for openai-chat)"},
      {"grpc-target", true, "HOST:PORT of a worker or router for --backend tessera-grpc"},
      {"model", true, "model name sent in requests and, when a folder, its tokenizer (default: the server's first)"},
      {"served-model-name", true, "name sent in requests when it differs from --model"},
      {"tokenizer", true, "folder with tokenizer.json for the random prompts (default: --model)"},
      {"api-key", true, "bearer token for the HTTP API (default: $OPENAI_API_KEY)"},
      {"dataset-name", true, "only 'random' (default)"},
      {"num-prompts", true, "requests to send (default 1000)"},
      {"random-input-len", true, "prompt tokens per request (default 1024)"},
      {"random-output-len", true, "generated tokens per request, EOS ignored (default 128)"},
      {"random-range-ratio", true, "lengths drawn from [len*(1-r), len*(1+r)] (default 0)"},
      {"input-len", true, "same as --random-input-len"},
      {"output-len", true, "same as --random-output-len"},
      {"seed", true, "seed of the prompts and arrival times (default 0)"},
      {"prompt-token-ids", false, "send the random prompts as token ids (openai and tessera-grpc) instead of text"},
      {"ignore-eos", false, "accepted for compatibility: random prompts always ignore EOS"},
      {"request-rate", true, "requests per second, Poisson/gamma arrivals; inf sends all at once (default inf)"},
      {"burstiness", true, "gamma shape of the arrival gaps: 1 Poisson, <1 burstier, >1 steadier (default 1)"},
      {"max-concurrency", true, "most requests in flight at once (default: no limit)"},
      {"num-warmups", true, "requests sent (and discarded) before the run (default 0)"},
      {"ready-check-timeout-sec", true, "retry the initial test request this long while the server starts (default 0)"},
      {"request-timeout", true, "seconds any network step of a request may take (default 21600)"},
      {"percentile-metrics", true, "metrics with percentiles: ttft,tpot,itl,e2el (default ttft,tpot,itl)"},
      {"metric-percentiles", true, "percentiles to report, e.g. 25,50,99 (default 99)"},
      {"request-id-prefix", true, "prefix of the request ids (default bench-XXXXXXXX-)"},
      {"temperature", true, "sampling temperature (default: the server's)"},
      {"top-p", true, "top-p (default: the server's)"},
      {"top-k", true, "top-k (default: the server's)"},
      {"min-p", true, "min-p (default: the server's)"},
      {"frequency-penalty", true, "frequency penalty (default: the server's)"},
      {"presence-penalty", true, "presence penalty (default: the server's)"},
      {"repetition-penalty", true, "repetition penalty (default: the server's)"},
      {"save-result", false, "write the results as JSON"},
      {"save-detailed", false, "with --save-result, also per-request lengths, timings, texts and errors"},
      {"result-dir", true, "folder for the JSON result (default: current folder)"},
      {"result-filename", true, "file name of the JSON result (default LABEL-RATEqps[-concurrencyN]-MODEL-DATE.json)"},
      {"label", true, "label of the result (default: --backend)"},
      {"disable-tqdm", false, "no progress bar"},
      {"help", false, "show this help"},
  };
}

enum class Backend { kOpenAi, kOpenAiChat, kTesseraGrpc };

struct ServeOptions {
  Backend backend = Backend::kOpenAi;
  std::string backend_name = "openai";
  HttpBaseUrl base_url;
  std::string endpoint;
  std::string grpc_target;
  std::optional<std::string> model;
  std::optional<std::string> served_model_name;
  std::optional<std::string> tokenizer_dir;
  std::string api_key;
  RandomDatasetOptions dataset;
  bool prompt_token_ids = false;
  double request_rate = kInfinity;
  double burstiness = 1.0;
  std::optional<int> max_concurrency;
  int num_warmups = 0;
  double ready_check_timeout_s = 0.0;
  double request_timeout_s = 6 * 3600;
  std::vector<std::string> percentile_metrics = {"ttft", "tpot", "itl"};
  std::vector<double> percentiles = {99.0};
  std::string request_id_prefix;
  BenchSampling sampling;
  bool save_result = false;
  bool save_detailed = false;
  std::string result_dir;
  std::string result_filename;
  std::string label;
  bool progress = true;
};

// A float the way Python prints it (10.0, 0.5, inf), so that labels and file names read as vLLM's.
std::string PyFloat(double value) {
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (value == std::floor(value) && std::fabs(value) < 1e16) return absl::StrFormat("%.1f", value);
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return ec == std::errc() ? std::string(buffer, end) : absl::StrFormat("%g", value);
}

// A percentile's name as vLLM writes it: 99 -> "99", 99.9 -> "99.9".
std::string PercentileWord(double p) {
  if (p == std::floor(p)) return absl::StrFormat("%d", static_cast<int>(p));
  return PyFloat(p);
}

absl::StatusOr<double> GetRateLike(const CommandLine& flags, const std::string& name, double fallback) {
  if (!flags.Has(name)) return fallback;
  const std::string text = absl::AsciiStrToLower(flags.GetString(name));
  if (text == "inf" || text == "infinity") return kInfinity;
  return flags.GetDouble(name, fallback);
}

absl::StatusOr<std::optional<double>> GetOptionalDouble(const CommandLine& flags, const std::string& name) {
  if (!flags.Has(name)) return std::optional<double>();
  ASSIGN_OR_RETURN(double value, flags.GetDouble(name, 0.0));
  return std::optional<double>(value);
}

absl::StatusOr<int> GetIntIn(const CommandLine& flags, const std::string& name, int64_t fallback, int64_t low,
                             int64_t high) {
  ASSIGN_OR_RETURN(int64_t value, flags.GetInt(name, fallback));
  if (value < low || value > high) {
    return absl::InvalidArgumentError(CatMessage("--", name, " must be in [", low, ", ", high, "], got ", value));
  }
  return static_cast<int>(value);
}

std::string RandomRequestIdPrefix() {
  std::random_device device;
  return absl::StrFormat("bench-%08x-", device());
}

absl::StatusOr<ServeOptions> ParseOptions(const CommandLine& flags) {
  ServeOptions o;
  o.backend_name = flags.GetString("backend", "openai");
  if (o.backend_name == "openai") {
    o.backend = Backend::kOpenAi;
  } else if (o.backend_name == "openai-chat") {
    o.backend = Backend::kOpenAiChat;
  } else if (o.backend_name == "tessera-grpc") {
    o.backend = Backend::kTesseraGrpc;
  } else {
    return absl::InvalidArgumentError(
        CatMessage("--backend must be openai, openai-chat or tessera-grpc, got '", o.backend_name, "'"));
  }

  if (o.backend == Backend::kTesseraGrpc) {
    if (!flags.Has("grpc-target"))
      return absl::InvalidArgumentError("--backend tessera-grpc needs --grpc-target HOST:PORT");
    o.grpc_target = flags.GetString("grpc-target");
  } else {
    std::string url = flags.GetString("base-url");
    if (url.empty()) {
      ASSIGN_OR_RETURN(const int port, GetIntIn(flags, "port", 8000, 1, 65535));
      std::string host = flags.GetString("host", "127.0.0.1");
      if (host.find(':') != std::string::npos) host = CatMessage("[", host, "]");
      url = CatMessage("http://", host, ":", port);
    }
    ASSIGN_OR_RETURN(o.base_url, ParseHttpBaseUrl(url));
    o.endpoint =
        flags.GetString("endpoint", o.backend == Backend::kOpenAiChat ? "/v1/chat/completions" : "/v1/completions");
    if (o.endpoint.empty() || o.endpoint.front() != '/') o.endpoint = "/" + o.endpoint;
    // The request body is endpoint-specific, so a mismatched pair would only fail every request.
    const bool chat_endpoint = o.endpoint.ends_with("chat/completions");
    if (o.backend == Backend::kOpenAiChat && !chat_endpoint) {
      return absl::InvalidArgumentError(
          CatMessage("--backend openai-chat sends chat requests; --endpoint must end with chat/completions, got '",
                     o.endpoint, "'"));
    }
    if (o.backend == Backend::kOpenAi && (chat_endpoint || !o.endpoint.ends_with("completions"))) {
      return absl::InvalidArgumentError(
          CatMessage("--backend openai sends completion requests; --endpoint must end with /completions (use --backend "
                     "openai-chat for chat/completions), got '",
                     o.endpoint, "'"));
    }
  }
  if (flags.Has("model")) o.model = flags.GetString("model");
  if (flags.Has("served-model-name")) o.served_model_name = flags.GetString("served-model-name");
  if (flags.Has("tokenizer")) o.tokenizer_dir = flags.GetString("tokenizer");
  if (flags.Has("api-key")) {
    o.api_key = flags.GetString("api-key");
  } else if (const char* env = std::getenv("OPENAI_API_KEY"); env != nullptr) {
    o.api_key = env;
  }

  if (const std::string dataset = flags.GetString("dataset-name", "random"); dataset != "random") {
    return absl::InvalidArgumentError(CatMessage("--dataset-name: only 'random' is supported, got '", dataset, "'"));
  }
  ASSIGN_OR_RETURN(o.dataset.num_prompts, GetIntIn(flags, "num-prompts", 1000, 1, 1 << 24));
  const std::string input_flag = flags.Has("input-len") ? "input-len" : "random-input-len";
  const std::string output_flag = flags.Has("output-len") ? "output-len" : "random-output-len";
  ASSIGN_OR_RETURN(o.dataset.input_len, GetIntIn(flags, input_flag, 1024, 1, 1 << 24));
  ASSIGN_OR_RETURN(o.dataset.output_len, GetIntIn(flags, output_flag, 128, 1, 1 << 24));
  ASSIGN_OR_RETURN(o.dataset.range_ratio, flags.GetDouble("random-range-ratio", 0.0));
  if (!(o.dataset.range_ratio >= 0.0 && o.dataset.range_ratio < 1.0)) {
    return absl::InvalidArgumentError("--random-range-ratio must be in [0, 1)");
  }
  ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0));
  o.dataset.seed = static_cast<uint64_t>(seed);
  o.prompt_token_ids = flags.Has("prompt-token-ids");
  if (o.prompt_token_ids && o.backend == Backend::kOpenAiChat) {
    return absl::InvalidArgumentError("--prompt-token-ids needs a completion API (--backend openai or tessera-grpc)");
  }

  ASSIGN_OR_RETURN(o.request_rate, GetRateLike(flags, "request-rate", kInfinity));
  if (!(o.request_rate > 0.0)) return absl::InvalidArgumentError("--request-rate must be positive (or inf)");
  ASSIGN_OR_RETURN(o.burstiness, GetRateLike(flags, "burstiness", 1.0));
  if (!(o.burstiness > 0.0)) return absl::InvalidArgumentError("--burstiness must be positive");
  if (flags.Has("max-concurrency")) {
    ASSIGN_OR_RETURN(const int cap, GetIntIn(flags, "max-concurrency", 0, 1, 1 << 20));
    o.max_concurrency = cap;
  }
  ASSIGN_OR_RETURN(o.num_warmups, GetIntIn(flags, "num-warmups", 0, 0, 1 << 20));
  ASSIGN_OR_RETURN(o.ready_check_timeout_s, flags.GetDouble("ready-check-timeout-sec", 0.0));
  if (o.ready_check_timeout_s < 0) return absl::InvalidArgumentError("--ready-check-timeout-sec must be >= 0");
  ASSIGN_OR_RETURN(o.request_timeout_s, flags.GetDouble("request-timeout", o.request_timeout_s));
  if (!(o.request_timeout_s > 0)) return absl::InvalidArgumentError("--request-timeout must be positive");

  if (flags.Has("percentile-metrics")) {
    o.percentile_metrics.clear();
    for (absl::string_view item : absl::StrSplit(flags.GetString("percentile-metrics"), ',', absl::SkipWhitespace())) {
      const std::string metric(absl::StripAsciiWhitespace(item));
      if (metric != "ttft" && metric != "tpot" && metric != "itl" && metric != "e2el") {
        return absl::InvalidArgumentError(
            CatMessage("--percentile-metrics: unknown metric '", metric, "' (known: ttft, tpot, itl, e2el)"));
      }
      o.percentile_metrics.push_back(metric);
    }
  }
  if (flags.Has("metric-percentiles")) {
    o.percentiles.clear();
    for (absl::string_view item : absl::StrSplit(flags.GetString("metric-percentiles"), ',', absl::SkipWhitespace())) {
      double p = 0;
      if (!absl::SimpleAtod(absl::StripAsciiWhitespace(item), &p) || !(p >= 0.0 && p <= 100.0)) {
        return absl::InvalidArgumentError(
            CatMessage("--metric-percentiles: '", std::string(item), "' is not a percentile in [0, 100]"));
      }
      o.percentiles.push_back(p);
    }
  }
  o.request_id_prefix = flags.Has("request-id-prefix") ? flags.GetString("request-id-prefix") : RandomRequestIdPrefix();

  ASSIGN_OR_RETURN(o.sampling.temperature, GetOptionalDouble(flags, "temperature"));
  ASSIGN_OR_RETURN(o.sampling.top_p, GetOptionalDouble(flags, "top-p"));
  ASSIGN_OR_RETURN(o.sampling.min_p, GetOptionalDouble(flags, "min-p"));
  ASSIGN_OR_RETURN(o.sampling.frequency_penalty, GetOptionalDouble(flags, "frequency-penalty"));
  ASSIGN_OR_RETURN(o.sampling.presence_penalty, GetOptionalDouble(flags, "presence-penalty"));
  ASSIGN_OR_RETURN(o.sampling.repetition_penalty, GetOptionalDouble(flags, "repetition-penalty"));
  if (flags.Has("top-k")) {
    ASSIGN_OR_RETURN(const int top_k, GetIntIn(flags, "top-k", -1, -1, 1 << 30));
    o.sampling.top_k = top_k;
  }
  o.sampling.ignore_eos = true;

  o.save_result = flags.Has("save-result") || flags.Has("result-filename");
  o.save_detailed = flags.Has("save-detailed");
  o.result_dir = flags.GetString("result-dir");
  o.result_filename = flags.GetString("result-filename");
  o.label = flags.GetString("label");
  o.progress = !flags.Has("disable-tqdm");
  return o;
}

// A counting semaphore for coroutines of one single-threaded io_context: waiters park on a timer that Release()
// cancels, handing the slot over directly.
class AsyncSemaphore {
 public:
  explicit AsyncSemaphore(int slots) : available_(slots) {}

  asio::awaitable<void> Acquire() {
    if (available_ > 0) {
      --available_;
      co_return;
    }
    auto executor = co_await asio::this_coro::executor;
    auto waiter = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
    waiters_.push_back(waiter);
    boost::system::error_code ec;
    co_await waiter->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  void Release() {
    if (waiters_.empty()) {
      ++available_;
      return;
    }
    std::shared_ptr<asio::steady_timer> next = std::move(waiters_.front());
    waiters_.pop_front();
    next->cancel();
  }

 private:
  int available_;
  std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
};

void PrintRow(const char* label, const std::string& value) { std::printf("%-40s %-10s\n", label, value.c_str()); }
void PrintRow(const std::string& label, double value) {
  std::printf("%-40s %-10s\n", label.c_str(), absl::StrFormat("%.2f", value).c_str());
}
void PrintRule(const std::string& title, char fill) {
  const int width = 50;
  const int pad = std::max(0, width - static_cast<int>(title.size()));
  std::printf("%s%s%s\n", std::string(pad / 2, fill).c_str(), title.c_str(), std::string(pad - pad / 2, fill).c_str());
}

struct MetricInfo {
  const char* key;
  const char* name;
  const char* header;
  const MetricStats ServingMetrics::*stats;
};
constexpr MetricInfo kMetrics[] = {
    {"ttft", "TTFT", "Time to First Token", &ServingMetrics::ttft},
    {"tpot", "TPOT", "Time per Output Token (excl. 1st token)", &ServingMetrics::tpot},
    {"itl", "ITL", "Inter-token Latency", &ServingMetrics::itl},
    {"e2el", "E2EL", "End-to-end Latency", &ServingMetrics::e2el},
};

// Prints vLLM's result table and adds the same figures to `result`.
void ReportMetrics(const ServeOptions& o, const ServingMetrics& m, double duration, OrderedJson& result) {
  PrintRule(" Serving Benchmark Result ", '=');
  PrintRow("Successful requests:", std::to_string(m.completed));
  PrintRow("Failed requests:", std::to_string(m.failed));
  if (o.max_concurrency) PrintRow("Maximum request concurrency:", std::to_string(*o.max_concurrency));
  if (!std::isinf(o.request_rate)) PrintRow("Request rate configured (RPS):", o.request_rate);
  PrintRow("Benchmark duration (s):", duration);
  PrintRow("Total input tokens:", std::to_string(m.total_input));
  PrintRow("Total generated tokens:", std::to_string(m.total_output));
  PrintRow("Request throughput (req/s):", m.request_throughput);
  PrintRow("Output token throughput (tok/s):", m.output_throughput);
  PrintRow("Peak output token throughput (tok/s):", m.max_output_tokens_per_s);
  PrintRow("Peak concurrent requests:", static_cast<double>(m.max_concurrent_requests));
  PrintRow("Total token throughput (tok/s):", m.total_token_throughput);

  result["duration"] = duration;
  result["completed"] = m.completed;
  result["failed"] = m.failed;
  result["total_input_tokens"] = m.total_input;
  result["total_output_tokens"] = m.total_output;
  result["request_throughput"] = m.request_throughput;
  result["request_goodput"] = nullptr;
  result["output_throughput"] = m.output_throughput;
  result["total_token_throughput"] = m.total_token_throughput;
  result["max_output_tokens_per_s"] = m.max_output_tokens_per_s;
  result["max_concurrent_requests"] = m.max_concurrent_requests;

  for (const MetricInfo& info : kMetrics) {
    if (std::find(o.percentile_metrics.begin(), o.percentile_metrics.end(), info.key) == o.percentile_metrics.end()) {
      continue;
    }
    const MetricStats& stats = m.*(info.stats);
    PrintRule(info.header, '-');
    PrintRow(CatMessage("Mean ", info.name, " (ms):"), stats.mean_ms);
    PrintRow(CatMessage("Median ", info.name, " (ms):"), stats.median_ms);
    result[CatMessage("mean_", info.key, "_ms")] = stats.mean_ms;
    result[CatMessage("median_", info.key, "_ms")] = stats.median_ms;
    result[CatMessage("std_", info.key, "_ms")] = stats.std_ms;
    for (const auto& [p, value] : stats.percentiles_ms) {
      const std::string word = PercentileWord(p);
      PrintRow(CatMessage("P", word, " ", info.name, " (ms):"), value);
      result[CatMessage("p", word, "_", info.key, "_ms")] = value;
    }
  }
  PrintRule("", '=');
  std::fflush(stdout);
}

std::string NowStamp() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y%m%d-%H%M%S", &local);
  return buffer;
}

absl::Status SaveResult(const ServeOptions& o, const std::string& model_id, const std::string& date,
                        const OrderedJson& result) {
  std::string file_name = o.result_filename;
  if (file_name.empty()) {
    const std::string base_model = std::filesystem::path(model_id).filename().string().empty()
                                       ? std::filesystem::path(model_id).parent_path().filename().string()
                                       : std::filesystem::path(model_id).filename().string();
    const std::string concurrency = o.max_concurrency ? CatMessage("-concurrency", *o.max_concurrency) : "";
    file_name = CatMessage(o.label.empty() ? o.backend_name : o.label, "-", PyFloat(o.request_rate), "qps", concurrency,
                           "-", base_model, "-", date, ".json");
  }
  if (!o.result_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.result_dir, ec);
    if (ec)
      return absl::PermissionDeniedError(CatMessage("--result-dir: cannot create ", o.result_dir, ": ", ec.message()));
    file_name = (std::filesystem::path(o.result_dir) / file_name).string();
  }
  std::ofstream out(file_name);
  if (!out) return absl::PermissionDeniedError(CatMessage("cannot write the result file ", file_name));
  out << result.dump(-1, ' ', false, OrderedJson::error_handler_t::replace) << "\n";
  if (!out.flush()) return absl::DataLossError(CatMessage("writing the result file ", file_name, " failed"));
  std::printf("Results saved to %s\n", file_name.c_str());
  return absl::OkStatus();
}

// The random prompts as the backend sends them.
absl::StatusOr<std::vector<BenchRequest>> BuildRequests(const ServeOptions& o, const Tokenizer& tokenizer,
                                                        const std::string& model_name) {
  std::vector<BenchRequest> requests;
  if (o.prompt_token_ids) {
    for (RandomRequest& drawn : RandomRequests(o.dataset, tokenizer.vocab_size(), PlainTokenIds(tokenizer))) {
      BenchRequest r;
      r.prompt_len = static_cast<int>(drawn.prompt_token_ids.size());
      r.prompt_token_ids = std::move(drawn.prompt_token_ids);
      r.output_len = drawn.output_len;
      requests.push_back(std::move(r));
    }
  } else {
    ASSIGN_OR_RETURN(std::vector<TextRequest> drawn, RandomTextRequests(o.dataset, tokenizer));
    for (TextRequest& text : drawn) {
      BenchRequest r;
      r.prompt = std::move(text.prompt);
      r.prompt_len = text.prompt_len;
      r.output_len = text.output_len;
      requests.push_back(std::move(r));
    }
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    requests[i].request_id = CatMessage(o.request_id_prefix, i);
    requests[i].model = model_name;
  }
  return requests;
}

class ServeBenchmark {
 public:
  ServeBenchmark(ServeOptions options, ServeBackend& backend) : o_(std::move(options)), backend_(backend) {}

  asio::awaitable<absl::Status> Run() {
    std::string model_id;
    if (o_.model) {
      model_id = *o_.model;
    } else {
      std::printf("Model not specified, fetching first model from server...\n");
      absl::StatusOr<std::string> first = co_await backend_.FirstModel();
      if (!first.ok()) co_return first.status();
      model_id = *first;
      std::printf("First model name: %s\n", model_id.c_str());
    }
    const std::string model_name = o_.served_model_name.value_or(model_id);
    const std::string tokenizer_id = o_.tokenizer_dir.value_or(model_id);
    absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromFolder(tokenizer_id);
    if (!tokenizer.ok()) {
      co_return absl::FailedPreconditionError(
          CatMessage("the random prompts need the model's tokenizer: pass --tokenizer DIR (or --model DIR); loading '",
                     tokenizer_id, "' failed: ", tokenizer.status().message()));
    }
    absl::StatusOr<std::vector<BenchRequest>> requests = BuildRequests(o_, **tokenizer, model_name);
    if (!requests.ok()) co_return requests.status();

    auto executor = co_await asio::this_coro::executor;
    std::printf("Starting initial single prompt test run...\n");
    std::fflush(stdout);
    BenchRequest test = requests->front();
    test.request_id = CatMessage(o_.request_id_prefix, "test");
    const BenchClock::time_point ready_deadline =
        BenchClock::now() +
        std::chrono::duration_cast<BenchClock::duration>(std::chrono::duration<double>(o_.ready_check_timeout_s));
    for (;;) {
      RequestOutcome outcome = co_await backend_.Send(test, BenchClock::now());
      if (outcome.success) break;
      if (BenchClock::now() >= ready_deadline) {
        co_return absl::UnavailableError(
            CatMessage("Initial test run failed - make sure the benchmark arguments are correct (", backend_.Describe(),
                       ", model '", model_name, "'). Error: ", outcome.error));
      }
      asio::steady_timer pause(executor, std::chrono::seconds(1));
      co_await pause.async_wait(asio::use_awaitable);
    }
    std::printf("Initial test run completed.\n");

    if (o_.num_warmups > 0) {
      std::printf("Warming up with %d requests...\n", o_.num_warmups);
      std::fflush(stdout);
      std::vector<BenchRequest> warmups(static_cast<size_t>(o_.num_warmups), test);
      for (int i = 0; i < o_.num_warmups; ++i) warmups[i].request_id = CatMessage(o_.request_id_prefix, "warmup-", i);
      const std::vector<double> at_once(warmups.size(), 0.0);
      const std::vector<RequestOutcome> discarded = co_await SendAll(warmups, at_once, /*progress=*/false);
      (void)discarded;
      std::printf("Warmup run completed.\n");
    }

    std::printf("Starting main benchmark run...\n");
    std::printf("Traffic request rate: %s\n", PyFloat(o_.request_rate).c_str());
    std::printf("Burstiness factor: %s (%s)\n", PyFloat(o_.burstiness).c_str(),
                o_.burstiness == 1.0 ? "Poisson process" : "Gamma distribution");
    std::printf("Maximum request concurrency: %s\n",
                o_.max_concurrency ? std::to_string(*o_.max_concurrency).c_str() : "None");
    std::fflush(stdout);
    const std::vector<double> arrivals =
        ArrivalOffsets(static_cast<int>(requests->size()), o_.request_rate, o_.burstiness, o_.dataset.seed);
    const BenchClock::time_point run_start = BenchClock::now();
    std::vector<RequestOutcome> outcomes = co_await SendAll(*requests, arrivals, o_.progress);
    const double duration = SecondsBetween(run_start, BenchClock::now());

    const ServingMetrics metrics = ComputeServingMetrics(outcomes, duration, o_.percentiles);
    if (metrics.failed > 0) {
      std::printf("Failed requests during benchmark run detected (capping to 10):\n");
      int shown = 0;
      for (const RequestOutcome& r : outcomes) {
        if (r.success) continue;
        if (shown == 10) break;
        std::printf("Error %d: %s\n", shown++, r.error.c_str());
      }
    }
    const std::string date = NowStamp();
    OrderedJson result;
    result["date"] = date;
    result["endpoint_type"] = o_.backend_name;
    result["backend"] = o_.backend_name;
    result["label"] = o_.label.empty() ? OrderedJson(nullptr) : OrderedJson(o_.label);
    result["model_id"] = model_id;
    result["tokenizer_id"] = tokenizer_id;
    result["num_prompts"] = o_.dataset.num_prompts;
    result["request_rate"] = std::isinf(o_.request_rate) ? OrderedJson("inf") : OrderedJson(o_.request_rate);
    result["burstiness"] = o_.burstiness;
    result["max_concurrency"] = o_.max_concurrency ? OrderedJson(*o_.max_concurrency) : OrderedJson(nullptr);
    result["random_input_len"] = o_.dataset.input_len;
    result["random_output_len"] = o_.dataset.output_len;
    result["random_range_ratio"] = o_.dataset.range_ratio;
    result["seed"] = o_.dataset.seed;
    result["target"] = backend_.Describe();
    ReportMetrics(o_, metrics, duration, result);
    if (o_.save_detailed) {
      OrderedJson input_lens = OrderedJson::array(), ttfts = OrderedJson::array(), itls = OrderedJson::array();
      OrderedJson latencies = OrderedJson::array(), start_times = OrderedJson::array();
      OrderedJson queue_times = OrderedJson::array(), texts = OrderedJson::array(), errors = OrderedJson::array();
      for (const RequestOutcome& r : outcomes) {
        input_lens.push_back(r.prompt_len);
        ttfts.push_back(r.ttft);
        itls.push_back(r.itl);
        latencies.push_back(r.latency);
        start_times.push_back(r.start_time);
        queue_times.push_back(r.queue_time);
        texts.push_back(r.generated_text);
        errors.push_back(r.error);
      }
      result["input_lens"] = std::move(input_lens);
      result["output_lens"] = metrics.output_lens;
      result["ttfts"] = std::move(ttfts);
      result["itls"] = std::move(itls);
      result["latencies"] = std::move(latencies);
      result["start_times"] = std::move(start_times);
      result["queue_times"] = std::move(queue_times);
      result["generated_texts"] = std::move(texts);
      result["errors"] = std::move(errors);
    }
    if (o_.save_result) {
      absl::Status saved = SaveResult(o_, model_id, date, result);
      if (!saved.ok()) co_return saved;
    }
    if (metrics.completed == 0) {
      co_return absl::UnavailableError(
          CatMessage("all ", metrics.failed, " requests failed; the first error: ", outcomes.front().error));
    }
    co_return absl::OkStatus();
  }

 private:
  // One request, once a concurrency slot is free; its queue time is how long it waited for that slot.
  asio::awaitable<RequestOutcome> SendOne(const BenchRequest& request, AsyncSemaphore* slots,
                                          BenchClock::time_point run_start) {
    const BenchClock::time_point arrived = BenchClock::now();
    if (slots != nullptr) co_await slots->Acquire();
    RequestOutcome outcome = co_await backend_.Send(request, run_start);
    if (slots != nullptr) slots->Release();
    outcome.queue_time = outcome.start_time - SecondsBetween(run_start, arrived);
    co_return outcome;
  }

  // Sends request i at run start + arrivals[i] (within the concurrency cap) and returns every outcome in order.
  asio::awaitable<std::vector<RequestOutcome>> SendAll(const std::vector<BenchRequest>& requests,
                                                       const std::vector<double>& arrivals, bool progress) {
    auto executor = co_await asio::this_coro::executor;
    std::vector<RequestOutcome> outcomes(requests.size());
    std::optional<AsyncSemaphore> slots;
    if (o_.max_concurrency) slots.emplace(*o_.max_concurrency);
    std::optional<ProgressBar> bar;
    if (progress) bar.emplace("Requests", static_cast<int64_t>(requests.size()));
    size_t finished = 0;
    asio::steady_timer all_finished(executor, asio::steady_timer::time_point::max());
    const BenchClock::time_point run_start = BenchClock::now();

    for (size_t i = 0; i < requests.size(); ++i) {
      const BenchClock::time_point due =
          run_start + std::chrono::duration_cast<BenchClock::duration>(std::chrono::duration<double>(arrivals[i]));
      if (due > BenchClock::now()) {
        asio::steady_timer wait(executor, due);
        co_await wait.async_wait(asio::use_awaitable);
      }
      asio::co_spawn(
          executor, SendOne(requests[i], slots ? &*slots : nullptr, run_start),
          [&outcomes, &finished, &all_finished, &bar, &requests, i](std::exception_ptr error, RequestOutcome outcome) {
            if (error) {
              outcome = RequestOutcome();
              outcome.error = "the request's client coroutine failed unexpectedly";
              try {
                std::rethrow_exception(error);
              } catch (const std::exception& e) {
                outcome.error = CatMessage(outcome.error, ": ", e.what());
              } catch (...) {
              }
            }
            outcomes[i] = std::move(outcome);
            ++finished;
            if (bar) bar->Update(static_cast<int64_t>(finished), "");
            if (finished == requests.size()) all_finished.cancel();
          });
    }
    if (finished < requests.size()) {
      boost::system::error_code ec;
      co_await all_finished.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (bar) bar->Finish("");
    co_return outcomes;
  }

  const ServeOptions o_;
  ServeBackend& backend_;
};

absl::Status Serve(const CommandLine& flags) {
  ASSIGN_OR_RETURN(ServeOptions options, ParseOptions(flags));
  asio::io_context io;
  std::unique_ptr<ServeBackend> backend;
  if (options.backend == Backend::kTesseraGrpc) {
    GrpcBackendOptions grpc_options;
    grpc_options.target = options.grpc_target;
    grpc_options.sampling = options.sampling;
    grpc_options.request_timeout_s = options.request_timeout_s;
    ASSIGN_OR_RETURN(backend, GrpcGenerateBackend::Create(std::move(grpc_options)));
  } else {
    OpenAiHttpOptions http_options;
    http_options.base_url = options.base_url;
    http_options.endpoint = options.endpoint;
    http_options.chat = options.backend == Backend::kOpenAiChat;
    http_options.api_key = options.api_key;
    http_options.sampling = options.sampling;
    http_options.request_timeout_s = options.request_timeout_s;
    ASSIGN_OR_RETURN(backend, OpenAiHttpBackend::Create(io.get_executor(), std::move(http_options)));
  }

  ServeBenchmark benchmark(std::move(options), *backend);
  // gRPC completions arrive from gRPC's threads through posts, which Asio does not count as pending work.
  auto work = asio::make_work_guard(io);
  absl::Status status = absl::InternalError("the benchmark did not finish");
  asio::co_spawn(io, benchmark.Run(), [&status, &work](std::exception_ptr error, absl::Status result) {
    status = std::move(result);
    if (error) {
      status = absl::InternalError("the benchmark failed unexpectedly");
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        status = absl::InternalError(CatMessage("the benchmark failed unexpectedly: ", e.what()));
      } catch (...) {
      }
    }
    work.reset();
  });
  io.run();
  return status;
}

}  // namespace

int RunBenchServe(int argc, char** argv, int first) {
  return RunSubcommand(argc, argv, first, "bench serve", "[--backend openai|openai-chat|tessera-grpc] [flags]",
                       ServeFlagSpecs(), Serve);
}

}  // namespace tessera::cli
