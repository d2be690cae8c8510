#include "services/worker/engine/engine_flags.h"

#include <cstdio>

#include "common/hub/model_resolver.h"
#include "common/status_macros.h"

namespace tessera::engine {

std::vector<FlagSpec> EngineFlagSpecs() {
  return {
      {"model", true, "model folder (config.json, *.safetensors), or a hub model id org/name fetched into the cache"},
      {"revision", true, "branch, tag or commit of a hub model id (default: the hub's default branch)"},
      {"hub", true, "where model ids come from: hf (default; HF_ENDPOINT, HF_TOKEN) or modelscope "
                    "(MODELSCOPE_DOMAIN, MODELSCOPE_API_TOKEN)"},
      {"download-dir", true, "model cache folder (default: TESSERA_CACHE, else ~/.cache/tessera)"},
      {"device", true, "cpu (default) or cuda"},
      {"dtype", true, "weight type: auto (as stored), float32, bfloat16, float16"},
      {"load-format", true, "auto (safetensors) or dummy (random weights from config.json)"},
      {"max-model-len", true, "longest prompt + output in tokens (default: max_position_embeddings)"},
      {"block-size", true, "tokens per KV-cache block (default 16)"},
      {"max-num-seqs", true, "most sequences per step (default 256)"},
      {"max-num-batched-tokens", true, "most tokens per step (default 8192)"},
      {"kv-cache-memory", true, "bytes for the KV cache, e.g. 2147483648 (default 1 GiB on the CPU)"},
      {"gpu-memory-utilization", true,
       "fraction of GPU memory for weights, activations and KV cache (default 0.9; sizes the KV cache on GPUs)"},
      {"seed", true, "seed for dummy weights and unseeded sampling (default 0)"},
      {"no-prefix-caching", false, "turn automatic prefix caching off"},
      {"enable-prefix-caching", false, "turn automatic prefix caching on (the default)"},
      {"scheduling-policy", true, "fcfs (default) or priority"},
  };
}

absl::StatusOr<EngineConfig> EngineConfigFromFlags(const CommandLine& flags) {
  EngineConfig config;
  hub::ModelSource source;
  source.model = flags.GetString("model");
  if (source.model.empty()) return absl::InvalidArgumentError("--model DIR|ORG/NAME is required");
  source.revision = flags.GetString("revision");
  ASSIGN_OR_RETURN(source.hub, hub::ParseHubKind(flags.GetString("hub", "hf")));
  source.download_dir = flags.GetString("download-dir");
  config.device = flags.GetString("device", config.device);
  config.dtype = flags.GetString("dtype", config.dtype);
  config.load_format = flags.GetString("load-format", config.load_format);
  ASSIGN_OR_RETURN(auto max_model_len, flags.GetOptionalInt("max-model-len"));
  if (max_model_len) config.max_model_len = static_cast<int>(*max_model_len);
  ASSIGN_OR_RETURN(int64_t block_size, flags.GetInt("block-size", config.block_size));
  ASSIGN_OR_RETURN(int64_t max_num_seqs, flags.GetInt("max-num-seqs", config.max_num_seqs));
  ASSIGN_OR_RETURN(int64_t max_batched, flags.GetInt("max-num-batched-tokens", config.max_num_batched_tokens));
  ASSIGN_OR_RETURN(config.kv_cache_memory_bytes, flags.GetInt("kv-cache-memory", 0));
  ASSIGN_OR_RETURN(config.gpu_memory_utilization,
                   flags.GetDouble("gpu-memory-utilization", config.gpu_memory_utilization));
  ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0));
  config.block_size = static_cast<int>(block_size);
  config.max_num_seqs = static_cast<int>(max_num_seqs);
  config.max_num_batched_tokens = static_cast<int>(max_batched);
  config.seed = static_cast<uint64_t>(seed);
  config.enable_prefix_caching = !flags.Has("no-prefix-caching");
  config.scheduling_policy = flags.GetString("scheduling-policy", config.scheduling_policy);
  // Resolved last, so that a flag typo is reported before any download starts. Dummy weights need no weight files.
  source.need_weights = config.load_format != "dummy";
  ASSIGN_OR_RETURN(config.model, hub::ResolveModelPath(source));
  return config;
}

void LogEngineInfo(const LLMEngine& engine) { LogEngineInfo(engine.model_config(), engine.info()); }

void LogEngineInfo(const ModelConfig& model, const EngineInfo& info) {
  std::fprintf(stderr,
               "tessera: %s on %s, weights %.1f MiB (%s); KV cache %d blocks x %d = %lld tokens (%.1f MiB); "
               "max_model_len %d\n",
               model.architecture.c_str(), info.backend.c_str(), info.weight_bytes / 1048576.0,
               info.weight_dtype.c_str(), info.num_kv_blocks, info.block_size,
               static_cast<long long>(info.kv_capacity_tokens), info.kv_cache_bytes / 1048576.0, info.max_model_len);
  if (info.device_memory_bytes > 0) {
    constexpr double kGiB = 1073741824.0;
    std::fprintf(stderr,
                 "tessera: GPU memory plan: %.2f GiB x %.2f utilization; weights %.2f GiB, activation peak %.2f GiB; "
                 "KV cache %.2f GiB = %lld tokens\n",
                 info.device_memory_bytes / kGiB, info.gpu_memory_utilization, info.weight_bytes / kGiB,
                 info.activation_peak_bytes / kGiB, info.kv_cache_bytes / kGiB,
                 static_cast<long long>(info.kv_capacity_tokens));
  }
}

}  // namespace tessera::engine
