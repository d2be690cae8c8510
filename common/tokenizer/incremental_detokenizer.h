// Streaming detokenization: turns generated token ids, fed one at a time, into text deltas that never split a UTF-8
// character and never repeat or drop text. Follows vLLM's detokenize_incrementally (prefix_offset/read_offset over
// token strings, decoded with the tokenizer's decoder as a fast tokenizer does), so byte-fallback "<0x..>" and
// byte-level tokens that complete a character only later, and Llama 2's leading space after the prompt, come out
// exactly as vLLM streams them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/tokenizer/tokenizer.h"

namespace tessera {

struct DetokenizerOptions {
  // Special tokens produce no text (vLLM's default).
  bool skip_special_tokens = true;
  // When false, an added token that directly follows another added token is emitted as its bare content (vLLM v1's
  // fast detokenizer rule); only matters for decoders that put spaces between tokens. Ignored while
  // skip_special_tokens is set, as in vLLM.
  bool spaces_between_special_tokens = true;
};

class IncrementalDetokenizer {
 public:
  // prompt_ids give the context the first generated token is decoded against (only their last few tokens are used,
  // as in vLLM); the prompt's own text is never emitted. The tokenizer must outlive this object.
  IncrementalDetokenizer(const Tokenizer& tokenizer, absl::Span<const int32_t> prompt_ids,
                         DetokenizerOptions options = {});

  // Feeds one generated id and returns the text it completes (often empty while a character is incomplete).
  absl::StatusOr<std::string> Step(int32_t id);
  // At the end of generation: returns whatever is still held back (text ending in an incomplete character, which
  // decodes to U+FFFD), so that the deltas add up to the full decoded text.
  absl::StatusOr<std::string> Flush();

  // Concatenation of every delta returned so far.
  const std::string& text() const { return text_; }

 private:
  absl::StatusOr<std::string> DecodeWindow(size_t begin, size_t end) const;
  void AppendToken(int32_t id);
  void TrimHistory();

  const Tokenizer& tokenizer_;
  DetokenizerOptions options_;
  std::vector<std::string> tokens_;  // token strings (prompt tail + generated), as vLLM's prev_tokens
  size_t prefix_offset_ = 0;
  size_t read_offset_ = 0;
  bool last_was_added_ = false;
  std::string text_;
};

}  // namespace tessera
