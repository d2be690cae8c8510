#include "tools/tessera/bench_serve_grpc.h"

// g++ 12 in C++20 needs <utility> ahead of Asio's headers.
#include <utility>

#include <condition_variable>
#include <functional>
#include <mutex>

#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/client_callback.h"
#include "tessera/v1/generation.grpc.pb.h"

namespace tessera::cli {
namespace {

namespace asio = boost::asio;
namespace v1 = tessera::v1;

std::chrono::system_clock::time_point DeadlineAfter(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds));
}

std::string GrpcError(const grpc::Status& status) {
  static constexpr const char* kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  const char* name = code >= 0 && code < static_cast<int>(std::size(kNames)) ? kNames[code] : "UNKNOWN";
  return CatMessage("gRPC ", name, ": ", status.error_message());
}

// Counts the calls gRPC still runs callbacks of, so that the backend (and the io_context the calls post to) is
// torn down only after the last callback has returned.
class InFlightCalls {
 public:
  void Started() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++count_;
  }
  void Finished() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--count_ == 0) idle_.notify_all();
  }
  void WaitIdle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  int count_ = 0;
};

// One Generate call. It deletes itself once gRPC is done with it, after handing the outcome to `on_done`.
class GenerateCall final : public grpc::ClientReadReactor<v1::GenerateResponse> {
 public:
  GenerateCall(v1::Generation::Stub& stub, v1::GenerateRequest request, int prompt_len,
               std::function<void(RequestOutcome)> on_done, InFlightCalls& in_flight)
      : stub_(stub), request_(std::move(request)), on_done_(std::move(on_done)), in_flight_(in_flight) {
    outcome_.prompt_len = prompt_len;
    in_flight_.Started();
  }

  void Start(BenchClock::time_point run_start, double timeout_s) {
    context_.set_deadline(DeadlineAfter(timeout_s));
    sent_ = BenchClock::now();
    last_chunk_ = sent_;
    outcome_.start_time = SecondsBetween(run_start, sent_);
    stub_.async()->Generate(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the stream ended; OnDone follows with its status
    const BenchClock::time_point at = BenchClock::now();
    bool carries_output = false;
    for (const v1::SequenceDelta& delta : response_.deltas()) {
      if (delta.index() != 0) continue;  // one sequence per request, as the HTTP backends read choices[0]
      carries_output = carries_output || delta.token_ids_size() > 0 || !delta.text().empty();
      outcome_.generated_text += delta.text();
      token_count_ += delta.token_ids_size();
    }
    if (carries_output) {
      if (!first_chunk_) {
        first_chunk_ = true;
        outcome_.ttft = SecondsBetween(sent_, at);
      } else {
        outcome_.itl.push_back(SecondsBetween(last_chunk_, at));
      }
      last_chunk_ = at;
    }
    if (response_.has_usage()) {
      outcome_.output_tokens = response_.usage().completion_tokens();
      outcome_.prompt_len = response_.usage().prompt_tokens();
    }
    finished_ = finished_ || response_.finished();
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    if (!status.ok()) {
      outcome_.error = GrpcError(status);
    } else if (!first_chunk_) {
      outcome_.error = "the stream carried no output";
    } else if (!finished_) {
      outcome_.error = "the stream ended without its final response";
    } else {
      outcome_.success = true;
      if (outcome_.output_tokens == 0) outcome_.output_tokens = token_count_;
    }
    outcome_.latency = SecondsBetween(sent_, last_chunk_);
    // Everything of this call is released before the backend hears it is finished: once the outcome is posted,
    // the benchmark may end and tear the backend and its io_context down.
    std::function<void(RequestOutcome)> on_done = std::move(on_done_);
    RequestOutcome outcome = std::move(outcome_);
    InFlightCalls& in_flight = in_flight_;
    delete this;
    on_done(std::move(outcome));
    on_done = nullptr;
    in_flight.Finished();
  }

 private:
  v1::Generation::Stub& stub_;
  grpc::ClientContext context_;
  v1::GenerateRequest request_;
  v1::GenerateResponse response_;
  std::function<void(RequestOutcome)> on_done_;
  InFlightCalls& in_flight_;
  RequestOutcome outcome_;
  BenchClock::time_point sent_, last_chunk_;
  bool first_chunk_ = false;
  bool finished_ = false;
  int token_count_ = 0;
};

}  // namespace

