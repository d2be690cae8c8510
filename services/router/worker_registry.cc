#include "services/router/worker_registry.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tessera::router {

std::string_view WorkerHealthName(WorkerHealth health) {
  switch (health) {
    case WorkerHealth::kUnknown:
      return "unknown";
    case WorkerHealth::kHealthy:
      return "healthy";
    case WorkerHealth::kUnhealthy:
      return "unhealthy";
    case WorkerHealth::kDraining:
      return "draining";
  }
  return "unknown";
}

WorkerLease::WorkerLease(WorkerLease&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)), address_(std::move(other.address_)) {}

WorkerLease& WorkerLease::operator=(WorkerLease&& other) noexcept {
  if (this != &other) {
    Release();
    registry_ = std::exchange(other.registry_, nullptr);
    address_ = std::move(other.address_);
  }
  return *this;
}

void WorkerLease::Release() {
  if (registry_ != nullptr) std::exchange(registry_, nullptr)->Release(address_);
}

WorkerRegistry::WorkerRegistry(WorkerRegistryOptions options) : options_(std::move(options)) {}

void WorkerRegistry::Bump() {
  ++version_;
  changed_.SignalAll();
}

void WorkerRegistry::SetHealth(const std::string& address, Worker& worker, WorkerHealth health,
                               std::string_view reason) {
  if (worker.health == health) return;
  worker.health = health;
  if (options_.on_health_change) options_.on_health_change(address, health, reason);
  Bump();
}

void WorkerRegistry::EraseIfUnreferenced(std::map<std::string, Worker>::iterator it) {
  const Worker& worker = it->second;
  if (worker.is_static || worker.is_discovered || worker.registrations > 0) return;
  if (options_.on_health_change) options_.on_health_change(it->first, WorkerHealth::kUnknown, "removed");
  workers_.erase(it);
  Bump();
}

void WorkerRegistry::AddWorker(const std::string& address, WorkerSource source) {
  absl::MutexLock lock(&mutex_);
  Worker& worker = workers_[address];
  switch (source) {
    case WorkerSource::kStatic:
      worker.is_static = true;
      break;
    case WorkerSource::kDiscovered:
      worker.is_discovered = true;
      break;
    case WorkerSource::kRegistered:
      ++worker.registrations;
      break;
  }
  Bump();
}

void WorkerRegistry::RemoveWorker(const std::string& address, WorkerSource source) {
  absl::MutexLock lock(&mutex_);
  auto it = workers_.find(address);
  if (it == workers_.end()) return;
  switch (source) {
    case WorkerSource::kStatic:
      it->second.is_static = false;
      break;
    case WorkerSource::kDiscovered:
      it->second.is_discovered = false;
      break;
    case WorkerSource::kRegistered:
      if (it->second.registrations > 0) --it->second.registrations;
      break;
  }
  EraseIfUnreferenced(it);
}

void WorkerRegistry::SetDiscoveredWorkers(const std::vector<std::string>& addresses) {
  absl::MutexLock lock(&mutex_);
  const std::set<std::string> wanted(addresses.begin(), addresses.end());
  for (auto it = workers_.begin(); it != workers_.end();) {
    auto next = std::next(it);
    if (it->second.is_discovered && !wanted.contains(it->first)) {
      it->second.is_discovered = false;
      EraseIfUnreferenced(it);
    }
    it = next;
  }
  for (const std::string& address : wanted) {
    Worker& worker = workers_[address];
    if (!worker.is_discovered) {
      worker.is_discovered = true;
      Bump();
    }
  }
}

void WorkerRegistry::RecordLoadReport(const std::string& address, const v1::LoadReport& report) {
  absl::MutexLock lock(&mutex_);
  auto it = workers_.find(address);
  if (it == workers_.end()) return;
  Worker& worker = it->second;
  const bool model_changed = worker.report && worker.report->model() != report.model();
  if (model_changed) worker.cards.clear();  // a new process on the same address may serve another model
  const int old_cap = MaxInFlight(worker);
  worker.report = report;
  worker.consecutive_failures = 0;
  worker.last_error.clear();
  SetHealth(address, worker, report.draining() ? WorkerHealth::kDraining : WorkerHealth::kHealthy,
            report.draining() ? "reports draining" : "answers");
  if (model_changed || MaxInFlight(worker) != old_cap) Bump();
}

