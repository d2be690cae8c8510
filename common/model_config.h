// The architecture hyper-parameters of a Hugging Face model folder (config.json) for the decoder-only families the
// engine runs (Llama, Qwen2, Qwen3, Mistral), with transformers' defaults applied and the values validated so that
// model code can trust them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "nlohmann/json.hpp"

namespace tessera {

struct RopeScaling {
  std::string rope_type = "default";  // "default", "linear", "llama3", "dynamic", "yarn", ...
  double factor = 1.0, low_freq_factor = 1.0, high_freq_factor = 4.0;
  int original_max_position_embeddings = 0;
  // YaRN parameters (transformers' defaults); attention_factor absent means "derive from factor".
  double beta_fast = 32.0, beta_slow = 1.0;
  std::optional<double> attention_factor;
};

struct ModelConfig {
  std::string architecture;  // architectures[0]
  std::string model_type;
  int vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_hidden_layers = 0, num_attention_heads = 0,
      num_key_value_heads = 0, head_dim = 0;
  int max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6, rope_theta = 10000.0;
  std::optional<RopeScaling> rope_scaling;  // absent or null -> nullopt; accepts the old key "type" too
  bool tie_word_embeddings = false, attention_bias = false;
  std::optional<int> sliding_window;  // null, or when use_sliding_window is false -> nullopt
  std::string hidden_act = "silu";
  DType torch_dtype = DType::kF32;  // from "torch_dtype" (or newer "dtype"); F32 if absent
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;  // int or list in config.json
  nlohmann::json raw;              // the whole file

  // `source_name` (usually the file path) prefixes every error.
  static absl::StatusOr<ModelConfig> FromJson(const nlohmann::json& j, std::string_view source_name);
  // The HF spelling, starting from `raw` so unknown keys survive; round-trips through FromJson.
  nlohmann::json ToJson() const;
};

// Reads dir/config.json.
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);

}  // namespace tessera