struct GrpcGenerateBackend::State {
  ~State() { in_flight.WaitIdle(); }

  GrpcBackendOptions options;
  std::unique_ptr<v1::Generation::Stub> stub;
  InFlightCalls in_flight;

  v1::GenerateRequest Request(const BenchRequest& r) const {
    v1::GenerateRequest request;
    request.set_request_id(r.request_id);
    request.set_model(r.model);
    if (r.prompt_token_ids.empty()) {
      request.set_text(r.prompt);
    } else {
      request.mutable_token_ids()->mutable_ids()->Assign(r.prompt_token_ids.begin(), r.prompt_token_ids.end());
    }
    v1::SamplingParameters& sampling = *request.mutable_sampling();
    sampling.set_max_tokens(r.output_len);
    const BenchSampling& s = options.sampling;
    if (s.ignore_eos) sampling.set_ignore_eos(true);
    if (s.temperature) sampling.set_temperature(static_cast<float>(*s.temperature));
    if (s.top_p) sampling.set_top_p(static_cast<float>(*s.top_p));
    if (s.top_k) sampling.set_top_k(*s.top_k);
    if (s.min_p) sampling.set_min_p(static_cast<float>(*s.min_p));
    if (s.frequency_penalty) sampling.set_frequency_penalty(static_cast<float>(*s.frequency_penalty));
    if (s.presence_penalty) sampling.set_presence_penalty(static_cast<float>(*s.presence_penalty));
    if (s.repetition_penalty) sampling.set_repetition_penalty(static_cast<float>(*s.repetition_penalty));
    return request;
  }
};

GrpcGenerateBackend::GrpcGenerateBackend(std::unique_ptr<State> state) : state_(std::move(state)) {}
GrpcGenerateBackend::~GrpcGenerateBackend() = default;

absl::StatusOr<std::unique_ptr<GrpcGenerateBackend>> GrpcGenerateBackend::Create(GrpcBackendOptions options) {
  if (options.target.empty()) return absl::InvalidArgumentError("--grpc-target HOST:PORT is required");
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(state->options.target, grpc::InsecureChannelCredentials(), args);
  state->stub = v1::Generation::NewStub(channel);
  return std::unique_ptr<GrpcGenerateBackend>(new GrpcGenerateBackend(std::move(state)));
}

std::string GrpcGenerateBackend::Describe() const {
  return CatMessage("tessera.v1.Generation/Generate at ", state_->options.target);
}

asio::awaitable<RequestOutcome> GrpcGenerateBackend::Send(const BenchRequest& request,
                                                          BenchClock::time_point run_start) {
  auto executor = co_await asio::this_coro::executor;
  State& s = *state_;
  auto initiation = [&s, &request, run_start, executor](auto handler) {
    // std::function needs a copyable callback; the completion handler is move-only.
    auto shared_handler = std::make_shared<decltype(handler)>(std::move(handler));
    auto* call = new GenerateCall(
        *s.stub, s.Request(request), request.prompt_len,
        [executor, shared_handler](RequestOutcome outcome) {
          asio::post(executor, [shared_handler, outcome = std::move(outcome)]() mutable {
            std::move (*shared_handler)(std::move(outcome));
          });
        },
        s.in_flight);
    call->Start(run_start, s.options.request_timeout_s);
  };
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(RequestOutcome)>(std::move(initiation),
                                                                                               asio::use_awaitable);
}

asio::awaitable<absl::StatusOr<std::string>> GrpcGenerateBackend::FirstModel() {
  grpc::ClientContext context;
  context.set_deadline(DeadlineAfter(std::min(state_->options.request_timeout_s, 60.0)));
  v1::ListModelsResponse response;
  const grpc::Status status = state_->stub->ListModels(&context, v1::ListModelsRequest(), &response);
  if (!status.ok()) {
    co_return absl::UnavailableError(
        CatMessage("listing the models at ", state_->options.target, ": ", GrpcError(status)));
  }
  if (response.models().empty()) {
    co_return absl::NotFoundError(CatMessage("the server at ", state_->options.target, " lists no model"));
  }
  co_return response.models(0).id();
}

}  // namespace tessera::cli
