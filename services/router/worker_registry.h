// The router's view of its workers: who they are (static --workers, DNS discovery, registration streams), which
// model each serves, whether each is healthy (failures in a row mark it unhealthy, the next answer brings it back,
// a draining worker takes nothing new), its last load report, and how many requests the router has in flight there.
// Routing takes a slot on a worker through TryAcquire and gives it back when the WorkerLease ends; waiters block in
// WaitForChange until membership, health or a slot changes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/router/routing_policy.h"
#include "tessera/v1/generation.pb.h"
#include "tessera/v1/worker.pb.h"

namespace tessera::router {

enum class WorkerSource { kStatic, kDiscovered, kRegistered };

enum class WorkerHealth {
  kUnknown,    // not answered yet
  kHealthy,    // answered the last probe or report
  kUnhealthy,  // failed `unhealthy_after_failures` probes in a row
  kDraining,   // answers, but reported draining: finishes its requests, takes no new ones
};
std::string_view WorkerHealthName(WorkerHealth health);

struct WorkerStatus {
  std::string address;
  std::string model;  // empty until the first report
  WorkerHealth health = WorkerHealth::kUnknown;
  int in_flight = 0;
  int max_in_flight = 0;  // 0: no cap
  int consecutive_failures = 0;
  std::string last_error;
  v1::LoadReport last_report;
  bool has_model_cards = false;
};

struct WorkerRegistryOptions {
  int unhealthy_after_failures = 2;
  // Requests the router keeps in flight per worker; 0 takes the worker's max_num_seqs from its load report (no cap
  // while that is unknown).
  int max_in_flight_per_worker = 0;
  // Told of every health transition (for the log); runs under the registry's lock, so it must not call back.
  std::function<void(const std::string& address, WorkerHealth health, std::string_view reason)> on_health_change;
};

class WorkerRegistry;

// A slot on one worker, taken by TryAcquire; the slot is given back when the lease is destroyed or released.
class WorkerLease {
 public:
  WorkerLease() = default;
  WorkerLease(WorkerLease&& other) noexcept;
  WorkerLease& operator=(WorkerLease&& other) noexcept;
  WorkerLease(const WorkerLease&) = delete;
  WorkerLease& operator=(const WorkerLease&) = delete;
  ~WorkerLease() { Release(); }

  const std::string& address() const { return address_; }
  void Release();

 private:
  friend class WorkerRegistry;
  WorkerLease(WorkerRegistry* registry, std::string address) : registry_(registry), address_(std::move(address)) {}

  WorkerRegistry* registry_ = nullptr;
  std::string address_;
};

class WorkerRegistry {
 public:
  explicit WorkerRegistry(WorkerRegistryOptions options = {});
  WorkerRegistry(const WorkerRegistry&) = delete;
  WorkerRegistry& operator=(const WorkerRegistry&) = delete;

  // Membership: a worker stays while any source names it. Registrations are counted, since a worker that
  // reconnects may open its new stream before the router sees the old one end.
  void AddWorker(const std::string& address, WorkerSource source);
  void RemoveWorker(const std::string& address, WorkerSource source);
  // Makes `addresses` the discovered set: new ones join, discovered ones no longer listed leave.
  void SetDiscoveredWorkers(const std::vector<std::string>& addresses);

  // A probe answered or a registered worker reported: the worker is healthy (or draining) again. Ignored for
  // addresses not in the registry.
  void RecordLoadReport(const std::string& address, const v1::LoadReport& report);
  // A probe failed, or a call to the worker failed to connect.
  void RecordFailure(const std::string& address, std::string_view error);
  void RecordModelCards(const std::string& address, std::vector<v1::ModelCard> cards);

  std::vector<WorkerStatus> Snapshot() const;  // ordered by address
  std::vector<std::string> Addresses() const;
  int NumHealthy() const;
  // The models of healthy workers, one card per id (a worker's own card once it was fetched, else a minimal one).
  std::vector<v1::ModelCard> Models() const;
  // The model a request means: `model` itself, or for an empty one the only model any worker serves.
  absl::StatusOr<std::string> ResolveModel(const std::string& model) const;

  struct Acquired {
    WorkerLease lease;
    std::string_view outcome;  // the policy's decision outcome
  };
  // Takes a slot on the worker `policy` picks among the model's healthy workers, skipping `excluded`. Errors:
  // NotFound (no worker serves the model and every worker has answered), Unavailable (none of them healthy, all
  // healthy ones excluded, or workers that may serve it have not answered yet),
  // ResourceExhausted (every candidate is at its in-flight cap: the caller may wait for a change and retry).
  absl::StatusOr<Acquired> TryAcquire(const std::string& model, const RoutingRequest& request, RoutingPolicy& policy,
                                      const absl::flat_hash_set<std::string>& excluded);
  // A healthy worker of the model for calls that take no slot (Tokenize, Detokenize), rotating among them.
  absl::StatusOr<std::string> PickAny(const std::string& model, const absl::flat_hash_set<std::string>& excluded);

  // Bumped by every change that might let a waiter proceed.
  uint64_t version() const;
  // Returns when version() moved past `seen` or at `deadline`.
  void WaitForChange(uint64_t seen, absl::Time deadline) const;
  // Wakes waiters (the admission queue calls it when its head leaves).
  void NotifyChange();

 private:
  friend class WorkerLease;
  struct Worker {
    bool is_static = false;
    bool is_discovered = false;
    int registrations = 0;
    WorkerHealth health = WorkerHealth::kUnknown;
    int in_flight = 0;
    int consecutive_failures = 0;
    std::string last_error;
    std::optional<v1::LoadReport> report;
    std::vector<v1::ModelCard> cards;
  };

  void Release(const std::string& address);
  int MaxInFlight(const Worker& worker) const;
  void SetHealth(const std::string& address, Worker& worker, WorkerHealth health, std::string_view reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void Bump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void EraseIfUnreferenced(std::map<std::string, Worker>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const WorkerRegistryOptions options_;
  mutable absl::Mutex mutex_;
  mutable absl::CondVar changed_;
  uint64_t version_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t pick_rotation_ ABSL_GUARDED_BY(mutex_) = 0;
  std::map<std::string, Worker> workers_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace tessera::router
