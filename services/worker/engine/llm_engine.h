// The engine loop: owns the model, backend, KV cache, scheduler and requests, and advances every running request
// by one scheduled step per Step() call. Single-threaded; services drive it from one engine thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/generation_config.h"
#include "common/model_config.h"
#include "kernels/ops.h"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/kv_cache/block_manager.h"
#include "services/worker/engine/model_runner.h"
#include "services/worker/engine/models/llama.h"
#include "services/worker/engine/request_output.h"
#include "services/worker/engine/sampler.h"
#include "services/worker/engine/scheduler.h"

namespace tessera::engine {

// Facts about a loaded engine that operators want in logs and metrics.
struct EngineInfo {
  std::string backend;
  std::string weight_dtype;
  size_t weight_bytes = 0;
  int num_kv_blocks = 0;
  int block_size = 0;
  int64_t kv_capacity_tokens = 0;
  size_t kv_cache_bytes = 0;
  int max_model_len = 0;
  // The GPU memory plan (all zero on the CPU): device memory, the fraction this engine fills, and the device memory
  // the largest possible step took beyond the weights (measured by running it once at start-up).
  size_t device_memory_bytes = 0;
  double gpu_memory_utilization = 0.0;
  size_t activation_peak_bytes = 0;
};

// The tensor-parallel group an engine is one rank of, as the worker's rendezvous set it up.
struct TensorParallelGroup {
  parallel::TcpGroup* links = nullptr;  // host links to the other ranks; must outlive the engine
  std::string nccl_unique_id;           // GPU ranks join this NCCL group
};

class LLMEngine {
 public:
  // `group` is null for a model held whole by this process.
  static absl::StatusOr<std::unique_ptr<LLMEngine>> Create(const EngineConfig& config,
                                                           const TensorParallelGroup* group = nullptr);
  ~LLMEngine();

  // Validates and queues a request (n or best_of sequences). Errors name the offending field; nothing is queued
  // on error.
  absl::Status AddRequest(const std::string& request_id, std::vector<int32_t> prompt_token_ids,
                          const SamplingParams& params);
  // Runs one step and reports every request that produced tokens or finished in it. A request with best_of > n
  // reports once, when all its sequences are done, with the n of highest cumulative logprob.
  absl::StatusOr<std::vector<RequestOutput>> Step();
  // The checks AddRequest makes, without queueing anything: sampling parameters, prompt ids and lengths. Applies
  // truncate_prompt_tokens to `prompt_token_ids`. Reads only configuration fixed at creation, so any thread may
  // call it while another runs Step().
  absl::Status ValidateRequest(std::vector<int32_t>& prompt_token_ids, const SamplingParams& params) const;
  // Ends a request's sequences at once and frees their blocks; unknown ids are ignored (it may have just
  // finished). Returns the final output, or nullopt for an unknown id.
  std::optional<RequestOutput> AbortRequest(const std::string& request_id);
  // Ends one sequence with finish reason stop because the detokenizing layer matched a stop string in it. Returns
  // the request's output when this finished the whole request.
  std::optional<RequestOutput> StopSequence(const std::string& request_id, int index, const std::string& stop_string);
  // The default sampling parameters of this model (its generation_config.json), as vLLM derives them.
  SamplingParams DefaultSamplingParams() const;
  bool HasUnfinishedRequests() const { return scheduler_->HasWork(); }

  const ModelConfig& model_config() const { return model_config_; }
  const GenerationConfig& generation_config() const { return generation_config_; }
  const EngineInfo& info() const { return info_; }
  int num_running() const { return scheduler_->num_running(); }
  int num_waiting() const { return scheduler_->num_waiting(); }
  double kv_cache_usage() const { return block_manager_->Usage(); }
  int64_t num_preemptions() const { return num_preemptions_; }

  // Tensor-parallel followers: runs the leader's steps until it stops the group (OK) or the group breaks.
  absl::Status ServeFollower() { return runner_->ServeFollower(); }
  // Set once a step failed in a way that leaves the engine unusable (a tensor-parallel rank is gone); the
  // worker then reports itself unhealthy.
  const absl::Status& fatal_error() const { return fatal_error_; }
  // Tensor-parallel leader, between steps: checks that every follower still answers; a failure is fatal.
  absl::Status CheckTensorParallelGroup();
  bool is_tensor_parallel() const { return tp_links_ != nullptr && tp_links_->world_size() > 1; }

  // Lower layers, for tests that drive steps by hand.
  ModelRunner& runner() { return *runner_; }
  BlockManager& block_manager() { return *block_manager_; }

 private:
  LLMEngine() = default;
  RequestOutput MakeOutput(const ParentRequest& parent) const;
  // Appends a sampled token and decides whether the sequence is done.
  void AppendToken(Request& request, const SampledToken& token);
  void FinishSequence(Request& request, FinishReason reason);
  // Prompt logprobs for the prompt positions a chunk covered.
  void RecordPromptLogprobs(Request& request, int chunk_start, int chunk_tokens, const StepLogits& logits, int chunk);

  EngineConfig config_;
  ModelConfig model_config_;
  GenerationConfig generation_config_;
  EngineInfo info_;
  std::unique_ptr<kernels::Backend> backend_;
  std::unique_ptr<parallel::Communicator> communicator_;
  parallel::TcpGroup* tp_links_ = nullptr;
  absl::Status fatal_error_;
  std::unique_ptr<LlamaModel> model_;
  std::unique_ptr<BlockManager> block_manager_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<ModelRunner> runner_;
  absl::flat_hash_map<std::string, std::unique_ptr<ParentRequest>> requests_;
  std::unique_ptr<Sampler> sampler_;
  std::vector<int32_t> eos_token_ids_;
  // Per-step scratch of Step(): the chunks whose sequences get a token, and the tokens sampled for them.
  std::vector<int> sample_chunks_;
  std::vector<SampledToken> sampled_;
  uint64_t next_arrival_ = 0;
  int64_t num_preemptions_ = 0;
};

}  // namespace tessera::engine
