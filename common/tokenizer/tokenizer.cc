#include "common/tokenizer/tokenizer.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tokenizer/added_vocabulary.h"
#include "common/tokenizer/bpe_model.h"
#include "common/tokenizer/decoder.h"
#include "common/tokenizer/normalizer.h"
#include "common/tokenizer/post_processor.h"
#include "common/tokenizer/pre_tokenizer.h"
#include "common/tokenizer/tokenizer_json_reader.h"
#include "common/tokenizer/utf8.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return contents.str();
}

bool FileExists(const std::string& path) { return std::ifstream(path).good(); }

// A tokenizer_config.json token entry: "content" or {"content": ...}; empty when absent or null.
std::string ConfigTokenContent(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return "";
  const nlohmann::json& value = config[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  return "";
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& tokenizer_json_path,
                                                               const std::string& tokenizer_config_path) {
  ASSIGN_OR_RETURN(std::string tokenizer_json, ReadFile(tokenizer_json_path));
  std::string config_json;
  if (!tokenizer_config_path.empty()) {
    ASSIGN_OR_RETURN(config_json, ReadFile(tokenizer_config_path));
  }
  return FromJson(tokenizer_json, config_json, tokenizer_json_path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFolder(const std::string& model_dir) {
  const std::string json_path = model_dir + "/tokenizer.json";
  const std::string config_path = model_dir + "/tokenizer_config.json";
  if (!FileExists(json_path)) {
    return absl::NotFoundError(absl::StrCat(model_dir,
                                            " has no tokenizer.json (only Hugging Face fast tokenizer "
                                            "files are supported)"));
  }
  return FromFile(json_path, FileExists(config_path) ? config_path : "");
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view tokenizer_json,
                                                               std::string_view config_json, std::string_view source) {
  ASSIGN_OR_RETURN(tok::TokenizerJson document, tok::ReadTokenizerJson(tokenizer_json, source));
  const nlohmann::json& root = document.root;
  if (!root.is_object()) return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": not a JSON object"));
  nlohmann::json config = nlohmann::json::object();
  if (!config_json.empty()) {
    config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(source), ": tokenizer_config.json is not a valid JSON object"));
    }
  }
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  auto annotate = [&](const absl::Status& status) {
    return absl::Status(status.code(), absl::StrCat(std::string(source), ": ", status.message()));
  };
  static const nlohmann::json kNull;
  // Looked up by reference: value() would copy the multi-megabyte vocabulary.
  auto field = [&](const char* key) -> const nlohmann::json& {
    auto it = root.find(key);
    return it == root.end() ? kNull : *it;
  };
  try {
    auto model = tok::BpeModel::FromJson(field("model"), &document);
    if (!model.ok()) return annotate(model.status());
    tokenizer->model_ = std::move(*model);
    auto normalizer = tok::ParseNormalizer(field("normalizer"));
    if (!normalizer.ok()) return annotate(normalizer.status());
    tokenizer->normalizer_ = std::move(*normalizer);
    auto pre_tokenizer = tok::ParsePreTokenizer(field("pre_tokenizer"));
    if (!pre_tokenizer.ok()) return annotate(pre_tokenizer.status());
    tokenizer->pre_tokenizer_ = std::move(*pre_tokenizer);
    auto post_processor = tok::ParsePostProcessor(field("post_processor"));
    if (!post_processor.ok()) return annotate(post_processor.status());
    tokenizer->post_processor_ = std::move(*post_processor);
    auto decoder = tok::ParseDecoder(field("decoder"));
    if (!decoder.ok()) return annotate(decoder.status());
    tokenizer->decoder_ = std::move(*decoder);

    std::vector<tok::AddedToken> added_tokens;
    if (root.contains("added_tokens") && root["added_tokens"].is_array()) {
      for (const auto& entry : root["added_tokens"]) {
        tok::AddedToken token;
        token.id = entry.at("id").get<int32_t>();
        token.content = entry.at("content").get<std::string>();
        token.single_word = entry.value("single_word", false);
        token.lstrip = entry.value("lstrip", false);
        token.rstrip = entry.value("rstrip", false);
        token.normalized = entry.value("normalized", !entry.value("special", false));
        token.special = entry.value("special", false);
        if (token.id < 0)
          return annotate(
              absl::InvalidArgumentError(absl::StrCat("added_tokens: '", token.content, "' has a negative id")));
        added_tokens.push_back(std::move(token));
      }
    }
    auto added = tok::AddedVocabulary::Build(std::move(added_tokens), tokenizer->normalizer_.get());
    if (!added.ok()) return annotate(added.status());
    tokenizer->added_ = std::make_unique<tok::AddedVocabulary>(std::move(*added));

    int32_t max_id = tokenizer->model_->max_id();
    for (const tok::AddedToken& token : tokenizer->added_->tokens()) {
      max_id = std::max(max_id, token.id);
      if (token.special) tokenizer->special_ids_.insert(token.id);
    }
    tokenizer->vocab_size_ = max_id + 1;

    // tokenizer_config.json: bos/eos and the tokens it declares special.
    auto id_of = [&](const std::string& content) -> std::optional<int32_t> {
      if (content.empty()) return std::nullopt;
      return tokenizer->TokenToId(content);
    };
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      if (auto id = id_of(ConfigTokenContent(config, key))) tokenizer->special_ids_.insert(*id);
    }
    if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
      for (const auto& entry : config["additional_special_tokens"]) {
        std::string content = entry.is_string()   ? entry.get<std::string>()
                              : entry.is_object() ? entry.value("content", std::string())
                                                  : std::string();
        if (auto id = id_of(content)) tokenizer->special_ids_.insert(*id);
      }
    }
    tokenizer->bos_token_id_ = id_of(ConfigTokenContent(config, "bos_token"));
    tokenizer->eos_token_id_ = id_of(ConfigTokenContent(config, "eos_token"));
    tokenizer->config_add_bos_ = config.value("add_bos_token", false) && tokenizer->bos_token_id_.has_value();
    tokenizer->config_add_eos_ = config.value("add_eos_token", false) && tokenizer->eos_token_id_.has_value();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": malformed field: ", e.what()));
  }
  return tokenizer;
}

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  if (const tok::AddedToken* added = added_->FindByContent(token)) return added->id;
  return model_->TokenToId(token);
}