void WorkerRegistry::RecordFailure(const std::string& address, std::string_view error) {
  absl::MutexLock lock(&mutex_);
  auto it = workers_.find(address);
  if (it == workers_.end()) return;
  Worker& worker = it->second;
  ++worker.consecutive_failures;
  worker.last_error = std::string(error);
  if (worker.consecutive_failures >= options_.unhealthy_after_failures && worker.health != WorkerHealth::kUnhealthy) {
    // Its cards may be stale once it comes back (a restart may load another model).
    worker.cards.clear();
    SetHealth(address, worker, WorkerHealth::kUnhealthy,
              absl::StrCat(worker.consecutive_failures, " failures in a row, last: ", worker.last_error));
  }
}

void WorkerRegistry::RecordModelCards(const std::string& address, std::vector<v1::ModelCard> cards) {
  absl::MutexLock lock(&mutex_);
  auto it = workers_.find(address);
  if (it == workers_.end()) return;
  it->second.cards = std::move(cards);
}

int WorkerRegistry::MaxInFlight(const Worker& worker) const {
  if (options_.max_in_flight_per_worker > 0) return options_.max_in_flight_per_worker;
  if (worker.report && worker.report->max_num_seqs() > 0) return worker.report->max_num_seqs();
  return 0;
}

std::vector<WorkerStatus> WorkerRegistry::Snapshot() const {
  absl::MutexLock lock(&mutex_);
  std::vector<WorkerStatus> out;
  out.reserve(workers_.size());
  for (const auto& [address, worker] : workers_) {
    WorkerStatus& status = out.emplace_back();
    status.address = address;
    if (worker.report) {
      status.model = worker.report->model();
      status.last_report = *worker.report;
    }
    status.health = worker.health;
    status.in_flight = worker.in_flight;
    status.max_in_flight = MaxInFlight(worker);
    status.consecutive_failures = worker.consecutive_failures;
    status.last_error = worker.last_error;
    status.has_model_cards = !worker.cards.empty();
  }
  return out;
}

std::vector<std::string> WorkerRegistry::Addresses() const {
  absl::MutexLock lock(&mutex_);
  std::vector<std::string> out;
  out.reserve(workers_.size());
  for (const auto& entry : workers_) out.push_back(entry.first);
  return out;
}

int WorkerRegistry::NumHealthy() const {
  absl::MutexLock lock(&mutex_);
  int healthy = 0;
  for (const auto& entry : workers_) healthy += entry.second.health == WorkerHealth::kHealthy ? 1 : 0;
  return healthy;
}

std::vector<v1::ModelCard> WorkerRegistry::Models() const {
  absl::MutexLock lock(&mutex_);
  std::map<std::string, v1::ModelCard> by_id;
  for (const auto& [address, worker] : workers_) {
    if (worker.health != WorkerHealth::kHealthy || !worker.report) continue;
    for (const v1::ModelCard& card : worker.cards) by_id.try_emplace(card.id(), card);
    if (worker.cards.empty() && !by_id.contains(worker.report->model())) {
      v1::ModelCard card;
      card.set_id(worker.report->model());
      card.set_owned_by("tessera");
      by_id.emplace(card.id(), card);
    }
  }
  std::vector<v1::ModelCard> out;
  out.reserve(by_id.size());
  for (auto& entry : by_id) out.push_back(std::move(entry.second));
  return out;
}

absl::StatusOr<std::string> WorkerRegistry::ResolveModel(const std::string& model) const {
  if (!model.empty()) return model;
  absl::MutexLock lock(&mutex_);
  std::set<std::string> models;
  for (const auto& entry : workers_) {
    if (entry.second.report) models.insert(entry.second.report->model());
  }
  if (models.size() == 1) return *models.begin();
  if (models.empty()) return absl::UnavailableError("no worker has reported yet, so no model is known");
  return absl::InvalidArgumentError(
      absl::StrCat("the request names no model and this router serves several: ", absl::StrJoin(models, ", ")));
}

