// A compiled PCRE2 regular expression (UTF + Unicode properties, JIT when available) for the tokenizer's Split
// pre-tokenizer and Replace normalizer/decoder. Compiled once, matched concurrently from any thread.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::tok {

class Regex {
 public:
  // Compiles pattern (Oniguruma/Rust-style syntax that PCRE2 accepts: \p{L}, lookahead, (?i:...)).
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(std::string_view pattern);
  // A pattern that matches text literally.
  static absl::StatusOr<std::unique_ptr<Regex>> CompileLiteral(std::string_view text);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(start, end) for each successive non-overlapping match in text, which must be valid UTF-8.
  // After an empty match the search resumes one code point later, as Oniguruma's iteration does.
  absl::Status ForEachMatch(std::string_view text, absl::FunctionRef<absl::Status(size_t, size_t)> on_match) const;

  // True when the pattern matches at the very start of text (anchored).
  bool MatchesAtStart(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex(std::string pattern, pcre2_code* code, bool jit) : pattern_(std::move(pattern)), code_(code), jit_(jit) {}

  std::string pattern_;
  pcre2_code* code_;
  bool jit_;
};

// A Hugging Face pattern: {"String": "..."} (matched literally, with a fast path) or {"Regex": "..."}.
class Pattern {
 public:
  // field names the JSON location for error messages.
  static absl::StatusOr<Pattern> FromJson(const nlohmann::json& json, std::string_view field);

  absl::Status ForEachMatch(std::string_view text, absl::FunctionRef<absl::Status(size_t, size_t)> on_match) const;
  // Replaces every match with content.
  absl::StatusOr<std::string> ReplaceAll(std::string_view text, std::string_view content) const;

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;  // null for a literal pattern
};

}  // namespace tessera::tok
