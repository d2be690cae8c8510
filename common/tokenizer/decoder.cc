#include "common/tokenizer/decoder.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/regex.h"
#include "common/tokenizer/utf8.h"

namespace tessera::tok {
namespace {

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& step : steps_) RETURN_IF_ERROR(step->DecodeChain(tokens));
    return absl::OkStatus();
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// Maps byte-level characters back to bytes across all tokens at once, so that a character split over several tokens
// is reassembled, then repairs any invalid UTF-8 with U+FFFD. A token containing a character outside the alphabet
// (an added token such as "<｜User｜>") is kept as its raw bytes.
class ByteLevelDecoder : public Decoder {
 public:
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::Get();
    std::string bytes;
    for (const std::string& token : *tokens) {
      const size_t mark = bytes.size();
      bool in_alphabet = true;
      size_t pos = 0;
      while (pos < token.size()) {
        const size_t len = ValidSequenceLength(token, pos);
        int b = -1;
        if (len > 0) {
          size_t decoded_len;
          b = alphabet.Decode(DecodeValid(token, pos, &decoded_len));
        }
        if (b < 0) {
          in_alphabet = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
        pos += len;
      }
      if (!in_alphabet) {
        bytes.resize(mark);
        bytes.append(token);
      }
    }
    tokens->clear();
    tokens->push_back(IsValidUtf8(bytes) ? std::move(bytes) : RepairUtf8(bytes));
    return absl::OkStatus();
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      std::string& token = (*tokens)[i];
      std::string out;
      out.reserve(token.size());
      size_t pos = 0;
      while (pos < token.size()) {
        if (!replacement_.empty() && token.compare(pos, replacement_.size(), replacement_) == 0) {
          // Hugging Face drops every replacement character of the first token when a prefix space was prepended.
          if (!(i == 0 && strip_first_)) out.push_back(' ');
          pos += replacement_.size();
        } else {
          out.push_back(token[pos++]);
        }
      }
      token = std::move(out);
    }
    return absl::OkStatus();
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& token : *tokens) {
      ASSIGN_OR_RETURN(token, pattern_.ReplaceAll(token, content_));
    }
    return absl::OkStatus();
  }

 private:
  Pattern pattern_;
  std::string content_;
};

int ParseByteToken(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = token[i];
    value *= 16;
    if (c >= '0' && c <= '9')
      value += c - '0';
    else if (c >= 'A' && c <= 'F')
      value += c - 'A' + 10;
    else if (c >= 'a' && c <= 'f')
      value += c - 'a' + 10;
    else
      return -1;
  }
  return value;
}

// Turns runs of "<0xXX>" tokens into the text they encode; an invalid run becomes one U+FFFD per byte.
class ByteFallbackDecoder : public Decoder {
 public:
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens->size());
    std::string pending;
    size_t pending_count = 0;
    auto flush = [&] {
      if (pending_count == 0) return;
      if (IsValidUtf8(pending)) {
        out.push_back(pending);
      } else {
        for (size_t i = 0; i < pending_count; ++i) out.emplace_back(kReplacementUtf8);
      }
      pending.clear();
      pending_count = 0;
    };
    for (std::string& token : *tokens) {
      const int byte = ParseByteToken(token);
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
        ++pending_count;
        continue;
      }
      flush();
      out.push_back(std::move(token));
    }
    flush();
    *tokens = std::move(out);
    return absl::OkStatus();
  }
};

class FuseDecoder : public Decoder {
 public:
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    std::string joined;
    for (const std::string& token : *tokens) joined += token;
    tokens->clear();
    tokens->push_back(std::move(joined));
    return absl::OkStatus();
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  absl::Status DecodeChain(std::vector<std::string>* tokens) const override {
    if (content_.empty()) return absl::OkStatus();
    for (std::string& token : *tokens) {
      size_t begin = 0;
      for (size_t i = 0; i < start_ && token.compare(begin, content_.size(), content_) == 0; ++i) {
        begin += content_.size();
      }
      size_t end = token.size();
      for (size_t i = 0; i < stop_ && end >= begin + content_.size() &&
                         token.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i) {
        end -= content_.size();
      }
      token = token.substr(begin, end - begin);
    }
    return absl::OkStatus();
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Decoder>> ParseDecoder(const nlohmann::json& json) {
  if (json.is_null()) return std::unique_ptr<Decoder>();
  if (!json.is_object() || !json.contains("type") || !json["type"].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("decoder: expected an object with a \"type\", got ", json.dump()));
  }
  const std::string type = json["type"].get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> steps;
    for (const auto& step : json.at("decoders")) {
      ASSIGN_OR_RETURN(auto decoder, ParseDecoder(step));
      if (decoder != nullptr) steps.push_back(std::move(decoder));
    }
    return std::unique_ptr<Decoder>(new SequenceDecoder(std::move(steps)));
  }
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "Metaspace") {
    bool strip_first = json.value("add_prefix_space", true);
    if (json.contains("prepend_scheme") && json["prepend_scheme"].is_string()) {
      strip_first = json["prepend_scheme"].get<std::string>() != "never";
    }
    return std::unique_ptr<Decoder>(
        new MetaspaceDecoder(json.value("replacement", std::string("\xE2\x96\x81")), strip_first));
  }
  if (type == "Replace") {
    ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(json.at("pattern"), "decoder Replace.pattern"));
    return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(pattern), json.at("content").get<std::string>()));
  }
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Strip") {
    return std::unique_ptr<Decoder>(
        new StripDecoder(json.value("content", std::string(" ")), json.value("start", 0), json.value("stop", 0)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported decoder type '", type,
                   "' (supported: Sequence, ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip)"));
}

}  // namespace tessera::tok
