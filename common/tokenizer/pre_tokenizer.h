// Pre-tokenizers of a Hugging Face tokenizer.json ("pre_tokenizer" field): Sequence, Split (PCRE2 regex or literal,
// all split behaviors, invert), ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation,
// BertPreTokenizer. They cut normalized text into the words that the model tokenizes one by one.
#pragma once

#include <memory>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::tok {

// Receives each piece in order; at_start tells whether the piece begins at the start of the original input
// (Metaspace's prepend_scheme "first" depends on it).
using PieceSink = absl::FunctionRef<absl::Status(std::string_view piece, bool at_start)>;

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits (and possibly rewrites) text, which is valid UTF-8, passing each non-empty piece to sink.
  virtual absl::Status PreTokenize(std::string_view text, bool at_start, PieceSink sink) const = 0;
};

// Builds the pre-tokenizer described by json; null JSON yields a null pointer. Unsupported types are an
// InvalidArgument error naming the type.
absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const nlohmann::json& json);

}  // namespace tessera::tok
