#include "services/router/admission_queue.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"

namespace tessera::router {

AdmissionQueue::AdmissionQueue(WorkerRegistry* registry, RoutingPolicy* policy, AdmissionOptions options)
    : registry_(registry), policy_(policy), options_(options) {}

int AdmissionQueue::queued() const {
  absl::MutexLock lock(&mutex_);
  return queued_;
}

bool AdmissionQueue::IsHead(const std::string& model, uint64_t ticket) const {
  absl::MutexLock lock(&mutex_);
  auto it = waiting_.find(model);
  return it != waiting_.end() && !it->second.empty() && it->second.front() == ticket;
}

void AdmissionQueue::Leave(const std::string& model, uint64_t ticket) {
  {
    absl::MutexLock lock(&mutex_);
    auto it = waiting_.find(model);
    if (it != waiting_.end()) {
      std::deque<uint64_t>& line = it->second;
      line.erase(std::remove(line.begin(), line.end(), ticket), line.end());
      if (line.empty()) waiting_.erase(it);
    }
    --queued_;
  }
  registry_->NotifyChange();
}

absl::StatusOr<AdmissionQueue::Admitted> AdmissionQueue::Admit(const std::string& model,
                                                               const RoutingRequest& request,
                                                               const absl::flat_hash_set<std::string>& excluded,
                                                               absl::Time deadline,
                                                               const std::function<bool()>& cancelled) {
  std::optional<uint64_t> ticket;
  {
    // Someone of this model already waiting goes first: a newcomer joins the line instead of taking a slot that
    // was freed for the head.
    absl::MutexLock lock(&mutex_);
    auto it = waiting_.find(model);
    if (it != waiting_.end() && !it->second.empty()) {
      if (queued_ >= options_.max_queued_requests) {
        return absl::ResourceExhaustedError(absl::StrCat("the router's queue is full (", options_.max_queued_requests,
                                                         " requests waiting for a worker); retry later"));
      }
      ticket = next_ticket_++;
      it->second.push_back(*ticket);
      ++queued_;
    }
  }
  while (true) {
    const uint64_t seen = registry_->version();
    if (!ticket || IsHead(model, *ticket)) {
      absl::StatusOr<WorkerRegistry::Acquired> acquired = registry_->TryAcquire(model, request, *policy_, excluded);
      if (acquired.ok()) {
        if (ticket) Leave(model, *ticket);
        return Admitted{std::move(acquired->lease), acquired->outcome, ticket.has_value()};
      }
      if (!absl::IsResourceExhausted(acquired.status())) {
        if (ticket) Leave(model, *ticket);
        return acquired.status();
      }
      if (!ticket) {
        absl::MutexLock lock(&mutex_);
        if (queued_ >= options_.max_queued_requests) {
          return absl::ResourceExhaustedError(
              absl::StrCat("every worker of model '", model, "' is at its in-flight cap and the router's queue is full",
                       " (", options_.max_queued_requests, " requests waiting); retry later"));
        }
        ticket = next_ticket_++;
        waiting_[model].push_back(*ticket);
        ++queued_;
      }
    }
    if (cancelled && cancelled()) {
      Leave(model, *ticket);
      return absl::CancelledError("the client cancelled the request while it waited for a worker");
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) {
      Leave(model, *ticket);
      return absl::DeadlineExceededError("the request's deadline passed while it waited for a worker");
    }
    registry_->WaitForChange(seen, std::min(deadline, now + options_.cancel_poll_interval));
  }
}

}  // namespace tessera::router
