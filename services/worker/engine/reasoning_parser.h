// Splits a reasoning model's output into its reasoning and its answer, as vLLM's reasoning parsers do for the
// `<think>` … `</think>` convention: "deepseek_r1" treats everything before `</think>` as reasoning (its chat
// template opens the think block in the prompt), "qwen3" treats output without `</think>` as plain content.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace tessera::engine {

struct ReasoningSplit {
  std::optional<std::string> reasoning_content;
  std::optional<std::string> content;
};

// Known parser names: "deepseek_r1", "qwen3". Anything else is an InvalidArgument listing them.
absl::Status ValidateReasoningParser(const std::string& name);
ReasoningSplit SplitReasoning(const std::string& parser, const std::string& text);

}  // namespace tessera::engine