const std::string* Tokenizer::TokenString(int32_t id) const {
  if (const tok::AddedToken* added = added_->FindById(id)) return &added->content;
  return model_->IdToToken(id);
}

std::optional<std::string> Tokenizer::IdToToken(int32_t id) const {
  const std::string* token = TokenString(id);
  if (token == nullptr) return std::nullopt;
  return *token;
}

bool Tokenizer::IsAddedToken(int32_t id) const { return added_->FindById(id) != nullptr; }

absl::Status Tokenizer::EncodePlainText(std::string_view text, bool at_start, std::vector<int32_t>* ids) const {
  auto tokenize_word = [&](std::string_view word, bool) {
    model_->Tokenize(word, ids);
    return absl::OkStatus();
  };
  if (pre_tokenizer_ == nullptr) return tokenize_word(text, at_start);
  return pre_tokenizer_->PreTokenize(text, at_start, tokenize_word);
}

absl::StatusOr<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!tok::IsValidUtf8(text)) {
    repaired = tok::RepairUtf8(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  RETURN_IF_ERROR(added_->SplitRaw(text, [&](const tok::AddedTokenSegment& segment) -> absl::Status {
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
      return absl::OkStatus();
    }
    std::string_view piece = text.substr(segment.start, segment.end - segment.start);
    const bool at_start = segment.start == 0;
    std::string normalized;
    if (normalizer_ != nullptr) {
      normalized.assign(piece);
      RETURN_IF_ERROR(normalizer_->Normalize(&normalized));
      piece = normalized;
    }
    return added_->SplitNormalized(piece, [&](const tok::AddedTokenSegment& inner) -> absl::Status {
      if (inner.token_id >= 0) {
        ids.push_back(inner.token_id);
        return absl::OkStatus();
      }
      return EncodePlainText(piece.substr(inner.start, inner.end - inner.start), at_start && inner.start == 0, &ids);
    });
  }));
  if (add_special_tokens) {
    if (post_processor_ != nullptr) {
      ids = post_processor_->Process(std::move(ids));
    } else {
      if (config_add_bos_) ids.insert(ids.begin(), *bos_token_id_);
      if (config_add_eos_) ids.push_back(*eos_token_id_);
    }
  }
  return ids;
}

absl::StatusOr<std::string> Tokenizer::DecodeTokenStrings(std::vector<std::string> tokens) const {
  if (decoder_ == nullptr) {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) joined.push_back(' ');
      joined += tokens[i];
    }
    return joined;
  }
  RETURN_IF_ERROR(decoder_->DecodeChain(&tokens));
  std::string text;
  for (const std::string& token : tokens) text += token;
  return text;
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special_tokens && IsSpecial(id)) continue;
    const std::string* token = TokenString(id);
    if (token != nullptr) tokens.push_back(*token);
  }
  return DecodeTokenStrings(std::move(tokens));
}

}  // namespace tessera
