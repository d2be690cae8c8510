// Splits a Jinja2 template into text and tag tokens the way Hugging Face's environment does: trim_blocks and
// lstrip_blocks on, `{%-`/`-%}`/`{{-`/`-}}` whitespace control, `{%+`/`+%}` opt-outs, comments dropped, raw blocks
// passed through, and a single trailing newline removed (keep_trailing_newline=False).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"

namespace tessera::jinja {

enum class TokenType { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOperator, kEof };

struct Token {
  TokenType type;
  std::string text;  // text data, name, decoded string literal or operator spelling
  int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
  int column = 1;
};

// Tags nested this deep (parentheses, brackets) are refused at lexing time.
inline constexpr int kMaxBracketDepth = 128;

// Fails with InvalidArgument "line L, column C: ..." on malformed input.
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source);

}  // namespace tessera::jinja
