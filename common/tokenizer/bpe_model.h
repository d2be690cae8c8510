// The BPE model of a Hugging Face tokenizer.json ("model" with type BPE): vocabulary, ranked merges, byte fallback,
// unknown token, ignore_merges, subword prefix/suffix. Tokenizes one pre-tokenized word at a time with a
// priority-queue merge (n log n per word) and a bounded, lock-sharded word cache that is safe to share across threads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "common/tokenizer/string_map.h"
#include "common/tokenizer/tokenizer_json_reader.h"
#include "nlohmann/json.hpp"

namespace tessera::tok {

class BpeModel {
 public:
  // Parses the "model" object. Merges may be "a b" strings or ["a", "b"] pairs. When collected is given and holds the
  // vocabulary and/or merges (see tokenizer_json_reader.h), those are used (and consumed) instead of the JSON fields.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model,
                                                            TokenizerJson* collected = nullptr);
  ~BpeModel();

  // Appends the ids of one word (already pre-tokenized and, for byte-level models, byte-mapped).
  void Tokenize(std::string_view word, std::vector<int32_t>* ids) const;

  std::optional<int32_t> TokenToId(std::string_view token) const;
  // Null when id is not in the vocabulary.
  const std::string* IdToToken(int32_t id) const;
  // Largest id in the vocabulary, or -1 when it is empty.
  int32_t max_id() const { return static_cast<int32_t>(id_to_token_.size()) - 1; }
  bool byte_fallback() const { return byte_fallback_; }

 private:
  struct MergeResult {
    int32_t rank;
    int32_t new_id;
  };
  class WordCache;

  BpeModel();

  // Splits word into initial symbols (ids with byte lengths), applying byte fallback and the unknown token.
  void InitialSymbols(std::string_view word, std::vector<int32_t>* ids, std::vector<uint32_t>* lengths) const;
  int32_t CharId(std::string_view ch, char32_t cp, bool first, bool last) const;
  void MergeWord(std::string_view word, std::vector<int32_t>* ids) const;
  const MergeResult* FindMerge(int32_t left, int32_t right) const {
    auto it = merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right));
    return it == merges_.end() ? nullptr : &it->second;
  }

  StringMap<int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> id_present_;
  absl::flat_hash_map<uint64_t, MergeResult> merges_;
  std::vector<int32_t> small_char_ids_;                    // code point < 0x800 -> id of that single character
  absl::flat_hash_map<char32_t, int32_t> large_char_ids_;  // the other single-character tokens
  std::array<int32_t, 256> byte_fallback_ids_;             // "<0xXX>" tokens
  std::optional<int32_t> unk_id_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::unique_ptr<WordCache> cache_;
};

}  // namespace tessera::tok
