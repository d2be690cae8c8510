#include "common/tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/regex.h"
#include "common/tokenizer/utf8.h"

namespace tessera::tok {
namespace {

// GPT-2's word pattern, used by ByteLevel when use_regex is set.
constexpr char kGpt2Pattern[] = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

absl::StatusOr<SplitBehavior> ParseBehavior(const nlohmann::json& json, const char* where) {
  const std::string name = json.get<std::string>();
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return absl::InvalidArgumentError(absl::StrCat(where, ": unknown split behavior '", name, "'"));
}

struct Span {
  size_t start;
  size_t end;
  bool is_match;
};

// Splits text at the matches of `matcher` the way NormalizedString::split does in Hugging Face tokenizers.
template <typename Matcher>
absl::Status SplitText(std::string_view text, bool at_start, SplitBehavior behavior, bool invert,
                       const Matcher& matcher, PieceSink sink) {
  if (text.empty()) return absl::OkStatus();
  // The common case (Isolated/Removed) streams pieces without building a list.
  if (behavior == SplitBehavior::kIsolated || behavior == SplitBehavior::kRemoved) {
    size_t previous = 0;
    auto emit = [&](size_t start, size_t end, bool is_match) -> absl::Status {
      if (start == end) return absl::OkStatus();
      if (behavior == SplitBehavior::kRemoved && is_match != invert) return absl::OkStatus();
      return sink(text.substr(start, end - start), at_start && start == 0);
    };
    RETURN_IF_ERROR(matcher.ForEachMatch(text, [&](size_t start, size_t end) -> absl::Status {
      if (previous != start) RETURN_IF_ERROR(emit(previous, start, false));
      RETURN_IF_ERROR(emit(start, end, true));
      previous = end;
      return absl::OkStatus();
    }));
    if (previous != text.size()) RETURN_IF_ERROR(emit(previous, text.size(), false));
    return absl::OkStatus();
  }

  std::vector<Span> spans;
  size_t previous = 0;
  RETURN_IF_ERROR(matcher.ForEachMatch(text, [&](size_t start, size_t end) {
    if (previous != start) spans.push_back({previous, start, invert});
    spans.push_back({start, end, !invert});
    previous = end;
    return absl::OkStatus();
  }));
  if (previous != text.size()) spans.push_back({previous, text.size(), invert});

  std::vector<Span> merged;
  merged.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kMergedWithPrevious:
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !merged.empty()) {
          merged.back().end = s.end;
        } else {
          merged.push_back({s.start, s.end, false});
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) {
          merged.back().start = it->start;
        } else {
          merged.push_back({it->start, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    case SplitBehavior::kContiguous:
      for (size_t i = 0; i < spans.size(); ++i) {
        if (i > 0 && spans[i].is_match == previous_match && !merged.empty()) {
          merged.back().end = spans[i].end;
        } else {
          merged.push_back({spans[i].start, spans[i].end, false});
        }
        previous_match = spans[i].is_match;
      }
      break;
    default:
      break;
  }
  for (const Span& s : merged) {
    if (s.start == s.end) continue;
    RETURN_IF_ERROR(sink(text.substr(s.start, s.end - s.start), at_start && s.start == 0));
  }
  return absl::OkStatus();
}

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  absl::Status PreTokenize(std::string_view text, bool at_start, PieceSink sink) const override {
    return Run(0, text, at_start, sink);
  }

 private:
  absl::Status Run(size_t step, std::string_view text, bool at_start, PieceSink sink) const {
    if (step == steps_.size()) return sink(text, at_start);
    return steps_[step]->PreTokenize(text, at_start, [&](std::string_view piece, bool piece_at_start) {
      return Run(step + 1, piece, piece_at_start, sink);
    });
  }
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  absl::Status PreTokenize(std::string_view text, bool at_start, PieceSink sink) const override {
    return SplitText(text, at_start, behavior_, invert_, pattern_, sink);
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits with a compiled regex (for the built-in patterns of Digits, Whitespace, ...).
class RegexSplitPreTokenizer : public PreTokenizer {
 public:
  RegexSplitPreTokenizer(std::unique_ptr<Regex> regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  absl::Status PreTokenize(std::string_view text, bool at_start, PieceSink sink) const override {
    return SplitText(text, at_start, behavior_, invert_, *regex_, sink);
  }

 private:
  std::unique_ptr<Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::unique_ptr<Regex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}

  absl::Status PreTokenize(std::string_view text, bool at_start, PieceSink sink) const override {
    if (text.empty()) return absl::OkStatus();
    std::string prefixed;
    if (add_prefix_space_ && (text.empty() || text[0] != ' ')) {
      prefixed.reserve(text.size() + 1);
      prefixed.push_back(' ');
      prefixed.append(text);
      text = prefixed;
    }
    const ByteLevelAlphabet& alphabet = ByteLevelAlphabet::Get();
    // One mapping buffer per thread avoids an allocation per word; a nested call (a second ByteLevel step further
    // down the same chain) gets its own.
    thread_local std::string shared_buffer;
    thread_local bool shared_buffer_in_use = false;
    std::string local_buffer;
    const bool use_shared = !shared_buffer_in_use;
    std::string& mapped = use_shared ? shared_buffer : local_buffer;
    if (use_shared) shared_buffer_in_use = true;
    struct Release {
      bool active;
      ~Release() {
        if (active) shared_buffer_in_use = false;
      }
    } release{use_shared};
    auto map_and_emit = [&](std::string_view piece, bool piece_at_start) {
      mapped.clear();
      alphabet.EncodeTo(piece, &mapped);
      return sink(mapped, piece_at_start);
    };
    if (regex_ == nullptr) return map_and_emit(text, at_start);
    return SplitText(text, at_start, SplitBehavior::kIsolated, false, *regex_, map_and_emit);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;  // null when use_regex is false
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}

  absl::Status PreTokenize(std::string_view text, bool at_start, PieceSink sink) const override {
    std::string replaced;
    replaced.reserve(text.size() + replacement_.size() * 4);
    // Spaces become the replacement first, so a leading space counts as a leading replacement.
    const bool starts_with_replacement =
        (!text.empty() && text[0] == ' ') || text.substr(0, replacement_.size()) == replacement_;
    if (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && at_start)) {
      if (!starts_with_replacement) replaced.append(replacement_);
    }
    for (char c : text) {
      if (c == ' ') {
        replaced.append(replacement_);
      } else {
        replaced.push_back(c);
      }
    }
    if (replaced.empty()) return absl::OkStatus();
    if (!split_) return sink(replaced, at_start);
    LiteralMatcher matcher{replacement_};
    return SplitText(std::string_view(replaced), at_start, SplitBehavior::kMergedWithNext, false, matcher, sink);
  }

 private:
  struct LiteralMatcher {
    const std::string& literal;
    absl::Status ForEachMatch(std::string_view text, absl::FunctionRef<absl::Status(size_t, size_t)> on_match) const {
      size_t pos = 0;
      while ((pos = text.find(literal, pos)) != std::string_view::npos) {
        RETURN_IF_ERROR(on_match(pos, pos + literal.size()));
        pos += literal.size();
      }
      return absl::OkStatus();
    }
  };
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeRegexSplit(const char* pattern, SplitBehavior behavior, bool invert) {
  ASSIGN_OR_RETURN(auto regex, Regex::Compile(pattern));
  return std::unique_ptr<PreTokenizer>(new RegexSplitPreTokenizer(std::move(regex), behavior, invert));
}

absl::StatusOr<PrependScheme> ParsePrependScheme(const nlohmann::json& json) {
  if (json.contains("prepend_scheme") && json["prepend_scheme"].is_string()) {
    const std::string scheme = json["prepend_scheme"].get<std::string>();
    if (scheme == "always") return PrependScheme::kAlways;
    if (scheme == "first") return PrependScheme::kFirst;
    if (scheme == "never") return PrependScheme::kNever;
    return absl::InvalidArgumentError(absl::StrCat("Metaspace: unknown prepend_scheme '", scheme, "'"));
  }
  // Older files carry add_prefix_space instead.
  return json.value("add_prefix_space", true) ? PrependScheme::kAlways : PrependScheme::kNever;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> ParsePreTokenizer(const nlohmann::json& json) {
  if (json.is_null()) return std::unique_ptr<PreTokenizer>();
  if (!json.is_object() || !json.contains("type") || !json["type"].is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pre_tokenizer: expected an object with a \"type\", got ", json.dump()));
  }
  const std::string type = json["type"].get<std::string>();
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    for (const auto& step : json.at("pretokenizers")) {
      ASSIGN_OR_RETURN(auto pre_tokenizer, ParsePreTokenizer(step));
      if (pre_tokenizer != nullptr) steps.push_back(std::move(pre_tokenizer));
    }
    return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(steps)));
  }
  if (type == "Split") {
    ASSIGN_OR_RETURN(Pattern pattern, Pattern::FromJson(json.at("pattern"), "pre_tokenizer Split.pattern"));
    ASSIGN_OR_RETURN(SplitBehavior behavior, ParseBehavior(json.at("behavior"), "pre_tokenizer Split.behavior"));
    return std::unique_ptr<PreTokenizer>(
        new SplitPreTokenizer(std::move(pattern), behavior, json.value("invert", false)));
  }
  if (type == "ByteLevel") {
    std::unique_ptr<Regex> regex;
    if (json.value("use_regex", true)) {
      ASSIGN_OR_RETURN(regex, Regex::Compile(kGpt2Pattern));
    }
    return std::unique_ptr<PreTokenizer>(
        new ByteLevelPreTokenizer(json.value("add_prefix_space", true), std::move(regex)));
  }
  if (type == "Metaspace") {
    ASSIGN_OR_RETURN(PrependScheme scheme, ParsePrependScheme(json));
    std::string replacement = json.value("replacement", std::string("\xE2\x96\x81"));
    return std::unique_ptr<PreTokenizer>(
        new MetaspacePreTokenizer(std::move(replacement), scheme, json.value("split", true)));
  }
  if (type == "Digits") {
    return MakeRegexSplit(json.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)", SplitBehavior::kIsolated,
                          false);
  }
  if (type == "Whitespace") return MakeRegexSplit(R"(\w+|[^\w\s]+)", SplitBehavior::kRemoved, true);
  if (type == "WhitespaceSplit") return MakeRegexSplit(R"(\s+)", SplitBehavior::kRemoved, false);
  if (type == "Punctuation") {
    SplitBehavior behavior = SplitBehavior::kIsolated;
    if (json.contains("behavior")) {
      ASSIGN_OR_RETURN(behavior, ParseBehavior(json["behavior"], "pre_tokenizer Punctuation.behavior"));
    }
    return MakeRegexSplit(R"([\p{P}!-/:-@\[-`{-~])", behavior, false);
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    ASSIGN_OR_RETURN(auto whitespace, MakeRegexSplit(R"(\s+)", SplitBehavior::kRemoved, false));
    ASSIGN_OR_RETURN(auto punctuation, MakeRegexSplit(R"([\p{P}!-/:-@\[-`{-~])", SplitBehavior::kIsolated, false));
    steps.push_back(std::move(whitespace));
    steps.push_back(std::move(punctuation));
    return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(steps)));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unsupported pre_tokenizer type '", type,
      "' (supported: Sequence, Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, "
      "BertPreTokenizer)"));
}

}  // namespace tessera::tok
