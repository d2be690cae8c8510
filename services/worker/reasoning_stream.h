// The streaming counterpart of engine/reasoning_parser.h: splits a sequence's text deltas into reasoning and
// content as they arrive, holding back a tail that might be the start of a `<think>` or `</think>` tag so that a
// tag split across deltas is never shown to the client.
//   deepseek_r1: reasoning until `</think>` (a `<think>` the model writes itself is dropped), content afterwards.
//   qwen3: content until the model opens a `<think>` block, reasoning inside it, content after `</think>`. A
//          `</think>` that was never opened is dropped (the text before it has already gone out as content).
#pragma once

#include <string>
#include <string_view>

namespace tessera::worker {

struct ReasoningDelta {
  std::string reasoning;
  std::string content;
};

class ReasoningStreamParser {
 public:
  // `parser` is a name ValidateReasoningParser accepts ("deepseek_r1" or "qwen3").
  explicit ReasoningStreamParser(std::string parser);

  ReasoningDelta Push(std::string_view text);
  // Releases what was held back; call once the sequence has finished.
  ReasoningDelta Finish();

 private:
  enum class State { kStart, kReasoning, kContent };
  // Where text goes before any tag was seen.
  bool StartIsReasoning() const { return parser_ == "deepseek_r1"; }
  void Route(std::string_view text, ReasoningDelta& out) const;

  std::string parser_;
  State state_ = State::kStart;
  std::string held_;
};

}  // namespace tessera::worker
