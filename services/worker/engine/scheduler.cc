#include "services/worker/engine/scheduler.h"

#include <algorithm>

namespace tessera::engine {

Scheduler::Scheduler(const SchedulerConfig& config, BlockManager* block_manager)
    : config_(config), block_manager_(block_manager) {}

void Scheduler::Add(Request* request) {
  request->status = RequestStatus::kWaiting;
  waiting_.push_back(request);
}

void Scheduler::Preempt(Request* request) {
  block_manager_->Free(*request);
  request->num_computed_tokens = 0;
  request->status = RequestStatus::kWaiting;
  ++request->num_preemptions;
  waiting_.push_front(request);
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
      Request* victim = running_.back();
      running_.pop_back();
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
    const int n = std::min(request->num_tokens() - request->num_computed_tokens, budget);
    if (!block_manager_->AllocateSlots(*request, request->num_computed_tokens + n)) break;
    waiting_.pop_front();
    request->status = RequestStatus::kRunning;
    running_.push_back(request);
    out.chunks.push_back({request, n});
    out.total_tokens += n;
    budget -= n;
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
