// Parses Jinja2 template source into the statement tree (ast.h), with Jinja's operator precedence; unknown filters
// and tests are rejected here, as Jinja rejects them at compile time.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "common/chat_template/ast.h"

namespace tessera::jinja {

// Nesting of statements and expressions deeper than this is a syntax error (keeps recursion bounded).
inline constexpr int kMaxParseDepth = 200;

// Errors: InvalidArgument "line L, column C: ...".
absl::StatusOr<NodeList> ParseTemplate(absl::string_view source);

}  // namespace tessera::jinja
