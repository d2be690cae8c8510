// A small, strict parser for subcommand flags (`--name value`, `--name=value`, boolean `--flag`). Unknown flags
// and malformed values are errors that name the flag, so a typo never silently falls back to a default.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace tessera {

struct FlagSpec {
  std::string name;  // without the leading dashes
  bool takes_value = true;
  std::string help;
};

class CommandLine {
 public:
  // Parses argv[first..argc). Positional arguments are kept in order.
  static absl::StatusOr<CommandLine> Parse(int argc, const char* const* argv, int first,
                                           const std::vector<FlagSpec>& specs);

  bool Has(const std::string& name) const { return values_.contains(name); }
  std::string GetString(const std::string& name, const std::string& fallback = "") const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<std::optional<int64_t>> GetOptionalInt(const std::string& name) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

  // One line per flag, for --help.
  static std::string Usage(const std::vector<FlagSpec>& specs);

 private:
  absl::flat_hash_map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Parses "1,2,3" into integers; an empty or malformed item is an error naming `what`.
absl::StatusOr<std::vector<int32_t>> ParseIntList(const std::string& text, const std::string& what);

}  // namespace tessera
