#include "common/tokenizer/incremental_detokenizer.h"

#include <algorithm>

#include "common/status_macros.h"
#include "common/tokenizer/utf8.h"

namespace tessera {
namespace {

// vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET: how many prompt tokens of context the first decode sees.
constexpr size_t kInitialOffset = 5;
// Token strings older than the decode window are dropped once this many accumulate.
constexpr size_t kTrimThreshold = 1024;

bool EndsWithReplacementChar(const std::string& text) {
  return text.size() >= tok::kReplacementUtf8.size() &&
         std::string_view(text).substr(text.size() - tok::kReplacementUtf8.size()) == tok::kReplacementUtf8;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, absl::Span<const int32_t> prompt_ids,
                                               DetokenizerOptions options)
    : tokenizer_(tokenizer), options_(options) {
  if (options_.skip_special_tokens) options_.spaces_between_special_tokens = true;
  const size_t context = std::min(prompt_ids.size(), kInitialOffset + 2);
  for (int32_t id : prompt_ids.subspan(prompt_ids.size() - context)) AppendToken(id);
  read_offset_ = tokens_.size();
  prefix_offset_ = read_offset_ > kInitialOffset ? read_offset_ - kInitialOffset : 0;
  if (!prompt_ids.empty()) last_was_added_ = tokenizer_.IsAddedToken(prompt_ids.back());
}

void IncrementalDetokenizer::AppendToken(int32_t id) {
  if (options_.skip_special_tokens && tokenizer_.IsSpecial(id)) return;
  const std::string* token = tokenizer_.TokenString(id);
  // An id outside the vocabulary decodes to nothing, as in vLLM.
  tokens_.push_back(token != nullptr ? *token : std::string());
}

absl::StatusOr<std::string> IncrementalDetokenizer::DecodeWindow(size_t begin, size_t end) const {
  return tokenizer_.DecodeTokenStrings(std::vector<std::string>(tokens_.begin() + begin, tokens_.begin() + end));
}

void IncrementalDetokenizer::TrimHistory() {
  if (prefix_offset_ < kTrimThreshold) return;
  tokens_.erase(tokens_.begin(), tokens_.begin() + prefix_offset_);
  read_offset_ -= prefix_offset_;
  prefix_offset_ = 0;
}

absl::StatusOr<std::string> IncrementalDetokenizer::Step(int32_t id) {
  AppendToken(id);
  ASSIGN_OR_RETURN(std::string prefix_text, DecodeWindow(prefix_offset_, read_offset_));
  ASSIGN_OR_RETURN(std::string new_text, DecodeWindow(prefix_offset_, tokens_.size()));
  const size_t prefix_chars = tok::CountCodePoints(prefix_text);
  std::string delta;
  // A trailing U+FFFD is most likely a character whose remaining bytes come with the next tokens: wait for them.
  if (tok::CountCodePoints(new_text) > prefix_chars && !EndsWithReplacementChar(new_text)) {
    if (new_text.compare(0, prefix_text.size(), prefix_text) == 0) {
      delta = new_text.substr(prefix_text.size());
    } else {
      // The decoder rewrote the shared prefix (e.g. a character completed across the boundary): cut by characters
      // like vLLM's Python slicing, which always lands on a character boundary.
      delta = new_text.substr(tok::ByteOffsetOfCodePoint(new_text, prefix_chars));
    }
    prefix_offset_ = read_offset_;
    read_offset_ = tokens_.size();
    TrimHistory();
  }
  const bool is_added = tokenizer_.IsAddedToken(id);
  if (!options_.spaces_between_special_tokens && is_added && last_was_added_) {
    if (const std::string* content = tokenizer_.TokenString(id)) delta = *content;
  }
  last_was_added_ = is_added;
  text_ += delta;
  return delta;
}

absl::StatusOr<std::string> IncrementalDetokenizer::Flush() {
  if (read_offset_ == tokens_.size()) return std::string();
  ASSIGN_OR_RETURN(std::string prefix_text, DecodeWindow(prefix_offset_, read_offset_));
  ASSIGN_OR_RETURN(std::string new_text, DecodeWindow(prefix_offset_, tokens_.size()));
  std::string delta;
  const size_t prefix_chars = tok::CountCodePoints(prefix_text);
  if (tok::CountCodePoints(new_text) > prefix_chars) {
    delta = new_text.compare(0, prefix_text.size(), prefix_text) == 0
                ? new_text.substr(prefix_text.size())
                : new_text.substr(tok::ByteOffsetOfCodePoint(new_text, prefix_chars));
  }
  prefix_offset_ = read_offset_;
  read_offset_ = tokens_.size();
  text_ += delta;
  return delta;
}

}  // namespace tessera
