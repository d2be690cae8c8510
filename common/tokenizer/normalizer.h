// Normalizers of a Hugging Face tokenizer.json ("normalizer" field): Sequence, NFC/NFD/NFKC/NFKD, Prepend, Replace,
// Strip, Lowercase. They rewrite each text piece between added tokens before pre-tokenization.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites *text (valid UTF-8) in place.
  virtual absl::Status Normalize(std::string* text) const = 0;
};

// Builds the normalizer described by json (an object with "type"); null JSON yields a null pointer. An unsupported
// type is an InvalidArgument error naming it.
absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(const nlohmann::json& json);

}  // namespace tessera::tok
