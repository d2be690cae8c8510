// The worker's side of tessera.v1.Registry: with --register-with HOST:PORT the worker opens Register on the router,
// sends a LoadReport at once (which registers it) and then one per interval on the same stream. When the stream
// breaks (the router restarted or is unreachable) it reconnects with exponential backoff; Stop() sends a last report
// and closes the stream, which tells the router the worker left.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "grpcpp/client_context.h"
#include "tessera/v1/worker.grpc.pb.h"

namespace tessera::worker {

struct RegistrationOptions {
  std::string router_address;  // host:port of the router
  std::chrono::milliseconds report_interval{1000};
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{8000};
  // Where to say that the registration was made, lost or given up (stderr in tessera-worker); may be empty.
  std::function<void(const std::string& message)> log;
};

class RegistrationClient {
 public:
  // `make_report` builds the current report (WorkerControlService::MakeLoadReport, the same one GetLoad answers);
  // it is called from the client's thread.
  RegistrationClient(RegistrationOptions options, std::function<v1::LoadReport()> make_report);
  ~RegistrationClient();  // Stop()
  RegistrationClient(const RegistrationClient&) = delete;
  RegistrationClient& operator=(const RegistrationClient&) = delete;

  void Start();
  // Sends a report now instead of at the next interval (after Drain, so the router stops routing here at once).
  void ReportNow();
  // Sends a final report, closes the stream and joins the thread. Idempotent.
  void Stop();
  // Reports written on the current stream (0 while disconnected); for tests and logs.
  int reports_on_stream() const;

 private:
  void Loop();
  // Runs one Register stream until it breaks or Stop(); returns the number of reports written.
  int RunStream(v1::Registry::Stub& stub);
  void Log(const std::string& message) const;

  const RegistrationOptions options_;
  const std::function<v1::LoadReport()> make_report_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool report_now_ = false;
  int reports_on_stream_ = 0;
  grpc::ClientContext* active_context_ = nullptr;  // the stream in progress, cancelled by Stop() if it hangs
  std::thread thread_;
};

}  // namespace tessera::worker
