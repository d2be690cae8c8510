#include "common/model_config.h"

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "common/status_macros.h"

namespace tessera {
namespace {

using nlohmann::json;

absl::Status ConfigError(std::string_view source, std::string_view message) {
  return absl::InvalidArgumentError(CatMessage(source, ": ", message));
}

absl::StatusOr<int> RequiredPositiveInt(const json& j, std::string_view key, std::string_view source) {
  ASSIGN_OR_RETURN(std::optional<int> value, JsonGetInt32(j, key, source));
  if (!value) return ConfigError(source, CatMessage("required key '", key, "' is missing"));
  if (*value <= 0) return ConfigError(source, CatMessage("key '", key, "' must be positive, got ", *value));
  return *value;
}

absl::StatusOr<std::optional<int>> OptionalPositiveInt(const json& j, std::string_view key, std::string_view source) {
  ASSIGN_OR_RETURN(std::optional<int> value, JsonGetInt32(j, key, source));
  if (value && *value <= 0) return ConfigError(source, CatMessage("key '", key, "' must be positive, got ", *value));
  return value;
}

absl::StatusOr<std::optional<double>> OptionalPositiveDouble(const json& j, std::string_view key,
                                                             std::string_view source) {
  ASSIGN_OR_RETURN(std::optional<double> value, JsonGetDouble(j, key, source));
  if (value && !(*value > 0)) return ConfigError(source, CatMessage("key '", key, "' must be positive, got ", *value));
  return value;
}

// Parses a rope_scaling object (or transformers 5's rope_parameters); `key` names it in errors.
absl::StatusOr<RopeScaling> ParseRopeScaling(const json& j, std::string_view key, std::string_view source) {
  if (!j.is_object()) return ConfigError(source, CatMessage("key '", key, "' must be an object or null"));
  const std::string where = CatMessage(source, " ", key);
  RopeScaling rope;
  ASSIGN_OR_RETURN(std::optional<std::string> rope_type, JsonGetString(j, "rope_type", where));
  ASSIGN_OR_RETURN(std::optional<std::string> old_type, JsonGetString(j, "type", where));
  if (rope_type) {
    rope.rope_type = *rope_type;
  } else if (old_type) {
    rope.rope_type = *old_type;
  }
  ASSIGN_OR_RETURN(std::optional<double> factor, OptionalPositiveDouble(j, "factor", where));
  if (factor) rope.factor = *factor;
  ASSIGN_OR_RETURN(std::optional<double> low, OptionalPositiveDouble(j, "low_freq_factor", where));
  if (low) rope.low_freq_factor = *low;
  ASSIGN_OR_RETURN(std::optional<double> high, OptionalPositiveDouble(j, "high_freq_factor", where));
  if (high) rope.high_freq_factor = *high;
  ASSIGN_OR_RETURN(std::optional<int> original, OptionalPositiveInt(j, "original_max_position_embeddings", where));
  if (original) rope.original_max_position_embeddings = *original;
  ASSIGN_OR_RETURN(std::optional<double> beta_fast, JsonGetDouble(j, "beta_fast", where));
  if (beta_fast) rope.beta_fast = *beta_fast;
  ASSIGN_OR_RETURN(std::optional<double> beta_slow, JsonGetDouble(j, "beta_slow", where));
  if (beta_slow) rope.beta_slow = *beta_slow;
  ASSIGN_OR_RETURN(rope.attention_factor, JsonGetDouble(j, "attention_factor", where));
  if (rope.rope_type == "llama3") {
    if (!original) {
      return ConfigError(source, CatMessage(key, " of type llama3 needs 'original_max_position_embeddings'"));
    }
    if (rope.high_freq_factor <= rope.low_freq_factor) {
      return ConfigError(source, CatMessage(key, ": high_freq_factor must exceed low_freq_factor"));
    }
  }
  return rope;
}

absl::StatusOr<DType> ParseTorchDtype(const json& j, std::string_view source) {
  // transformers 5 writes "dtype"; older versions "torch_dtype". Prefer the newer spelling when both exist.
  for (std::string_view key : {"dtype", "torch_dtype"}) {
    ASSIGN_OR_RETURN(std::optional<std::string> name, JsonGetString(j, key, source));
    if (!name) continue;
    std::string_view spelled = *name;
    if (spelled.starts_with("torch.")) spelled.remove_prefix(6);
    std::optional<DType> dtype = DTypeFromTorchName(spelled);
    if (!dtype) return ConfigError(source, CatMessage("key '", key, "' has unsupported dtype '", *name, "'"));
    return *dtype;
  }
  return DType::kF32;
}

}  // namespace

absl::StatusOr<ModelConfig> ModelConfig::FromJson(const json& j, std::string_view source) {
  if (!j.is_object()) return ConfigError(source, CatMessage("config must be a JSON object, got ", j.type_name()));
  ModelConfig c;
  c.raw = j;

  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || (!it->empty() && !(*it)[0].is_string())) {
      return ConfigError(source, "key 'architectures' must be a list of strings");
    }
    if (!it->empty()) c.architecture = (*it)[0].get<std::string>();
  }
  ASSIGN_OR_RETURN(std::optional<std::string> model_type, JsonGetString(j, "model_type", source));
  c.model_type = model_type.value_or("");

  ASSIGN_OR_RETURN(c.vocab_size, RequiredPositiveInt(j, "vocab_size", source));
  ASSIGN_OR_RETURN(c.hidden_size, RequiredPositiveInt(j, "hidden_size", source));
  ASSIGN_OR_RETURN(c.intermediate_size, RequiredPositiveInt(j, "intermediate_size", source));
  ASSIGN_OR_RETURN(c.num_hidden_layers, RequiredPositiveInt(j, "num_hidden_layers", source));
  ASSIGN_OR_RETURN(c.num_attention_heads, RequiredPositiveInt(j, "num_attention_heads", source));

  ASSIGN_OR_RETURN(std::optional<int> kv_heads, OptionalPositiveInt(j, "num_key_value_heads", source));
  c.num_key_value_heads = kv_heads.value_or(c.num_attention_heads);
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return ConfigError(source, CatMessage("num_attention_heads (", c.num_attention_heads,
                                            ") must be divisible by num_key_value_heads (", c.num_key_value_heads,
                                            ")"));
  }
  ASSIGN_OR_RETURN(std::optional<int> head_dim, OptionalPositiveInt(j, "head_dim", source));
  if (head_dim) {
    c.head_dim = *head_dim;
  } else {
    if (c.hidden_size % c.num_attention_heads != 0) {
      return ConfigError(source, CatMessage("hidden_size (", c.hidden_size, ") must be divisible by ",
                                              "num_attention_heads (", c.num_attention_heads,
                                              ") when head_dim is not given"));
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  ASSIGN_OR_RETURN(std::optional<int> max_positions, OptionalPositiveInt(j, "max_position_embeddings", source));
  if (max_positions) c.max_position_embeddings = *max_positions;

  ASSIGN_OR_RETURN(std::optional<double> eps, OptionalPositiveDouble(j, "rms_norm_eps", source));
  if (eps) c.rms_norm_eps = *eps;

  // transformers 5 folds rope_theta and the scaling into "rope_parameters"; older files use the top-level keys.
  ASSIGN_OR_RETURN(std::optional<double> theta, OptionalPositiveDouble(j, "rope_theta", source));
  if (auto it = j.find("rope_parameters"); it != j.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(RopeScaling params, ParseRopeScaling(*it, "rope_parameters", source));
    ASSIGN_OR_RETURN(std::optional<double> nested_theta,
                     OptionalPositiveDouble(*it, "rope_theta", CatMessage(source, " rope_parameters")));
    if (!theta) theta = nested_theta;
    if (params.rope_type != "default") c.rope_scaling = params;
  }
  if (theta) c.rope_theta = *theta;
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    ASSIGN_OR_RETURN(c.rope_scaling, ParseRopeScaling(*it, "rope_scaling", source));
  }

  ASSIGN_OR_RETURN(std::optional<bool> tie, JsonGetBool(j, "tie_word_embeddings", source));
  c.tie_word_embeddings = tie.value_or(false);
  ASSIGN_OR_RETURN(std::optional<bool> bias, JsonGetBool(j, "attention_bias", source));
  c.attention_bias = bias.value_or(false);
  // Qwen2's attention always has q/k/v biases; its config has no key for it.
  if (c.model_type == "qwen2") c.attention_bias = true;

  ASSIGN_OR_RETURN(std::optional<int> window, OptionalPositiveInt(j, "sliding_window", source));
  ASSIGN_OR_RETURN(std::optional<bool> use_window, JsonGetBool(j, "use_sliding_window", source));
  if (use_window.value_or(true)) c.sliding_window = window;

  ASSIGN_OR_RETURN(std::optional<std::string> act, JsonGetString(j, "hidden_act", source));
  if (act) c.hidden_act = *act;
  ASSIGN_OR_RETURN(c.torch_dtype, ParseTorchDtype(j, source));

  ASSIGN_OR_RETURN(c.bos_token_id, JsonGetInt32(j, "bos_token_id", source));
  ASSIGN_OR_RETURN(c.eos_token_ids, JsonGetIntOrIntList(j, "eos_token_id", source));
  return c;
}

