// The gateway's side of tessera.v1.Generation: every blocking gRPC call to the router (or a worker) runs on its own
// thread so that the HTTP IO threads never wait on the network, and every call in flight can be cancelled and
// awaited when the server stops.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/client_context.h"
#include "tessera/v1/generation.grpc.pb.h"

namespace tessera::gateway {

// One server-streaming Generate call. The reader thread queues responses and then the final status; `on_event`
// (called on that thread after each) tells the consumer to Drain().
class GenerateStream {
 public:
  struct Batch {
    std::vector<tessera::v1::GenerateResponse> responses;
    std::optional<grpc::Status> status;  // set once the call has ended
  };

  // Takes what has arrived since the last Drain.
  Batch Drain();
  // Ends the call (client gone, server stopping); the stream then finishes with CANCELLED.
  void Cancel() { context_.TryCancel(); }

 private:
  friend class BackendClient;
  void Push(tessera::v1::GenerateResponse response);
  void Finish(grpc::Status status);

  grpc::ClientContext context_;
  std::function<void()> on_event_;
  std::mutex mutex_;
  std::deque<tessera::v1::GenerateResponse> pending_;
  std::optional<grpc::Status> status_;
};

class BackendClient {
 public:
  BackendClient(std::shared_ptr<tessera::v1::Generation::StubInterface> stub, absl::Duration request_timeout);
  ~BackendClient();  // Shutdown()

  // Starts a Generate call whose deadline is the request timeout.
  std::shared_ptr<GenerateStream> StartGenerate(tessera::v1::GenerateRequest request, std::function<void()> on_event);

  // Runs a blocking job (a unary call through stub(), which must set a deadline) on a tracked thread, so that
  // Shutdown() waits for it.
  void RunTracked(std::function<void()> job);

  tessera::v1::Generation::StubInterface& stub() { return *stub_; }

  // Cancels every Generate in flight and waits until all tracked threads have ended.
  void Shutdown();

 private:
  void ThreadStarted();
  void ThreadEnded();

  std::shared_ptr<tessera::v1::Generation::StubInterface> stub_;
  absl::Duration request_timeout_;
  std::mutex mutex_;
  std::condition_variable idle_;
  int running_threads_ = 0;
  bool shut_down_ = false;
  std::set<std::shared_ptr<GenerateStream>> streams_;
};

}  // namespace tessera::gateway
