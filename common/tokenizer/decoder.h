// Decoders of a Hugging Face tokenizer.json ("decoder" field): ByteLevel, Metaspace, Replace, ByteFallback, Fuse,
// Strip, Sequence. They turn the token strings of a sequence of ids back into text.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Transforms the list of token strings (Hugging Face's decode_chain); the text is their concatenation.
  virtual absl::Status DecodeChain(std::vector<std::string>* tokens) const = 0;
};

// Builds the decoder described by json; null JSON yields a null pointer (tokens are then joined with spaces).
absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(const nlohmann::json& json);

}  // namespace tessera::tok