json ModelConfig::ToJson() const {
  json j = raw.is_object() ? raw : json::object();
  if (!architecture.empty()) j["architectures"] = json::array({architecture});
  if (!model_type.empty()) j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  if (rope_scaling) {
    json rope = {{"rope_type", rope_scaling->rope_type}, {"factor", rope_scaling->factor}};
    if (rope_scaling->rope_type == "llama3") {
      rope["low_freq_factor"] = rope_scaling->low_freq_factor;
      rope["high_freq_factor"] = rope_scaling->high_freq_factor;
    }
    if (rope_scaling->rope_type == "yarn") {
      rope["beta_fast"] = rope_scaling->beta_fast;
      rope["beta_slow"] = rope_scaling->beta_slow;
      if (rope_scaling->attention_factor) rope["attention_factor"] = *rope_scaling->attention_factor;
    }
    if (rope_scaling->original_max_position_embeddings > 0) {
      rope["original_max_position_embeddings"] = rope_scaling->original_max_position_embeddings;
    }
    j["rope_scaling"] = std::move(rope);
  } else {
    j["rope_scaling"] = nullptr;
  }
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    // Keep the nested form consistent with the top-level keys, which FromJson prefers.
    j["rope_parameters"]["rope_theta"] = rope_theta;
    if (!rope_scaling) j["rope_parameters"]["rope_type"] = "default";
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["attention_bias"] = attention_bias;
  if (sliding_window) {
    j["sliding_window"] = *sliding_window;
    if (j.contains("use_sliding_window")) j["use_sliding_window"] = true;
  } else {
    j["sliding_window"] = nullptr;
  }
  j["hidden_act"] = hidden_act;
  j["torch_dtype"] = std::string(DTypeTorchName(torch_dtype));
  if (j.contains("dtype")) j["dtype"] = std::string(DTypeTorchName(torch_dtype));
  if (bos_token_id) {
    j["bos_token_id"] = *bos_token_id;
  } else {
    j["bos_token_id"] = nullptr;
  }
  if (eos_token_ids.empty()) {
    j["eos_token_id"] = nullptr;
  } else if (eos_token_ids.size() == 1) {
    j["eos_token_id"] = eos_token_ids[0];
  } else {
    j["eos_token_id"] = eos_token_ids;
  }
  return j;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  absl::StatusOr<json> j = ReadJsonFile(path);
  if (absl::IsNotFound(j.status())) {
    return absl::NotFoundError(CatMessage("model folder ", model_dir, " has no config.json"));
  }
  if (!j.ok()) return j.status();
  return ModelConfig::FromJson(*j, path);
}

}  // namespace tessera
