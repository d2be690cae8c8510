#include "services/worker/engine/sampling_params_json.h"

#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tessera::engine {
namespace {

using nlohmann::json;

absl::Status TypeError(const std::string& key, const char* expected) {
  return absl::InvalidArgumentError(absl::StrCat("sampling parameter '", key, "' must be ", expected));
}

absl::StatusOr<int64_t> AsInt(const std::string& key, const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>() && std::isfinite(v.get<double>()))
    return static_cast<int64_t>(v.get<double>());
  return TypeError(key, "an integer");
}

absl::StatusOr<double> AsNumber(const std::string& key, const json& v) {
  if (v.is_number()) return v.get<double>();
  return TypeError(key, "a number");
}

absl::StatusOr<std::vector<int32_t>> AsIntList(const std::string& key, const json& v) {
  if (!v.is_array()) return TypeError(key, "a list of integers");
  std::vector<int32_t> out;
  for (const json& e : v) {
    if (!e.is_number_integer()) return TypeError(key, "a list of integers");
    out.push_back(e.get<int32_t>());
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> AsStringList(const std::string& key, const json& v) {
  if (v.is_string()) return std::vector<std::string>{v.get<std::string>()};
  if (!v.is_array()) return TypeError(key, "a string or a list of strings");
  std::vector<std::string> out;
  for (const json& e : v) {
    if (!e.is_string()) return TypeError(key, "a string or a list of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

absl::StatusOr<SamplingParams> SamplingParamsFromJson(const json& j, SamplingParams p) {
  if (!j.is_object()) return absl::InvalidArgumentError("sampling parameters must be a JSON object");
  using Setter = std::function<absl::Status(const std::string&, const json&)>;
  auto integer = [](int& field) -> Setter {
    return [&field](const std::string& k, const json& v) -> absl::Status {
      ASSIGN_OR_RETURN(int64_t x, AsInt(k, v));
      field = static_cast<int>(x);
      return absl::OkStatus();
    };
  };
  auto optional_integer = [](std::optional<int>& field) -> Setter {
    return [&field](const std::string& k, const json& v) -> absl::Status {
      if (v.is_null()) {
        field.reset();
        return absl::OkStatus();
      }
      ASSIGN_OR_RETURN(int64_t x, AsInt(k, v));
      field = static_cast<int>(x);
      return absl::OkStatus();
    };
  };
  auto number = [](float& field) -> Setter {
    return [&field](const std::string& k, const json& v) -> absl::Status {
      ASSIGN_OR_RETURN(double x, AsNumber(k, v));
      field = static_cast<float>(x);
      return absl::OkStatus();
    };
  };
  auto boolean = [](bool& field) -> Setter {
    return [&field](const std::string& k, const json& v) -> absl::Status {
      if (!v.is_boolean()) return TypeError(k, "true or false");
      field = v.get<bool>();
      return absl::OkStatus();
    };
  };
  const std::vector<std::pair<std::string, Setter>> setters = {
      {"n", integer(p.n)},
      {"best_of", optional_integer(p.best_of)},
      {"temperature", number(p.temperature)},
      {"top_p", number(p.top_p)},
      {"top_k", integer(p.top_k)},
      {"min_p", number(p.min_p)},
      {"presence_penalty", number(p.presence_penalty)},
      {"frequency_penalty", number(p.frequency_penalty)},
      {"repetition_penalty", number(p.repetition_penalty)},
      {"min_tokens", integer(p.min_tokens)},
      {"logprobs", optional_integer(p.logprobs)},
      {"prompt_logprobs", optional_integer(p.prompt_logprobs)},
      {"truncate_prompt_tokens", optional_integer(p.truncate_prompt_tokens)},
      {"priority", integer(p.priority)},
      {"ignore_eos", boolean(p.ignore_eos)},
      {"include_stop_str_in_output", boolean(p.include_stop_str_in_output)},
      {"skip_special_tokens", boolean(p.skip_special_tokens)},
      {"spaces_between_special_tokens", boolean(p.spaces_between_special_tokens)},
      {"max_tokens",
       [&p](const std::string& k, const json& v) -> absl::Status {
         if (v.is_null()) {
           p.max_tokens = kMaxTokensUnbounded;
           return absl::OkStatus();
         }
         ASSIGN_OR_RETURN(int64_t x, AsInt(k, v));
         p.max_tokens = static_cast<int>(std::min<int64_t>(x, kMaxTokensUnbounded));
         return absl::OkStatus();
       }},
      {"seed",
       [&p](const std::string& k, const json& v) -> absl::Status {
         if (v.is_null()) {
           p.seed.reset();
           return absl::OkStatus();
         }
         ASSIGN_OR_RETURN(int64_t x, AsInt(k, v));
         p.seed = static_cast<uint64_t>(x);
         return absl::OkStatus();
       }},
      {"stop",
       [&p](const std::string& k, const json& v) -> absl::Status {
         if (v.is_null()) {
           p.stop.clear();
           return absl::OkStatus();
         }
         ASSIGN_OR_RETURN(p.stop, AsStringList(k, v));
         return absl::OkStatus();
       }},
      {"bad_words",
       [&p](const std::string& k, const json& v) -> absl::Status {
         ASSIGN_OR_RETURN(p.bad_words, AsStringList(k, v));
         return absl::OkStatus();
       }},
      {"stop_token_ids",
       [&p](const std::string& k, const json& v) -> absl::Status {
         ASSIGN_OR_RETURN(p.stop_token_ids, AsIntList(k, v));
         return absl::OkStatus();
       }},
      {"allowed_token_ids",
       [&p](const std::string& k, const json& v) -> absl::Status {
         if (v.is_null()) {
           p.allowed_token_ids.reset();
           return absl::OkStatus();
         }
         ASSIGN_OR_RETURN(p.allowed_token_ids, AsIntList(k, v));
         return absl::OkStatus();
       }},
      {"logit_bias",
       [&p](const std::string& k, const json& v) -> absl::Status {
         if (!v.is_object()) return TypeError(k, "an object of token id -> bias");
         p.logit_bias.clear();
         for (const auto& [id, bias] : v.items()) {
           int32_t token;
           size_t used = 0;
           try {
             token = std::stoi(id, &used);
           } catch (...) {
             used = 0;
           }
           if (used == 0 || used != id.size())
             return absl::InvalidArgumentError(absl::StrCat("logit_bias key '", id, "' is not a token id"));
           if (!bias.is_number()) return TypeError(k, "an object of token id -> number");
           p.logit_bias[token] = bias.get<float>();
         }
         return absl::OkStatus();
       }},
  };
  for (const auto& [key, value] : j.items()) {
    auto it = std::find_if(setters.begin(), setters.end(), [&key](const auto& s) { return s.first == key; });
    if (it == setters.end()) return absl::InvalidArgumentError(absl::StrCat("unknown sampling parameter '", key, "'"));
    RETURN_IF_ERROR(it->second(key, value));
  }
  return p;
}

}  // namespace tessera::engine
