// Admission control in front of the workers: a request takes a slot on a worker at once when one is free; when every
// healthy worker of its model is at its in-flight cap it waits, first come first served per model, in a queue of
// bounded length. A request that finds the queue full is refused at once with ResourceExhausted, so that overload
// is shed at the router instead of piling up in the workers.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/router/routing_policy.h"
#include "services/router/worker_registry.h"

namespace tessera::router {

struct AdmissionOptions {
  int max_queued_requests = 256;  // requests waiting for a slot, over all models; 0 refuses whenever all are busy
  // How often a waiting request checks whether its caller gave up.
  absl::Duration cancel_poll_interval = absl::Milliseconds(50);
};

class AdmissionQueue {
 public:
  // `registry` and `policy` must outlive the queue.
  AdmissionQueue(WorkerRegistry* registry, RoutingPolicy* policy, AdmissionOptions options);

  struct Admitted {
    WorkerLease lease;
    std::string_view outcome;  // the routing decision's outcome
    bool waited = false;       // the request queued before it got its slot
  };
  // Errors: NotFound and Unavailable from the registry (unknown model, no healthy worker), ResourceExhausted (the
  // queue is full), DeadlineExceeded (`deadline` passed while queued), Cancelled (`cancelled` returned true).
  absl::StatusOr<Admitted> Admit(const std::string& model, const RoutingRequest& request,
                                 const absl::flat_hash_set<std::string>& excluded, absl::Time deadline,
                                 const std::function<bool()>& cancelled);

  int queued() const;
  int max_queued() const { return options_.max_queued_requests; }

 private:
  // Leaves the queue; wakes the others so that the next in line tries.
  void Leave(const std::string& model, uint64_t ticket);
  bool IsHead(const std::string& model, uint64_t ticket) const;

  WorkerRegistry* registry_;
  RoutingPolicy* policy_;
  const AdmissionOptions options_;
  mutable absl::Mutex mutex_;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mutex_) = 0;
  int queued_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<std::string, std::deque<uint64_t>> waiting_ ABSL_GUARDED_BY(mutex_);  // per model, oldest first
};

}  // namespace tessera::router
