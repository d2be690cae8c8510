// The sampling defaults a Hugging Face model folder ships in generation_config.json (stop tokens, temperature,
// top_p, ...). Requests fall back to these when they leave a field unset, as transformers and vLLM do.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera {

struct GenerationConfig {
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;  // int or list in the file
  std::optional<int> pad_token_id;
  std::optional<double> temperature, top_p, repetition_penalty;
  std::optional<int> top_k, max_new_tokens;
  std::optional<bool> do_sample;
  nlohmann::json raw;  // the whole file (an empty object when there was none)

  // `source_name` (usually the file path) prefixes every error.
  static absl::StatusOr<GenerationConfig> FromJson(const nlohmann::json& j, std::string_view source_name);
  // The HF spelling, starting from `raw` so unknown keys survive; round-trips through FromJson.
  nlohmann::json ToJson() const;
};

// Reads dir/generation_config.json. Missing file -> defaults (not an error); malformed file -> error naming the file.
absl::StatusOr<GenerationConfig> LoadGenerationConfig(const std::string& model_dir);

}  // namespace tessera
