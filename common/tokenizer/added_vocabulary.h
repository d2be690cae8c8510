// Added tokens of a tokenizer.json ("added_tokens"): special and ordinary tokens that are cut out of the input before
// normalization and pre-tokenization, honoring single_word, lstrip, rstrip and normalized, with leftmost-longest
// matching like Hugging Face's Aho-Corasick matcher.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tokenizer/normalizer.h"
#include "common/tokenizer/string_map.h"

namespace tessera::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// A piece of the input: plain text (token_id < 0) or an added token.
struct AddedTokenSegment {
  size_t start;
  size_t end;
  int32_t token_id;
};
using SegmentSink = absl::FunctionRef<absl::Status(const AddedTokenSegment&)>;

class AddedVocabulary {
 public:
  // normalizer (may be null) normalizes the content of tokens marked normalized, which are then matched in
  // normalized text.
  static absl::StatusOr<AddedVocabulary> Build(std::vector<AddedToken> tokens, const Normalizer* normalizer);

  // Splits raw text on the tokens that are not normalized.
  absl::Status SplitRaw(std::string_view text, SegmentSink sink) const { return Split(raw_, text, sink); }
  // Splits normalized text on the tokens that are normalized.
  absl::Status SplitNormalized(std::string_view text, SegmentSink sink) const { return Split(normalized_, text, sink); }

  const AddedToken* FindById(int32_t id) const;
  const AddedToken* FindByContent(std::string_view content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  // Byte trie with leftmost-longest search.
  struct Trie {
    absl::flat_hash_map<uint64_t, int32_t> edges;  // (node << 8 | byte) -> child
    std::vector<int32_t> terminal;                 // node -> token index or -1
    bool first_byte[256] = {};
    bool empty() const { return terminal.size() <= 1; }
    void Insert(std::string_view key, int32_t token_index);
    // Longest key starting at text[pos]: returns its length and sets *token_index, or 0.
    size_t LongestAt(std::string_view text, size_t pos, int32_t* token_index) const;
  };

  absl::Status Split(const Trie& trie, std::string_view text, SegmentSink sink) const;

  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<int32_t, size_t> by_id_;
  StringMap<size_t> by_content_;
  Trie raw_;
  Trie normalized_;
};

}  // namespace tessera::tok
