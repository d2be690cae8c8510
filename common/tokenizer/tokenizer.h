// Text <-> token ids for Hugging Face models: loads tokenizer.json (+ tokenizer_config.json) and reproduces the
// `tokenizers` library's encode/decode exactly for the BPE tokenizers of Qwen, Llama 2/3, DeepSeek and alike.
// All methods are const and safe to call concurrently.
//
// Encode pipeline: invalid UTF-8 is replaced with U+FFFD (like Rust's from_utf8_lossy) -> added tokens are cut out
// -> normalizer -> pre-tokenizer -> BPE -> post-processor (only with add_special_tokens).
// Special tokens come from the tokenizer.json post-processor; tokenizer_config.json's add_bos_token/add_eos_token
// apply only when tokenizer.json has no post-processor (this is what the `tokenizers` library and transformers.js do;
// the reference ids in tests/fixtures/golden_text.json follow it).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace tessera {

namespace tok {
class AddedVocabulary;
class BpeModel;
class Decoder;
class Normalizer;
class PostProcessor;
class PreTokenizer;
}  // namespace tok

class Tokenizer {
 public:
  // tokenizer_config_path may be empty (no bos/eos information then).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(const std::string& tokenizer_json_path,
                                                             const std::string& tokenizer_config_path = "");
  // Loads model_dir/tokenizer.json and, when present, model_dir/tokenizer_config.json.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFolder(const std::string& model_dir);
  // From file contents; config_json may be empty. source names the origin in error messages.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(std::string_view tokenizer_json,
                                                             std::string_view config_json = "",
                                                             std::string_view source = "tokenizer.json");
  ~Tokenizer();

  // Any bytes are accepted: invalid UTF-8 sequences are encoded as U+FFFD.
  absl::StatusOr<std::vector<int32_t>> Encode(std::string_view text, bool add_special_tokens) const;
  // Ids outside the vocabulary are skipped (a model may sample from a padded vocabulary).
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids, bool skip_special_tokens) const;

  // One past the largest id (model vocabulary and added tokens).
  int32_t vocab_size() const { return vocab_size_; }
  std::optional<int32_t> TokenToId(std::string_view token) const;
  std::optional<std::string> IdToToken(int32_t id) const;
  // Special added tokens and the special tokens named by tokenizer_config.json.
  bool IsSpecial(int32_t id) const { return special_ids_.contains(id); }
  // Any added token (special or not); these are decoded as their content and never merged.
  bool IsAddedToken(int32_t id) const;
  std::optional<int32_t> bos_token_id() const { return bos_token_id_; }
  std::optional<int32_t> eos_token_id() const { return eos_token_id_; }

  // The token string of id (vocabulary form, e.g. "Ġhello" or "<0x0A>"), or null for an unknown id.
  const std::string* TokenString(int32_t id) const;
  // Runs the decoder over token strings (Hugging Face's convert_tokens_to_string for fast tokenizers).
  absl::StatusOr<std::string> DecodeTokenStrings(std::vector<std::string> tokens) const;

 private:
  Tokenizer();
  absl::Status EncodePlainText(std::string_view text, bool at_start, std::vector<int32_t>* ids) const;

  std::unique_ptr<tok::BpeModel> model_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<tok::PostProcessor> post_processor_;
  std::unique_ptr<tok::Decoder> decoder_;
  std::unique_ptr<tok::AddedVocabulary> added_;
  absl::flat_hash_set<int32_t> special_ids_;
  std::optional<int32_t> bos_token_id_;
  std::optional<int32_t> eos_token_id_;
  bool config_add_bos_ = false;
  bool config_add_eos_ = false;
  int32_t vocab_size_ = 0;
};

}  // namespace tessera
