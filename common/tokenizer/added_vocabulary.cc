#include "common/tokenizer/added_vocabulary.h"

#include <memory>

#include "common/status_macros.h"
#include "common/tokenizer/regex.h"
#include "common/tokenizer/utf8.h"

namespace tessera::tok {
namespace {

// Word characters as Rust's regex \w sees them (letters, digits, underscore), for single_word tokens.
bool IsWordChar(std::string_view text, size_t pos) {
  const unsigned char b = static_cast<unsigned char>(text[pos]);
  if (b < 0x80) return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b == '_';
  static const Regex* word = Regex::Compile(R"(\w)").value().release();
  return word->MatchesAtStart(text.substr(pos));
}

size_t PreviousCharStart(std::string_view text, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return start;
}

}  // namespace

void AddedVocabulary::Trie::Insert(std::string_view key, int32_t token_index) {
  if (terminal.empty()) terminal.push_back(-1);
  int32_t node = 0;
  for (char c : key) {
    const uint64_t edge = (static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(c);
    auto it = edges.find(edge);
    if (it == edges.end()) {
      const int32_t child = static_cast<int32_t>(terminal.size());
      terminal.push_back(-1);
      edges.emplace(edge, child);
      node = child;
    } else {
      node = it->second;
    }
  }
  // The first token listed wins when two share a content.
  if (terminal[node] < 0) terminal[node] = token_index;
  first_byte[static_cast<uint8_t>(key[0])] = true;
}

size_t AddedVocabulary::Trie::LongestAt(std::string_view text, size_t pos, int32_t* token_index) const {
  int32_t node = 0;
  size_t best = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = edges.find((static_cast<uint64_t>(node) << 8) | static_cast<uint8_t>(text[i]));
    if (it == edges.end()) break;
    node = it->second;
    if (terminal[node] >= 0) {
      best = i + 1 - pos;
      *token_index = terminal[node];
    }
  }
  return best;
}

absl::StatusOr<AddedVocabulary> AddedVocabulary::Build(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
  AddedVocabulary vocabulary;
  vocabulary.tokens_ = std::move(tokens);
  for (size_t i = 0; i < vocabulary.tokens_.size(); ++i) {
    const AddedToken& token = vocabulary.tokens_[i];
    vocabulary.by_id_.try_emplace(token.id, i);
    vocabulary.by_content_.try_emplace(token.content, i);
    if (token.content.empty()) continue;
    if (token.normalized && normalizer != nullptr) {
      std::string content = token.content;
      RETURN_IF_ERROR(normalizer->Normalize(&content));
      if (!content.empty()) vocabulary.normalized_.Insert(content, static_cast<int32_t>(i));
    } else if (token.normalized) {
      vocabulary.normalized_.Insert(token.content, static_cast<int32_t>(i));
    } else {
      vocabulary.raw_.Insert(token.content, static_cast<int32_t>(i));
    }
  }
  return vocabulary;
}

const AddedToken* AddedVocabulary::FindById(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::FindByContent(std::string_view content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

absl::Status AddedVocabulary::Split(const Trie& trie, std::string_view text, SegmentSink sink) const {
  if (text.empty()) return absl::OkStatus();
  if (trie.empty()) return sink({0, text.size(), -1});
  size_t emitted = 0;  // text before this offset has been passed on
  size_t pos = 0;
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    int32_t index = -1;
    const size_t length = trie.LongestAt(text, pos, &index);
    if (length == 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t start = pos;
    size_t stop = pos + length;
    if (token.single_word) {
      const bool space_before = start == 0 || !IsWordChar(text, PreviousCharStart(text, start));
      const bool space_after = stop == text.size() || !IsWordChar(text, stop);
      if (!space_before || !space_after) {
        pos = stop;  // a rejected match is consumed, as the Aho-Corasick iteration does
        continue;
      }
    }
    if (token.lstrip) {
      // Absorb the whitespace before the token, but not what an earlier token already took.
      while (start > emitted) {
        const size_t prev = PreviousCharStart(text, start);
        size_t len;
        if (!IsUnicodeWhitespace(DecodeValid(text, prev, &len))) break;
        start = prev;
      }
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        size_t len;
        if (!IsUnicodeWhitespace(DecodeValid(text, stop, &len))) break;
        stop += len;
      }
    }
    if (emitted < start) RETURN_IF_ERROR(sink({emitted, start, -1}));
    RETURN_IF_ERROR(sink({start, stop, token.id}));
    emitted = stop;
    pos = stop;
  }
  if (emitted < text.size()) RETURN_IF_ERROR(sink({emitted, text.size(), -1}));
  return absl::OkStatus();
}

}  // namespace tessera::tok
