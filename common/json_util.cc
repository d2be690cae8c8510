#include "common/json_util.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tessera {
namespace {

using nlohmann::json;

const json* FindField(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(std::string(key));
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string_view TypeName(const json& value) { return value.type_name(); }

absl::Status WrongType(std::string_view key, std::string_view expected, const json& value,
                       std::string_view source_name) {
  return absl::InvalidArgumentError(CatMessage(source_name, ": key '", key, "' must be ", expected, ", got ",
                                                 TypeName(value), " ", value.dump()));
}

// Integral value of a JSON number, or nullopt if it is not a number with an integral value in int64 range.
std::optional<int64_t> AsInteger(const json& value) {
  if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<int64_t>();
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e18) return std::nullopt;
    return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return absl::NotFoundError(CatMessage("file not found: ", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError(CatMessage("cannot open ", path, ": ", std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return absl::InternalError(CatMessage("cannot read ", path));
  return std::move(buffer).str();
}

absl::StatusOr<json> ParseJson(std::string_view text, std::string_view source_name) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(CatMessage(source_name, ": invalid JSON: ", e.what()));
  }
}

absl::StatusOr<json> ReadJsonFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  return ParseJson(*text, path);
}

absl::StatusOr<std::optional<int64_t>> JsonGetInt(const json& object, std::string_view key,
                                                  std::string_view source_name) {
  const json* value = FindField(object, key);
  if (value == nullptr) return std::optional<int64_t>();
  std::optional<int64_t> integer = AsInteger(*value);
  if (!integer) return WrongType(key, "an integer", *value, source_name);
  return integer;
}

absl::StatusOr<std::optional<int>> JsonGetInt32(const json& object, std::string_view key,
                                                std::string_view source_name) {
  absl::StatusOr<std::optional<int64_t>> wide = JsonGetInt(object, key, source_name);
  if (!wide.ok()) return wide.status();
  if (!wide->has_value()) return std::optional<int>();
  const int64_t v = **wide;
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    return absl::InvalidArgumentError(
        CatMessage(source_name, ": key '", key, "' value ", v, " does not fit a 32-bit integer"));
  }
  return std::optional<int>(static_cast<int>(v));
}

absl::StatusOr<std::optional<double>> JsonGetDouble(const json& object, std::string_view key,
                                                    std::string_view source_name) {
  const json* value = FindField(object, key);
  if (value == nullptr) return std::optional<double>();
  if (!value->is_number()) return WrongType(key, "a number", *value, source_name);
  return std::optional<double>(value->get<double>());
}

absl::StatusOr<std::optional<bool>> JsonGetBool(const json& object, std::string_view key,
                                                std::string_view source_name) {
  const json* value = FindField(object, key);
  if (value == nullptr) return std::optional<bool>();
  if (!value->is_boolean()) return WrongType(key, "a boolean", *value, source_name);
  return std::optional<bool>(value->get<bool>());
}

absl::StatusOr<std::optional<std::string>> JsonGetString(const json& object, std::string_view key,
                                                         std::string_view source_name) {
  const json* value = FindField(object, key);
  if (value == nullptr) return std::optional<std::string>();
  if (!value->is_string()) return WrongType(key, "a string", *value, source_name);
  return std::optional<std::string>(value->get<std::string>());
}

absl::StatusOr<std::vector<int>> JsonGetIntOrIntList(const json& object, std::string_view key,
                                                     std::string_view source_name) {
  const json* value = FindField(object, key);
  std::vector<int> result;
  if (value == nullptr) return result;
  auto to_int = [](const json& element) -> std::optional<int> {
    std::optional<int64_t> v = AsInteger(element);
    if (!v || *v < std::numeric_limits<int>::min() || *v > std::numeric_limits<int>::max()) return std::nullopt;
    return static_cast<int>(*v);
  };
  if (value->is_array()) {
    for (const json& element : *value) {
      std::optional<int> v = to_int(element);
      if (!v) return WrongType(key, "an integer or a list of integers", *value, source_name);
      result.push_back(*v);
    }
    return result;
  }
  std::optional<int> v = to_int(*value);
  if (!v) return WrongType(key, "an integer or a list of integers", *value, source_name);
  result.push_back(*v);
  return result;
}

}  // namespace tessera
