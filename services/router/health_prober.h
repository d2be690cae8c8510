// Active health checks: every interval the prober asks each known worker for its load (WorkerControl.GetLoad,
// which also says whether it drains) with a bounded timeout, all workers in parallel, and records the answers and
// failures in the registry. Workers whose model cards are not known yet are also asked ListModels.
#pragma once

#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/router/worker_channels.h"
#include "services/router/worker_registry.h"

namespace tessera::router {

struct HealthProberOptions {
  absl::Duration interval = absl::Seconds(1);
  absl::Duration timeout = absl::Milliseconds(900);
};

class HealthProber {
 public:
  // `registry` and `channels` must outlive the prober.
  HealthProber(WorkerRegistry* registry, WorkerChannels* channels, HealthProberOptions options);
  ~HealthProber();  // Stop()

  // Probes in a background thread until Stop().
  void Start();
  void Stop();
  // One round over every worker; returns when each answered or timed out.
  void ProbeOnce();

 private:
  void Loop();

  WorkerRegistry* registry_;
  WorkerChannels* channels_;
  const HealthProberOptions options_;
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

}  // namespace tessera::router
