#include "common/tokenizer/tokenizer_json_reader.h"

#include "absl/strings/str_cat.h"

namespace tessera::tok {
namespace {

using Json = nlohmann::json;

class Reader : public nlohmann::json_sax<Json> {
 public:
  explicit Reader(TokenizerJson* out) : out_(out), dom_(out->root, /*allow_exceptions=*/false) {}

  bool null() override { return Capturing() ? Fail("null inside vocab/merges") : dom_.null(); }
  bool boolean(bool value) override { return Capturing() ? Fail("boolean inside vocab/merges") : dom_.boolean(value); }
  bool number_integer(number_integer_t value) override {
    if (mode_ == Mode::kVocab) return AddVocab(value);
    return Capturing() ? Fail("number inside merges") : dom_.number_integer(value);
  }
  bool number_unsigned(number_unsigned_t value) override {
    if (mode_ == Mode::kVocab) return AddVocab(static_cast<int64_t>(value));
    return Capturing() ? Fail("number inside merges") : dom_.number_unsigned(value);
  }
  bool number_float(number_float_t value, const string_t& text) override {
    return Capturing() ? Fail("non-integer inside vocab/merges") : dom_.number_float(value, text);
  }
  bool binary(binary_t& value) override { return Capturing() ? Fail("binary value") : dom_.binary(value); }

  bool string(string_t& value) override {
    if (mode_ == Mode::kVocab) return Fail(absl::StrCat("vocab entry '", pending_key_, "' has a non-integer id"));
    if (mode_ == Mode::kMerges) {
      if (depth_ == capture_depth_) {  // "left right"
        const size_t space = value.find(' ');
        const bool malformed = space == std::string::npos || value.find(' ', space + 1) != std::string::npos;
        if (malformed) {
          out_->merges.emplace_back(std::move(value), std::string());
        } else {
          out_->merges.emplace_back(value.substr(0, space), value.substr(space + 1));
        }
        out_->merge_is_malformed.push_back(malformed);
        return true;
      }
      pair_parts_.push_back(std::move(value));  // inside a ["left", "right"] pair
      return true;
    }
    return dom_.string(value);
  }

  bool start_object(std::size_t size) override {
    if (Capturing()) return Fail("object inside vocab/merges");
    if (IsModelField("vocab")) {
      mode_ = Mode::kVocab;
      capture_depth_ = ++depth_;
      out_->has_vocab = true;
      return dom_.null();
    }
    ++depth_;
    return dom_.start_object(size);
  }
  bool key(string_t& value) override {
    if (mode_ == Mode::kVocab) {
      pending_key_ = std::move(value);
      return true;
    }
    if (Capturing()) return Fail("object inside merges");
    if (keys_.size() < static_cast<size_t>(depth_ + 1)) keys_.resize(depth_ + 1);
    keys_[depth_] = value;
    return dom_.key(value);
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab && depth_ == capture_depth_) {
      mode_ = Mode::kNone;
      --depth_;
      return true;
    }
    --depth_;
    return dom_.end_object();
  }

  bool start_array(std::size_t size) override {
    if (mode_ == Mode::kMerges) {
      if (depth_ != capture_depth_) return Fail("merges nested too deeply");
      ++depth_;
      pair_parts_.clear();
      return true;
    }
    if (mode_ == Mode::kVocab) return Fail("array inside vocab");
    if (IsModelField("merges")) {
      mode_ = Mode::kMerges;
      capture_depth_ = ++depth_;
      out_->has_merges = true;
      return dom_.null();
    }
    ++depth_;
    return dom_.start_array(size);
  }
  bool end_array() override {
    if (mode_ == Mode::kMerges) {
      if (depth_ == capture_depth_) {
        mode_ = Mode::kNone;
        --depth_;
        return true;
      }
      --depth_;
      const bool ok = pair_parts_.size() == 2;
      out_->merges.emplace_back(ok ? std::move(pair_parts_[0]) : std::string(), ok ? std::move(pair_parts_[1]) : "");
      out_->merge_is_malformed.push_back(!ok);
      return true;
    }
    --depth_;
    return dom_.end_array();
  }

  bool parse_error(std::size_t position, const std::string& token, const nlohmann::detail::exception& e) override {
    error_ = absl::StrCat("JSON syntax error at byte ", position, ": ", e.what());
    return false;
  }

  const std::string& error() const { return error_; }

 private:
  enum class Mode { kNone, kVocab, kMerges };

  bool Capturing() const { return mode_ != Mode::kNone; }
  // True when the value about to start is root["model"][field].
  bool IsModelField(const char* field) const {
    return depth_ == 2 && keys_.size() >= 3 && keys_[1] == "model" && keys_[2] == field;
  }
  bool AddVocab(int64_t id) {
    out_->vocab.emplace_back(std::move(pending_key_), id);
    return true;
  }
  bool Fail(std::string message) {
    error_ = absl::StrCat("model.", mode_ == Mode::kVocab ? "vocab" : "merges", ": ", message);
    return false;
  }

  TokenizerJson* out_;
  nlohmann::detail::json_sax_dom_parser<Json> dom_;
  Mode mode_ = Mode::kNone;
  int depth_ = 0;  // open containers
  int capture_depth_ = 0;
  std::vector<std::string> keys_;  // keys_[d]: last key seen inside the container at depth d
  std::string pending_key_;
  std::vector<std::string> pair_parts_;
  std::string error_;
};

}  // namespace

absl::StatusOr<TokenizerJson> ReadTokenizerJson(std::string_view text, std::string_view source) {
  TokenizerJson out;
  Reader reader(&out);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &reader);
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(std::string(source), ": ", e.what()));
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": ", reader.error().empty() ? "not valid JSON" : reader.error()));
  }
  return out;
}

}  // namespace tessera::tok
