#include "services/worker/registration_client.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace tessera::worker {

RegistrationClient::RegistrationClient(RegistrationOptions options, std::function<v1::LoadReport()> make_report)
    : options_(std::move(options)), make_report_(std::move(make_report)) {}

RegistrationClient::~RegistrationClient() { Stop(); }

void RegistrationClient::Log(const std::string& message) const {
  if (options_.log) options_.log(message);
}

void RegistrationClient::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void RegistrationClient::ReportNow() {
  std::lock_guard<std::mutex> lock(mutex_);
  report_now_ = true;
  wake_.notify_all();
}

void RegistrationClient::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (!thread_.joinable()) return;
  {
    // A stream blocked on an unresponsive router is cancelled if closing it politely takes too long.
    std::unique_lock<std::mutex> lock(mutex_);
    if (!wake_.wait_for(lock, std::chrono::seconds(2), [this] { return active_context_ == nullptr; })) {
      active_context_->TryCancel();
    }
  }
  thread_.join();
}

int RegistrationClient::reports_on_stream() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reports_on_stream_;
}

int RegistrationClient::RunStream(v1::Registry::Stub& stub) {
  grpc::ClientContext context;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return 0;
    active_context_ = &context;
    reports_on_stream_ = 0;
  }
  v1::RegisterResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::LoadReport>> writer = stub.Register(&context, &response);
  int written = 0;
  bool stopping = false;
  while (!stopping) {
    const v1::LoadReport report = make_report_();
    if (!writer->Write(report)) break;
    if (written++ == 0) Log(absl::StrCat("registered with the router at ", options_.router_address));
    std::unique_lock<std::mutex> lock(mutex_);
    reports_on_stream_ = written;
    wake_.wait_for(lock, options_.report_interval, [this] { return stopping_ || report_now_; });
    report_now_ = false;
    stopping = stopping_;
  }
  if (stopping) {
    // The final report carries the draining state; then the stream ends cleanly and the router forgets us.
    if (writer->Write(make_report_())) writer->WritesDone();
  }
  const grpc::Status status = writer->Finish();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    active_context_ = nullptr;
    reports_on_stream_ = 0;
    wake_.notify_all();
  }
  if (!stopping && written > 0) {
    Log(absl::StrCat("lost the registration with ", options_.router_address, " (", status.error_message(),
                     "); reconnecting"));
  }
  return written;
}

void RegistrationClient::Loop() {
  grpc::ChannelArguments args;
  // The loop below paces reconnects itself; gRPC's own backoff (up to two minutes) would only delay them.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  std::unique_ptr<v1::Registry::Stub> stub = v1::Registry::NewStub(
      grpc::CreateCustomChannel(options_.router_address, grpc::InsecureChannelCredentials(), args));
  std::chrono::milliseconds backoff = options_.initial_backoff;
  bool reported_failure = false;
  while (true) {
    const int written = RunStream(*stub);
    std::unique_lock<std::mutex> lock(mutex_);
    if (stopping_) return;
    if (written > 1) {
      backoff = options_.initial_backoff;  // the stream worked for a while: the router is back soon, most likely
      reported_failure = false;
    } else if (!reported_failure) {
      lock.unlock();
      Log(absl::StrCat("cannot register with the router at ", options_.router_address, "; retrying with backoff"));
      lock.lock();
      reported_failure = true;
    }
    wake_.wait_for(lock, backoff, [this] { return stopping_; });
    if (stopping_) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

}  // namespace tessera::worker
