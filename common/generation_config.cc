#include "common/generation_config.h"

#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/json_util.h"
#include "common/status_macros.h"

namespace tessera {
namespace {

using nlohmann::json;

template <typename T>
void SetOrErase(json& j, const char* key, const std::optional<T>& value) {
  if (value) {
    j[key] = *value;
  } else {
    j.erase(key);
  }
}

absl::Status CheckRange(bool ok, std::string_view source, std::string_view key, double value, std::string_view rule) {
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(CatMessage(source, ": key '", key, "' ", rule, ", got ", value));
}

}  // namespace

absl::StatusOr<GenerationConfig> GenerationConfig::FromJson(const json& j, std::string_view source) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        CatMessage(source, ": generation config must be a JSON object, got ", j.type_name()));
  }
  GenerationConfig g;
  g.raw = j;
  ASSIGN_OR_RETURN(g.bos_token_id, JsonGetInt32(j, "bos_token_id", source));
  ASSIGN_OR_RETURN(g.eos_token_ids, JsonGetIntOrIntList(j, "eos_token_id", source));
  ASSIGN_OR_RETURN(g.pad_token_id, JsonGetInt32(j, "pad_token_id", source));
  ASSIGN_OR_RETURN(g.temperature, JsonGetDouble(j, "temperature", source));
  ASSIGN_OR_RETURN(g.top_p, JsonGetDouble(j, "top_p", source));
  ASSIGN_OR_RETURN(g.repetition_penalty, JsonGetDouble(j, "repetition_penalty", source));
  ASSIGN_OR_RETURN(g.top_k, JsonGetInt32(j, "top_k", source));
  ASSIGN_OR_RETURN(g.max_new_tokens, JsonGetInt32(j, "max_new_tokens", source));
  ASSIGN_OR_RETURN(g.do_sample, JsonGetBool(j, "do_sample", source));
  if (g.temperature) RETURN_IF_ERROR(CheckRange(*g.temperature >= 0, source, "temperature", *g.temperature, "must be >= 0"));
  if (g.top_p) {
    RETURN_IF_ERROR(CheckRange(*g.top_p > 0 && *g.top_p <= 1, source, "top_p", *g.top_p, "must be in (0, 1]"));
  }
  if (g.repetition_penalty) {
    RETURN_IF_ERROR(CheckRange(*g.repetition_penalty > 0, source, "repetition_penalty", *g.repetition_penalty,
                               "must be > 0"));
  }
  if (g.top_k) RETURN_IF_ERROR(CheckRange(*g.top_k >= 0, source, "top_k", *g.top_k, "must be >= 0"));
  if (g.max_new_tokens) {
    RETURN_IF_ERROR(CheckRange(*g.max_new_tokens > 0, source, "max_new_tokens", *g.max_new_tokens, "must be > 0"));
  }
  return g;
}

json GenerationConfig::ToJson() const {
  json j = raw.is_object() ? raw : json::object();
  SetOrErase(j, "bos_token_id", bos_token_id);
  if (eos_token_ids.empty()) {
    j.erase("eos_token_id");
  } else if (eos_token_ids.size() == 1) {
    j["eos_token_id"] = eos_token_ids[0];
  } else {
    j["eos_token_id"] = eos_token_ids;
  }
  SetOrErase(j, "pad_token_id", pad_token_id);
  SetOrErase(j, "temperature", temperature);
  SetOrErase(j, "top_p", top_p);
  SetOrErase(j, "repetition_penalty", repetition_penalty);
  SetOrErase(j, "top_k", top_k);
  SetOrErase(j, "max_new_tokens", max_new_tokens);
  SetOrErase(j, "do_sample", do_sample);
  return j;
}

absl::StatusOr<GenerationConfig> LoadGenerationConfig(const std::string& model_dir) {
  const std::string path = (std::filesystem::path(model_dir) / "generation_config.json").string();
  absl::StatusOr<json> j = ReadJsonFile(path);
  if (absl::IsNotFound(j.status())) {
    GenerationConfig defaults;
    defaults.raw = json::object();
    return defaults;
  }
  if (!j.ok()) return j.status();
  return GenerationConfig::FromJson(*j, path);
}

}  // namespace tessera
