// Post-processors of a Hugging Face tokenizer.json ("post_processor" field): TemplateProcessing, RobertaProcessing,
// BertProcessing, ByteLevel (no change to ids) and Sequence. They add the special tokens of add_special_tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  // Adds special tokens around the ids of a single sequence.
  virtual std::vector<int32_t> Process(std::vector<int32_t> ids) const = 0;
};

// Builds the post-processor described by json; null JSON yields a null pointer.
absl::StatusOr<std::unique_ptr<PostProcessor>> ParsePostProcessor(const nlohmann::json& json);

}  // namespace tessera::tok
