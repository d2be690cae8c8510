// Helpers for the router's tests: a grpc.health.v1 Check through the generic stub (the health proto's generated
// client is not installed with gRPC), and a polling wait for conditions that other threads make true.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace tessera::router::testing {

enum class Health { kServing, kNotServing, kFailed };

// grpc.health.v1.Health/Check for the server as a whole (empty service name). The request is the empty message;
// the response's field 1 (varint) is 1 for SERVING and 2 for NOT_SERVING.
inline Health CheckHealth(const std::shared_ptr<grpc::Channel>& channel, std::string* error = nullptr) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  // A default ByteBuffer is not a message at all; the empty request must be one empty slice.
  grpc::Slice empty_slice;
  grpc::ByteBuffer request(&empty_slice, 1);
  grpc::ByteBuffer response;
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   std::lock_guard<std::mutex> lock(mutex);
                   status = std::move(s);
                   done = true;
                   done_cv.notify_all();
                 });
  std::unique_lock<std::mutex> lock(mutex);
  done_cv.wait(lock, [&] { return done; });
  if (!status.ok()) {
    if (error != nullptr) *error = status.error_message();
    return Health::kFailed;
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return Health::kFailed;
  std::string bytes;
  for (const grpc::Slice& slice : slices) bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  if (bytes.size() == 2 && bytes[0] == 0x08 && bytes[1] == 0x01) return Health::kServing;
  return Health::kNotServing;
}

// Polls `condition` every few milliseconds for up to `limit`; true once it holds.
inline bool Eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return condition();
}

}  // namespace tessera::router::testing
