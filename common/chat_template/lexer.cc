#include "common/chat_template/lexer.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "common/chat_template/unicode.h"

namespace tessera::jinja {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsDigitChar(char c) { return c >= '0' && c <= '9'; }

std::string NormalizeNewlines(absl::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  absl::StatusOr<std::vector<Token>> Run() {
    size_t pos = 0;
    bool line_starting = true;
    bool strip_leading = false;
    while (pos <= src_.size()) {
      size_t start = FindTagStart(pos);
      size_t text_end = start == std::string::npos ? src_.size() : start;
      size_t text_begin = pos;
      if (strip_leading) {
        while (text_begin < text_end && IsSpace(src_[text_begin])) ++text_begin;
      }
      if (start == std::string::npos) {
        EmitText(text_begin, text_end);
        break;
      }
      char kind = src_[start + 1];
      size_t after_open = start + 2;
      char modifier = after_open < src_.size() ? src_[after_open] : '\0';
      bool has_modifier = modifier == '-' || modifier == '+';
      if (modifier == '-') {
        while (text_end > text_begin && IsSpace(src_[text_end - 1])) --text_end;
      } else if ((kind == '%' || kind == '#') && modifier != '+') {
        // lstrip_blocks: drop spaces and tabs between the line start and a block or comment tag.
        size_t line_begin = text_end;
        while (line_begin > text_begin && (src_[line_begin - 1] == ' ' || src_[line_begin - 1] == '\t')) {
          --line_begin;
        }
        bool at_line_start = line_begin > text_begin ? src_[line_begin - 1] == '\n' : line_starting;
        if (at_line_start) text_end = line_begin;
      }
      EmitText(text_begin, text_end);
      size_t body = after_open + (has_modifier ? 1 : 0);
      if (kind == '#') {
        size_t close = src_.find("#}", body);
        if (close == std::string::npos) return Error(start, "unterminated comment");
        bool strip = close > body && src_[close - 1] == '-';
        bool keep = close > body && src_[close - 1] == '+';
        pos = close + 2;
        FinishTag(&pos, strip, keep, &line_starting, &strip_leading);
        continue;
      }
      if (kind == '%') {
        auto raw = MatchRawBlock(start, body);
        if (!raw.ok()) return raw.status();
        if (*raw) {
          pos = raw_end_;
          FinishTag(&pos, raw_end_strip_, raw_end_keep_, &line_starting, &strip_leading);
          continue;
        }
      }
      tokens_.push_back(MakeToken(kind == '{' ? TokenType::kVarBegin : TokenType::kBlockBegin, "", start));
      size_t end = 0;
      bool strip = false;
      bool keep = false;
      if (auto status = LexTag(body, kind == '{', &end, &strip, &keep); !status.ok()) return status;
      pos = end;
      if (kind == '{') {
        // trim_blocks does not apply to variable tags.
        line_starting = false;
        strip_leading = strip;
      } else {
        FinishTag(&pos, strip, keep, &line_starting, &strip_leading);
      }
    }
    tokens_.push_back(MakeToken(TokenType::kEof, "", src_.size()));
    return std::move(tokens_);
  }

 private:
  size_t FindTagStart(size_t pos) const {
    while (true) {
      size_t brace = src_.find('{', pos);
      if (brace == std::string::npos || brace + 1 >= src_.size()) return std::string::npos;
      char next = src_[brace + 1];
      if (next == '{' || next == '%' || next == '#') return brace;
      pos = brace + 1;
    }
  }

  // After a block or comment tag: `-` strips all following whitespace, else trim_blocks drops one newline.
  void FinishTag(size_t* pos, bool strip, bool keep, bool* line_starting, bool* strip_leading) {
    *strip_leading = strip;
    *line_starting = false;
    if (!strip && !keep && *pos < src_.size() && src_[*pos] == '\n') {
      ++*pos;
      *line_starting = true;
    }
  }

  void EmitText(size_t begin, size_t end) {
    if (end > begin) tokens_.push_back(MakeToken(TokenType::kText, src_.substr(begin, end - begin), begin));
  }

  Token MakeToken(TokenType type, std::string text, size_t offset) const {
    Token token;
    token.type = type;
    token.text = std::move(text);
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    token.line = static_cast<int>(it - line_starts_.begin());
    token.column = static_cast<int>(offset - line_starts_[static_cast<size_t>(token.line - 1)]) + 1;
    return token;
  }

  absl::Status Error(size_t offset, absl::string_view message) const {
    Token where = MakeToken(TokenType::kEof, "", offset);
    return absl::InvalidArgumentError(absl::StrCat("line ", where.line, ", column ", where.column, ": ", message));
  }

  // `{% raw %}...{% endraw %}`: the content is emitted verbatim as text.
  absl::StatusOr<bool> MatchRawBlock(size_t start, size_t body) {
    size_t p = body;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && IsNameChar(src_[p + 3]))) return false;
    p += 3;
    while (p < src_.size() && IsSpace(src_[p])) ++p;
    bool strip_content_start = false;
    if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) {
      strip_content_start = src_[p] == '-';
      ++p;
    }
    if (src_.compare(p, 2, "%}") != 0) return Error(start, "expected '%}' after 'raw'");
    size_t content_begin = p + 2;
    if (strip_content_start) {
      while (content_begin < src_.size() && IsSpace(src_[content_begin])) ++content_begin;
    } else if (content_begin < src_.size() && src_[content_begin] == '\n') {
      ++content_begin;
    }
    size_t search = content_begin;
    while (true) {
      size_t open = src_.find("{%", search);
      if (open == std::string::npos) return Error(start, "missing '{% endraw %}' for this raw block");
      size_t q = open + 2;
      bool strip_content_end = false;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) {
        strip_content_end = src_[q] == '-';
        ++q;
      }
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      if (src_.compare(q, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      q += 6;
      while (q < src_.size() && IsSpace(src_[q])) ++q;
      raw_end_strip_ = false;
      raw_end_keep_ = false;
      if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) {
        raw_end_strip_ = src_[q] == '-';
        raw_end_keep_ = src_[q] == '+';
        ++q;
      }
      if (src_.compare(q, 2, "%}") != 0) return Error(open, "expected '%}' after 'endraw'");
      size_t content_end = open;
      if (strip_content_end) {
        while (content_end > content_begin && IsSpace(src_[content_end - 1])) --content_end;
      }
      EmitText(content_begin, content_end);
      raw_end_ = q + 2;
      return true;
    }
  }

  absl::Status LexTag(size_t pos, bool is_variable, size_t* end, bool* strip, bool* keep) {
    std::vector<char> brackets;
    while (true) {
      while (pos < src_.size() && IsSpace(src_[pos])) ++pos;
      if (pos >= src_.size()) {
        return Error(pos, is_variable ? "unexpected end of template, expected '}}'"
                                      : "unexpected end of template, expected '%}'");
      }
      if (brackets.empty()) {
        absl::string_view rest(src_.data() + pos, src_.size() - pos);
        absl::string_view close = is_variable ? "}}" : "%}";
        bool strip_close = rest.size() > 2 && rest[0] == '-' && rest.substr(1, 2) == close;
        bool keep_close = !is_variable && rest.size() > 2 && rest[0] == '+' && rest.substr(1, 2) == close;
        if (rest.substr(0, 2) == close || strip_close || keep_close) {
          tokens_.push_back(MakeToken(is_variable ? TokenType::kVarEnd : TokenType::kBlockEnd, "", pos));
          *strip = strip_close;
          *keep = keep_close;
          *end = pos + ((strip_close || keep_close) ? 3 : 2);
          return absl::OkStatus();
        }
      }
      char c = src_[pos];
      if (IsNameStart(c)) {
        size_t begin = pos;
        while (pos < src_.size() && IsNameChar(src_[pos])) ++pos;
        tokens_.push_back(MakeToken(TokenType::kName, src_.substr(begin, pos - begin), begin));
        continue;
      }
      if (c == '\'' || c == '"') {
        size_t begin = pos;
        auto decoded = LexString(&pos);
        if (!decoded.ok()) return decoded.status();
        tokens_.push_back(MakeToken(TokenType::kString, std::move(*decoded), begin));
        continue;
      }
      if (IsDigitChar(c)) {
        if (auto status = LexNumber(&pos); !status.ok()) return status;
        continue;
      }
      static constexpr absl::string_view kTwoCharOps[] = {"//", "**", "==", "!=", "<=", ">="};
      std::string op;
      for (absl::string_view two : kTwoCharOps) {
        if (src_.compare(pos, 2, two.data(), two.size()) == 0) op = std::string(two);
      }
      if (op.empty()) {
        if (absl::string_view("+-*/%~<>=()[]{},.:|").find(c) == absl::string_view::npos) {
          return Error(pos, absl::StrCat("unexpected character '", std::string(1, c), "' in tag"));
        }
        op = std::string(1, c);
      }
      if (c == '(' || c == '[' || c == '{') {
        if (brackets.size() >= static_cast<size_t>(kMaxBracketDepth)) {
          return Error(pos, "brackets nest too deeply");
        }
        brackets.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      } else if (c == ')' || c == ']' || c == '}') {
        if (brackets.empty() || brackets.back() != c) {
          return Error(pos, absl::StrCat("unexpected '", std::string(1, c), "'"));
        }
        brackets.pop_back();
      }
      tokens_.push_back(MakeToken(TokenType::kOperator, op, pos));
      pos += op.size();
    }
  }

  // Python string literal escapes, as Jinja decodes them ("unicode-escape").
  absl::StatusOr<std::string> LexString(size_t* pos) {
    size_t start = *pos;
    char quote = src_[start];
    std::string out;
    size_t p = start + 1;
    while (true) {
      if (p >= src_.size()) return Error(start, "unterminated string literal");
      char c = src_[p];
      if (c == quote) break;
      if (c != '\\') {
        out.push_back(c);
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) return Error(start, "unterminated string literal");
      char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case '\n': break;  // line continuation
        case 'x':
        case 'u':
        case 'U': {
          size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          if (p + digits > src_.size()) return Error(p - 2, "truncated escape in string literal");
          uint32_t cp = 0;
          auto result = std::from_chars(src_.data() + p, src_.data() + p + digits, cp, 16);
          if (result.ptr != src_.data() + p + digits || cp > 0x10ffff) {
            return Error(p - 2, "malformed escape in string literal");
          }
          AppendUtf8(static_cast<char32_t>(cp), &out);
          p += digits;
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++k, ++p) {
              cp = cp * 8 + static_cast<uint32_t>(src_[p] - '0');
            }
            AppendUtf8(static_cast<char32_t>(cp), &out);
          } else {
            // Unknown escapes stay as written, as in Python.
            out.push_back('\\');
            out.push_back(e);
          }
      }
    }
    *pos = p + 1;
    return out;
  }

  absl::Status LexNumber(size_t* pos) {
    size_t begin = *pos;
    size_t p = begin;
    auto digits = [&]() {
      while (p < src_.size() && (IsDigitChar(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() &&
                                                           IsDigitChar(src_[p + 1])))) {
        ++p;
      }
    };
    digits();
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && IsDigitChar(src_[p + 1])) {
      is_float = true;
      ++p;
      digits();
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && IsDigitChar(src_[q])) {
        is_float = true;
        p = q;
        digits();
      }
    }
    std::string text;
    for (size_t i = begin; i < p; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    Token token = MakeToken(is_float ? TokenType::kFloat : TokenType::kInt, text, begin);
    if (is_float) {
      token.float_value = std::strtod(text.c_str(), nullptr);
    } else {
      auto result = std::from_chars(text.data(), text.data() + text.size(), token.int_value);
      if (result.ec != std::errc()) return Error(begin, "integer literal out of range");
    }
    tokens_.push_back(std::move(token));
    *pos = p;
    return absl::OkStatus();
  }

  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> tokens_;
  size_t raw_end_ = 0;
  bool raw_end_strip_ = false;
  bool raw_end_keep_ = false;
};

}  // namespace

absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view source) {
  Lexer lexer(NormalizeNewlines(source));
  return lexer.Run();
}

}  // namespace tessera::jinja
