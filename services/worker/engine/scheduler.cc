#include "services/worker/engine/scheduler.h"

#include <algorithm>

namespace tessera::engine {

Scheduler::Scheduler(const SchedulerConfig& config, BlockManager* block_manager)
    : config_(config), block_manager_(block_manager) {}

void Scheduler::Add(Request* request) {
  request->status = RequestStatus::kWaiting;
  Enqueue(request, /*preempted=*/false);
}

namespace {
bool RunsBefore(const Request* a, const Request* b) {
  return a->priority != b->priority ? a->priority < b->priority : a->arrival_order < b->arrival_order;
}
}  // namespace

void Scheduler::Enqueue(Request* request, bool preempted) {
  if (config_.policy == SchedulingPolicy::kFcfs) {
    // A preempted request was admitted before everything still waiting, so it goes back to the head.
    if (preempted) {
      waiting_.push_front(request);
    } else {
      waiting_.push_back(request);
    }
    return;
  }
  waiting_.insert(std::upper_bound(waiting_.begin(), waiting_.end(), request, RunsBefore), request);
}

Request* Scheduler::ChooseVictim() const {
  if (config_.policy == SchedulingPolicy::kFcfs) return running_.back();
  return *std::max_element(running_.begin(), running_.end(), RunsBefore);
}

void Scheduler::Preempt(Request* request) {
  block_manager_->Free(*request);
  request->num_computed_tokens = 0;
  request->status = RequestStatus::kWaiting;
  ++request->num_preemptions;
  Enqueue(request, /*preempted=*/true);
}

bool Scheduler::Admit(Request* request, int budget, SchedulerOutput& out) {
  const int cached = block_manager_->AttachCachedPrefix(*request);
  request->num_computed_tokens = cached;
  if (request->num_preemptions == 0) request->num_cached_tokens = cached;
  const int n = std::min(request->num_tokens() - request->num_computed_tokens, budget);
  if (!block_manager_->AllocateSlots(*request, request->num_computed_tokens + n)) {
    block_manager_->Free(*request);
    request->num_computed_tokens = 0;
    return false;
  }
  request->status = RequestStatus::kRunning;
  running_.push_back(request);
  out.chunks.push_back({request, n});
  out.total_tokens += n;
  return true;
}

SchedulerOutput Scheduler::Schedule() {
  SchedulerOutput out;
  int budget = config_.max_num_batched_tokens;

  // Running requests first: their decodes (and unfinished prompt chunks) keep their place.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Request* request = running_[i];
    const int remaining = request->num_tokens() - request->num_computed_tokens;
    const int n = std::min(remaining, budget);
    if (n <= 0) {
      ++i;
      continue;
    }
    bool preempted_self = false;
    while (!block_manager_->AllocateSlots(*request, request->num_computed_tokens + n)) {
      Request* victim = ChooseVictim();
      running_.erase(std::find(running_.begin(), running_.end(), victim));
      Preempt(victim);
      out.preempted.push_back(victim);
      // Preempted requests already scheduled this step give their tokens back.
      auto scheduled = std::find_if(out.chunks.begin(), out.chunks.end(),
                                    [victim](const ScheduledChunk& c) { return c.request == victim; });
      if (scheduled != out.chunks.end()) {
        budget += scheduled->num_tokens;
        out.total_tokens -= scheduled->num_tokens;
        out.chunks.erase(scheduled);
      }
      if (victim == request) {
        preempted_self = true;
        break;
      }
      // A victim earlier in the list shifts the current request down.
      i = static_cast<size_t>(std::find(running_.begin(), running_.end(), request) - running_.begin());
    }
    if (preempted_self) continue;  // running_[i] is now the next request (or the end)
    out.chunks.push_back({request, n});
    out.total_tokens += n;
    budget -= n;
    ++i;
  }

  // Then admit waiting requests in order while budget, sequence slots and blocks last. Nothing is admitted in a
  // step that had to preempt: the freed blocks belong to the requests already running.
  while (out.preempted.empty() && !waiting_.empty() && budget > 0 &&
         static_cast<int>(running_.size()) < config_.max_num_seqs) {
    Request* request = waiting_.front();
    const int before = out.total_tokens;
    if (!Admit(request, budget, out)) break;
    waiting_.pop_front();
    budget -= out.total_tokens - before;
  }
  return out;
}

void Scheduler::Finish(Request* request) {
  block_manager_->Free(*request);
  running_.erase(std::remove(running_.begin(), running_.end(), request), running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), request), waiting_.end());
  request->status = RequestStatus::kFinished;
}

}  // namespace tessera::engine
