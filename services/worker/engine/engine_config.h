// Everything that decides how an engine instance is built: which model, on which backend, with what cache and
// batching limits. Filled from command-line flags by the tools and services, validated by the engine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tessera::engine {

struct EngineConfig {
  std::string model;                  // Hugging Face model folder
  std::string device = "cpu";         // "cpu" or "cuda"
  std::string dtype = "auto";         // weight type: auto (as stored), float32, bfloat16, float16
  std::string load_format = "auto";   // auto (safetensors) or dummy (random weights from config.json alone)
  std::optional<int> max_model_len;   // default: the model's max_position_embeddings
  int block_size = 16;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  // Bytes given to KV blocks. On the CPU this is the whole budget (like vLLM's CPU KV-cache space); 0 means the
  // default of 1 GiB, capped to what max_num_seqs sequences of max_model_len tokens can use.
  int64_t kv_cache_memory_bytes = 0;
  // GPU only, when kv_cache_memory_bytes is 0: the fraction of device memory this engine may fill with weights,
  // activations and KV blocks; the KV cache gets what remains after the weights and a profiled largest step.
  double gpu_memory_utilization = 0.9;
  bool enable_prefix_caching = true;
  std::string scheduling_policy = "fcfs";  // fcfs or priority (lower priority value runs first)
  int tensor_parallel_size = 1;       // ranks (processes) the model is split over
  uint64_t seed = 0;                  // seeds dummy weights and requests without their own seed
};

}  // namespace tessera::engine
