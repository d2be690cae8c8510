// Small helpers for reading JSON files (config.json, generation_config.json, index files) whose errors are
// Status values naming the file and the key at fault, so that no nlohmann exception escapes a library.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"

namespace tessera {

namespace json_util_internal {
template <typename T>
decltype(auto) ToStrCatArg(const T& value) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return absl::string_view(value.data(), value.size());
  } else {
    return (value);
  }
}
}  // namespace json_util_internal

// absl::StrCat that also accepts std::string_view: this Abseil build has its own absl::string_view, which
// std::string_view does not convert to.
template <typename... Args>
std::string CatMessage(const Args&... args) {
  return absl::StrCat(json_util_internal::ToStrCatArg(args)...);
}

// Reads a whole file; NotFound when it does not exist, Internal for other I/O failures.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Parses JSON text; the error names `source_name` and the parser's position.
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view source_name);

// ReadFileToString + ParseJson.
absl::StatusOr<nlohmann::json> ReadJsonFile(const std::string& path);

// Typed field readers for a JSON object. A key that is absent or null gives nullopt; a key of the wrong type is
// InvalidArgument naming the key and `source_name`. Integers accept integral floats (4096.0) and are range-checked.
absl::StatusOr<std::optional<int64_t>> JsonGetInt(const nlohmann::json& object, std::string_view key,
                                                  std::string_view source_name);
absl::StatusOr<std::optional<int>> JsonGetInt32(const nlohmann::json& object, std::string_view key,
                                                std::string_view source_name);
absl::StatusOr<std::optional<double>> JsonGetDouble(const nlohmann::json& object, std::string_view key,
                                                    std::string_view source_name);
absl::StatusOr<std::optional<bool>> JsonGetBool(const nlohmann::json& object, std::string_view key,
                                                std::string_view source_name);
absl::StatusOr<std::optional<std::string>> JsonGetString(const nlohmann::json& object, std::string_view key,
                                                         std::string_view source_name);
// A field that is either one integer or a list of integers (eos_token_id); absent or null gives an empty list.
absl::StatusOr<std::vector<int>> JsonGetIntOrIntList(const nlohmann::json& object, std::string_view key,
                                                     std::string_view source_name);

}  // namespace tessera
