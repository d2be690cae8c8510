#include "services/worker/engine/reasoning_parser.h"

#include "absl/strings/str_cat.h"

namespace tessera::engine {
namespace {
constexpr std::string_view kThinkStart = "<think>";
constexpr std::string_view kThinkEnd = "</think>";

std::optional<std::string> NonEmpty(std::string s) {
  if (s.empty()) return std::nullopt;
  return s;
}
}  // namespace

absl::Status ValidateReasoningParser(const std::string& name) {
  if (name == "deepseek_r1" || name == "qwen3") return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown reasoning parser '", name, "'; supported: deepseek_r1, qwen3"));
}

ReasoningSplit SplitReasoning(const std::string& parser, const std::string& text) {
  std::string rest = text;
  // A leading (or model-generated) <think> is dropped: everything after it is the reasoning.
  if (const size_t start = rest.find(kThinkStart); start != std::string::npos) rest = rest.substr(start + kThinkStart.size());
  const size_t end = rest.find(kThinkEnd);
  if (end == std::string::npos) {
    if (parser == "qwen3") return {std::nullopt, NonEmpty(rest)};
    return {rest, std::nullopt};
  }
  return {rest.substr(0, end), NonEmpty(rest.substr(end + kThinkEnd.size()))};
}

}  // namespace tessera::engine
