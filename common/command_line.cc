#include "common/command_line.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tessera {

absl::StatusOr<CommandLine> CommandLine::Parse(int argc, const char* const* argv, int first,
                                               const std::vector<FlagSpec>& specs) {
  CommandLine cl;
  for (int i = first; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (!absl::ConsumePrefix(&arg, "--")) {
      cl.positional_.emplace_back(arg);
      continue;
    }
    std::string name(arg);
    std::optional<std::string> value;
    if (const size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (const FlagSpec& s : specs)
      if (s.name == name) spec = &s;
    if (spec == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    if (spec->takes_value && !value) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      value = argv[++i];
    }
    if (!spec->takes_value) {
      if (value && *value != "true" && *value != "false") {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " takes no value (or =true/=false)"));
      }
      if (value && *value == "false") continue;
      value = "true";
    }
    cl.values_[name] = *value;
  }
  return cl;
}

std::string CommandLine::GetString(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

absl::StatusOr<int64_t> CommandLine::GetInt(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  int64_t v;
  if (!absl::SimpleAtoi(it->second, &v))
    return absl::InvalidArgumentError(absl::StrCat("flag --", name, " expects an integer, got '", it->second, "'"));
  return v;
}

absl::StatusOr<std::optional<int64_t>> CommandLine::GetOptionalInt(const std::string& name) const {
  if (!Has(name)) return std::optional<int64_t>();
  auto v = GetInt(name, 0);
  if (!v.ok()) return v.status();
  return std::optional<int64_t>(*v);
}

absl::StatusOr<double> CommandLine::GetDouble(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  double v;
  if (!absl::SimpleAtod(it->second, &v) || !std::isfinite(v))
    return absl::InvalidArgumentError(absl::StrCat("flag --", name, " expects a number, got '", it->second, "'"));
  return v;
}

std::string CommandLine::Usage(const std::vector<FlagSpec>& specs) {
  std::string out;
  for (const FlagSpec& s : specs) {
    std::string left = absl::StrCat("  --", s.name, s.takes_value ? " VALUE" : "");
    if (left.size() < 30) left.resize(30, ' ');
    absl::StrAppend(&out, left, " ", s.help, "\n");
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> ParseIntList(const std::string& text, const std::string& what) {
  std::vector<int32_t> out;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int32_t v;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &v))
      return absl::InvalidArgumentError(absl::StrCat(what, ": '", item, "' is not an integer"));
    out.push_back(v);
  }
  return out;
}

}  // namespace tessera
