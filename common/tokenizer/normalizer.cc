#include "common/tokenizer/normalizer.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tokenizer/regex.h"
#include "common/tokenizer/unicode_normalization.h"
#include "common/tokenizer/utf8.h"

namespace tessera::tok {
namespace {

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  absl::Status Normalize(std::string* text) const override {
    for (const auto& step : steps_) RETURN_IF_ERROR(step->Normalize(text));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalizationForm form) : form_(form) {}
  absl::Status Normalize(std::string* text) const override {
    if (!IsQuickNormalized(*text, form_)) *text = NormalizeUnicode(*text, form_);
    return absl::OkStatus();
  }

 private:
  NormalizationForm form_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  absl::Status Normalize(std::string* text) const override {
    if (!text->empty()) text->insert(0, prefix_);
    return absl::OkStatus();
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  absl::Status Normalize(std::string* text) const override {
    ASSIGN_OR_RETURN(*text, pattern_.ReplaceAll(*text, content_));
    return absl::OkStatus();
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  absl::Status Normalize(std::string* text) const override {
    size_t begin = 0, end = text->size();
    if (left_) {
      while (begin < end) {
        size_t len;
        if (!IsUnicodeWhitespace(DecodeValid(*text, begin, &len))) break;
        begin += len;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>((*text)[start]) & 0xC0) == 0x80) --start;
        size_t len;
        if (!IsUnicodeWhitespace(DecodeValid(*text, start, &len))) break;
        end = start;
      }
    }
    *text = text->substr(begin, end - begin);
    return absl::OkStatus();
  }

 private:
  bool left_, right_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  absl::Status Normalize(std::string* text) const override {
    *text = ToLowercase(*text);
    return absl::OkStatus();
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> ParseNormalizer(const nlohmann::json& json) {
  if (json.is_null()) return std::unique_ptr<Normalizer>();
  if (!json.is_object() || !json.contains("type") || !json["type"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("normalizer: expected an object with a \"type\", got ", json.dump()));
  }
  const std::string type = json["type"].get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const auto& step : json.at("normalizers")) {
      ASSIGN_OR_RETURN(auto normalizer, ParseNormalizer(step));
      if (normalizer != nullptr) steps.push_back(std::move(normalizer));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(steps)));
  }
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(NormalizationForm::kNFC));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(NormalizationForm::kNFD));
  if (type == "NFKC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(NormalizationForm::kNFKC));
  if (type == "NFKD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(NormalizationForm::kNFKD));
  if (type == "Prepend")
    return std::unique_ptr<Normalizer>(new PrependNormalizer(json.at("prepend").get<std::string>()));
  if (type == "Replace") {
    ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(json.at("pattern"), "normalizer Replace.pattern"));
    return std::unique_ptr<Normalizer>(
        new ReplaceNormalizer(std::move(pattern), json.at("content").get<std::string>()));
  }
  if (type == "Strip") {
    return std::unique_ptr<Normalizer>(
        new StripNormalizer(json.value("strip_left", true), json.value("strip_right", true)));
  }
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new LowercaseNormalizer());
  return absl::InvalidArgumentError(absl::StrCat("unsupported normalizer type '", type,
                                                 "' (supported: Sequence, NFC, NFD, NFKC, NFKD, Prepend, Replace, "
                                                 "Strip, Lowercase)"));
}

}  // namespace tessera::tok
