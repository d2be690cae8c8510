#include "services/worker/reasoning_stream.h"

#include <algorithm>
#include <initializer_list>

namespace tessera::worker {
namespace {

constexpr std::string_view kThinkStart = "<think>";
constexpr std::string_view kThinkEnd = "</think>";

// Length of the longest proper suffix of `text` that is a prefix of one of `tags` (a tag that may be completed by
// the next delta).
size_t PartialTagLength(std::string_view text, std::initializer_list<std::string_view> tags) {
  size_t longest = 0;
  for (std::string_view tag : tags) {
    for (size_t len = std::min(text.size(), tag.size() - 1); len > longest; --len) {
      if (text.substr(text.size() - len) == tag.substr(0, len)) {
        longest = len;
        break;
      }
    }
  }
  return longest;
}

}  // namespace

ReasoningStreamParser::ReasoningStreamParser(std::string parser) : parser_(std::move(parser)) {}

void ReasoningStreamParser::Route(std::string_view text, ReasoningDelta& out) const {
  const bool reasoning = state_ == State::kReasoning || (state_ == State::kStart && StartIsReasoning());
  (reasoning ? out.reasoning : out.content).append(text);
}

ReasoningDelta ReasoningStreamParser::Push(std::string_view text) {
  ReasoningDelta out;
  std::string buffer = held_;
  buffer.append(text);
  held_.clear();
  std::string_view rest = buffer;
  while (!rest.empty()) {
    if (state_ == State::kContent) {
      out.content.append(rest);
      break;
    }
    const size_t end = rest.find(kThinkEnd);
    const size_t start = state_ == State::kStart ? rest.find(kThinkStart) : std::string_view::npos;
    if (start != std::string_view::npos && (end == std::string_view::npos || start < end)) {
      Route(rest.substr(0, start), out);
      state_ = State::kReasoning;
      rest.remove_prefix(start + kThinkStart.size());
      continue;
    }
    if (end != std::string_view::npos) {
      Route(rest.substr(0, end), out);
      state_ = State::kContent;
      rest.remove_prefix(end + kThinkEnd.size());
      continue;
    }
    const size_t hold = state_ == State::kStart ? PartialTagLength(rest, {kThinkStart, kThinkEnd})
                                                : PartialTagLength(rest, {kThinkEnd});
    Route(rest.substr(0, rest.size() - hold), out);
    held_ = std::string(rest.substr(rest.size() - hold));
    break;
  }
  return out;
}

ReasoningDelta ReasoningStreamParser::Finish() {
  ReasoningDelta out;
  Route(held_, out);
  held_.clear();
  return out;
}

}  // namespace tessera::worker