absl::StatusOr<WorkerRegistry::Acquired> WorkerRegistry::TryAcquire(const std::string& model,
                                                                    const RoutingRequest& request,
                                                                    RoutingPolicy& policy,
                                                                    const absl::flat_hash_set<std::string>& excluded) {
  absl::MutexLock lock(&mutex_);
  std::vector<RoutingCandidate> candidates;
  bool known = false;
  bool any_available = false;
  std::vector<std::string> not_healthy;
  for (const auto& [address, worker] : workers_) {
    if (!worker.report || worker.report->model() != model) continue;
    known = true;
    if (worker.health != WorkerHealth::kHealthy) {
      not_healthy.push_back(absl::StrCat(address, " (", std::string(WorkerHealthName(worker.health)),
                                         worker.last_error.empty() ? "" : ": ", worker.last_error, ")"));
      continue;
    }
    RoutingCandidate& candidate = candidates.emplace_back();
    candidate.address = address;
    candidate.load.in_flight = worker.in_flight;
    candidate.load.num_running = worker.report->num_running();
    candidate.load.num_waiting = worker.report->num_waiting();
    candidate.load.kv_cache_usage = worker.report->kv_cache_usage();
    const int cap = MaxInFlight(worker);
    candidate.available = !excluded.contains(address) && (cap == 0 || worker.in_flight < cap);
    any_available = any_available || candidate.available;
  }
  if (!known) {
    std::set<std::string> served;
    int silent = 0;
    for (const auto& entry : workers_) {
      if (entry.second.report) {
        served.insert(entry.second.report->model());
      } else {
        ++silent;
      }
    }
    if (silent > 0) {
      // A worker that has not answered yet may serve it (the router just started, or the worker is restarting).
      return absl::UnavailableError(absl::StrCat("no worker is known to serve model '", model, "' yet; ", silent,
                                                 " worker(s) have not answered"));
    }
    return absl::NotFoundError(absl::StrCat("model '", model, "' is not served by any worker",
                                            served.empty() ? "" : "; served: ", absl::StrJoin(served, ", ")));
  }
  if (candidates.empty()) {
    return absl::UnavailableError(absl::StrCat("no healthy worker serves model '", model,
                                               "': ", absl::StrJoin(not_healthy, ", ")));
  }
  if (!any_available) {
    bool all_excluded = true;
    for (const RoutingCandidate& candidate : candidates) {
      all_excluded = all_excluded && excluded.contains(candidate.address);
    }
    if (all_excluded) {
      return absl::UnavailableError(
          absl::StrCat("every healthy worker of model '", model, "' failed this request"));
    }
    return absl::ResourceExhaustedError(
        absl::StrCat("every healthy worker of model '", model, "' is at its in-flight cap"));
  }
  const RoutingDecision decision = policy.Choose(request, candidates);
  const std::string& address = candidates[decision.index].address;
  ++workers_[address].in_flight;
  return Acquired{WorkerLease(this, address), decision.outcome};
}

absl::StatusOr<std::string> WorkerRegistry::PickAny(const std::string& model,
                                                    const absl::flat_hash_set<std::string>& excluded) {
  absl::MutexLock lock(&mutex_);
  std::vector<std::string> healthy;
  bool known = false;
  for (const auto& [address, worker] : workers_) {
    if (!worker.report || worker.report->model() != model) continue;
    known = true;
    if (worker.health == WorkerHealth::kHealthy && !excluded.contains(address)) healthy.push_back(address);
  }
  if (!known) return absl::NotFoundError(absl::StrCat("model '", model, "' is not served by any worker"));
  if (healthy.empty()) return absl::UnavailableError(absl::StrCat("no healthy worker serves model '", model, "'"));
  return healthy[pick_rotation_++ % healthy.size()];
}

void WorkerRegistry::Release(const std::string& address) {
  absl::MutexLock lock(&mutex_);
  auto it = workers_.find(address);
  // A worker removed (and maybe re-added) while the request ran starts again from zero; never go below it.
  if (it != workers_.end() && it->second.in_flight > 0) --it->second.in_flight;
  Bump();
}

uint64_t WorkerRegistry::version() const {
  absl::MutexLock lock(&mutex_);
  return version_;
}

void WorkerRegistry::WaitForChange(uint64_t seen, absl::Time deadline) const {
  absl::MutexLock lock(&mutex_);
  while (version_ == seen) {
    if (changed_.WaitWithDeadline(&mutex_, deadline)) return;
  }
}

void WorkerRegistry::NotifyChange() {
  absl::MutexLock lock(&mutex_);
  Bump();
}

}  // namespace tessera::router
