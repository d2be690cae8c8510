#include "services/gateway/backend_client.h"

#include <chrono>
#include <thread>

namespace tessera::gateway {

GenerateStream::Batch GenerateStream::Drain() {
  std::lock_guard<std::mutex> lock(mutex_);
  Batch batch;
  batch.responses.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
  pending_.clear();
  batch.status = status_;
  return batch;
}

void GenerateStream::Push(tessera::v1::GenerateResponse response) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(response));
  }
  on_event_();
}

void GenerateStream::Finish(grpc::Status status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = std::move(status);
  }
  on_event_();
}

BackendClient::BackendClient(std::shared_ptr<tessera::v1::Generation::StubInterface> stub,
                             absl::Duration request_timeout)
    : stub_(std::move(stub)), request_timeout_(request_timeout) {}

BackendClient::~BackendClient() { Shutdown(); }

void BackendClient::ThreadStarted() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++running_threads_;
}

void BackendClient::ThreadEnded() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--running_threads_ == 0) idle_.notify_all();
}

std::shared_ptr<GenerateStream> BackendClient::StartGenerate(tessera::v1::GenerateRequest request,
                                                             std::function<void()> on_event) {
  auto stream = std::make_shared<GenerateStream>();
  stream->on_event_ = std::move(on_event);
  stream->context_.set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(request_timeout_));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shut_down_) {
      stream->status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the gateway is shutting down");
      return stream;
    }
    streams_.insert(stream);
    ++running_threads_;
  }
  std::thread([this, stream, request = std::move(request)]() {
    std::unique_ptr<grpc::ClientReaderInterface<tessera::v1::GenerateResponse>> reader =
        stub_->Generate(&stream->context_, request);
    tessera::v1::GenerateResponse response;
    while (reader->Read(&response)) {
      stream->Push(std::move(response));
      response.Clear();
    }
    grpc::Status status = reader->Finish();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      streams_.erase(stream);
    }
    stream->Finish(std::move(status));
    ThreadEnded();
  }).detach();
  return stream;
}

void BackendClient::RunTracked(std::function<void()> job) {
  ThreadStarted();
  std::thread([this, job = std::move(job)]() {
    job();
    ThreadEnded();
  }).detach();
}

void BackendClient::Shutdown() {
  std::unique_lock<std::mutex> lock(mutex_);
  shut_down_ = true;
  for (const std::shared_ptr<GenerateStream>& stream : streams_) stream->Cancel();
  idle_.wait(lock, [this] { return running_threads_ == 0; });
}

}  // namespace tessera::gateway
