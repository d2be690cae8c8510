// DNS discovery of workers, for a Kubernetes headless Service: every A record of NAME is a worker listening on
// PORT. The name is resolved again periodically, so that pods that start or stop join or leave the registry.
#pragma once

#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/router/worker_registry.h"

namespace tessera::router {

struct DnsTarget {
  std::string name;
  int port = 0;
};

// "NAME:PORT" as given to --discover-dns.
absl::StatusOr<DnsTarget> ParseDnsTarget(std::string_view text);

// The worker addresses ("ip:port", sorted, distinct) of the name's A records. A name that does not exist or has no
// A record gives an empty list (a headless Service without ready pods); other failures (no DNS server answering)
// are Unavailable, so that a transient outage does not empty the registry.
absl::StatusOr<std::vector<std::string>> ResolveWorkers(const DnsTarget& target);

class DnsDiscovery {
 public:
  // `registry` must outlive the discovery.
  DnsDiscovery(WorkerRegistry* registry, DnsTarget target, absl::Duration refresh_interval);
  ~DnsDiscovery();  // Stop()

  // Resolves once now and updates the registry (keeping it as it was when resolution fails).
  absl::Status RefreshOnce();
  // Refreshes in a background thread until Stop().
  void Start();
  void Stop();

 private:
  void Loop();

  WorkerRegistry* registry_;
  const DnsTarget target_;
  const absl::Duration refresh_interval_;
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

}  // namespace tessera::router
