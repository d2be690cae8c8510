// Decides, once per engine step, which requests run and how many of their tokens: a flat varlen batch under a
// token budget and a sequence cap, where prompt chunks and single-token decodes share the step (vLLM v1 style).
// First come, first served (or by request priority); when the KV cache runs out the most recently admitted (or
// least important) running request is preempted, its blocks freed, and it is recomputed later. Waiting requests
// start from the longest prefix the KV cache still holds.
#pragma once

#include <deque>
#include <vector>

#include "services/worker/engine/kv_cache/block_manager.h"
#include "services/worker/engine/request.h"

namespace tessera::engine {

enum class SchedulingPolicy { kFcfs, kPriority };

struct SchedulerConfig {
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  SchedulingPolicy policy = SchedulingPolicy::kFcfs;
};

struct ScheduledChunk {
  Request* request;
  int num_tokens;  // tokens computed this step, starting at request->num_computed_tokens
};

struct SchedulerOutput {
  std::vector<ScheduledChunk> chunks;
  std::vector<Request*> preempted;
  int total_tokens = 0;
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(const SchedulerConfig& config, BlockManager* block_manager);

  void Add(Request* request);
  SchedulerOutput Schedule();
  // Removes a finished or aborted request and frees its blocks.
  void Finish(Request* request);

  int num_waiting() const { return static_cast<int>(waiting_.size()); }
  int num_running() const { return static_cast<int>(running_.size()); }
  bool HasWork() const { return !waiting_.empty() || !running_.empty(); }

 private:
  void Preempt(Request* request);
  // Puts a request into the waiting queue at the place the policy gives it.
  void Enqueue(Request* request, bool preempted);
  // The running request to give up when blocks run out.
  Request* ChooseVictim() const;
  // Admits the head of the waiting queue with up to `budget` tokens; false when its blocks do not fit.
  bool Admit(Request* request, int budget, SchedulerOutput& out);

  SchedulerConfig config_;
  BlockManager* block_manager_;
  std::deque<Request*> waiting_;
  std::vector<Request*> running_;  // in admission order
};

}  // namespace tessera::engine
