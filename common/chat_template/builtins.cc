#include "common/chat_template/builtins.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "absl/strings/string_view.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/chat_template/operations.h"
#include "common/chat_template/renderer.h"
#include "common/chat_template/unicode.h"
#include "common/status_macros.h"

namespace tessera::jinja {
namespace {

using FilterFn = absl::StatusOr<Value> (*)(Renderer&, const Value&, const CallArgs&);
using TestFn = absl::StatusOr<bool> (*)(Renderer&, const Value&, const CallArgs&);

absl::Status Error(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

// ---------------------------------------------------------------------------------------------------------------
// Argument helpers.

absl::StatusOr<std::string> StringArg(const CallArgs& args, size_t index, absl::string_view name,
                                      std::optional<std::string> fallback = std::nullopt) {
  const Value* v = args.Get(index, name);
  if (v == nullptr || v->is_undefined() || (v->is_none() && fallback)) {
    if (fallback) return *fallback;
    return Error(absl::StrCat("missing argument '", name, "'"));
  }
  if (!v->is_string()) return Error(absl::StrCat("argument '", name, "' must be a string, not ", v->TypeName()));
  return v->str();
}

absl::StatusOr<int64_t> IntArg(const CallArgs& args, size_t index, absl::string_view name,
                               std::optional<int64_t> fallback = std::nullopt) {
  const Value* v = args.Get(index, name);
  if (v == nullptr || v->is_undefined() || (v->is_none() && fallback)) {
    if (fallback) return *fallback;
    return Error(absl::StrCat("missing argument '", name, "'"));
  }
  if (v->is_float()) return static_cast<int64_t>(v->as_float());
  if (!v->is_int() && !v->is_bool()) {
    return Error(absl::StrCat("argument '", name, "' must be an integer, not ", v->TypeName()));
  }
  return v->as_int();
}

bool BoolArg(const CallArgs& args, size_t index, absl::string_view name, bool fallback) {
  const Value* v = args.Get(index, name);
  if (v == nullptr || v->is_undefined()) return fallback;
  return v->Truthy();
}

Value ArgOr(const CallArgs& args, size_t index, absl::string_view name, Value fallback) {
  const Value* v = args.Get(index, name);
  return v == nullptr ? std::move(fallback) : *v;
}

// Jinja's make_attrgetter: "a.b.0" walks keys, attributes and indexes.
absl::StatusOr<Value> GetAttributePath(const Value& item, const Value& attribute) {
  if (!attribute.is_string()) return GetItem(item, attribute);
  Value current = item;
  for (absl::string_view part : absl::StrSplit(attribute.str(), '.')) {
    int64_t index = 0;
    if (!part.empty() && absl::SimpleAtoi(part, &index) && absl::ascii_isdigit(static_cast<unsigned char>(part[0]))) {
      ASSIGN_OR_RETURN(current, GetItem(current, Value::Int(index)));
    } else {
      ASSIGN_OR_RETURN(current, GetItem(current, Value::String(std::string(part))));
    }
  }
  return current;
}

absl::StatusOr<Value> MakeList(std::vector<Value> items) { return Value::List(std::move(items)); }

absl::StatusOr<Value> MakeTuple(Value a, Value b) { return Value::List({std::move(a), std::move(b)}, true); }

// ---------------------------------------------------------------------------------------------------------------
// String helpers (Python semantics on code points).

bool InSet(char32_t cp, const std::vector<char32_t>* chars) {
  if (chars == nullptr) return IsPythonSpace(cp);
  return std::find(chars->begin(), chars->end(), cp) != chars->end();
}

std::string Strip(const std::string& s, const std::vector<char32_t>* chars, bool left, bool right) {
  std::vector<char32_t> cps = ToCodePoints(s);
  size_t begin = 0;
  size_t end = cps.size();
  if (left) {
    while (begin < end && InSet(cps[begin], chars)) ++begin;
  }
  if (right) {
    while (end > begin && InSet(cps[end - 1], chars)) --end;
  }
  if (IsAscii(s)) return s.substr(begin, end - begin);
  return FromCodePoints(cps, begin, end);
}

absl::StatusOr<std::string> StripWithArgs(const Value& self, const CallArgs& args, bool left, bool right) {
  const Value* chars = args.Get(0, "chars");
  if (chars == nullptr || chars->is_none() || chars->is_undefined()) return Strip(self.str(), nullptr, left, right);
  if (!chars->is_string()) return Error("strip arg must be None or str");
  std::vector<char32_t> set = ToCodePoints(chars->str());
  return Strip(self.str(), &set, left, right);
}

absl::StatusOr<Value> Split(const Value& self, const CallArgs& args, bool from_right) {
  const Value* sep = args.Get(0, "sep");
  ASSIGN_OR_RETURN(int64_t maxsplit, IntArg(args, 1, "maxsplit", -1));
  const std::string& s = self.str();
  std::vector<std::string> parts;
  if (sep == nullptr || sep->is_none() || sep->is_undefined()) {
    std::vector<char32_t> cps = ToCodePoints(s);
    if (!from_right) {
      size_t i = 0;
      while (true) {
        while (i < cps.size() && IsPythonSpace(cps[i])) ++i;
        if (i >= cps.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
          size_t end = cps.size();
          while (end > i && IsPythonSpace(cps[end - 1])) --end;
          parts.push_back(FromCodePoints(cps, i, end));
          break;
        }
        size_t j = i;
        while (j < cps.size() && !IsPythonSpace(cps[j])) ++j;
        parts.push_back(FromCodePoints(cps, i, j));
        i = j;
      }
    } else {
      size_t i = cps.size();
      while (true) {
        while (i > 0 && IsPythonSpace(cps[i - 1])) --i;
        if (i == 0) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
          size_t begin = 0;
          while (begin < i && IsPythonSpace(cps[begin])) ++begin;
          parts.push_back(FromCodePoints(cps, begin, i));
          break;
        }
        size_t j = i;
        while (j > 0 && !IsPythonSpace(cps[j - 1])) --j;
        parts.push_back(FromCodePoints(cps, j, i));
        i = j;
      }
      std::reverse(parts.begin(), parts.end());
    }
  } else {
    if (!sep->is_string()) return Error("must be str or None");
    const std::string& separator = sep->str();
    if (separator.empty()) return Error("empty separator");
    if (!from_right) {
      size_t start = 0;
      while (true) {
        size_t found = (maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit)
                           ? std::string::npos
                           : s.find(separator, start);
        if (found == std::string::npos) {
          parts.push_back(s.substr(start));
          break;
        }
        parts.push_back(s.substr(start, found - start));
        start = found + separator.size();
      }
    } else {
      size_t end = s.size();
      while (true) {
        size_t found = std::string::npos;
        if (!(maxsplit >= 0 && static_cast<int64_t>(parts.size()) >= maxsplit) && end >= separator.size()) {
          found = s.rfind(separator, end - separator.size());
        }
        if (found == std::string::npos) {
          parts.push_back(s.substr(0, end));
          break;
        }
        parts.push_back(s.substr(found + separator.size(), end - found - separator.size()));
        end = found;
      }
      std::reverse(parts.begin(), parts.end());
    }
  }
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& part : parts) items.push_back(Value::String(std::move(part)));
  return MakeList(std::move(items));
}

bool IsLineBreak(char32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0b || cp == 0x0c || cp == 0x1c || cp == 0x1d || cp == 0x1e ||
         cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

std::vector<std::string> SplitLines(const std::string& s, bool keep_ends) {
  std::vector<char32_t> cps = ToCodePoints(s);
  std::vector<std::string> lines;
  size_t start = 0;
  size_t i = 0;
  while (i < cps.size()) {
    if (!IsLineBreak(cps[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    size_t next = i + 1;
    if (cps[i] == '\r' && next < cps.size() && cps[next] == '\n') ++next;
    lines.push_back(FromCodePoints(cps, start, keep_ends ? next : end));
    start = i = next;
  }
  if (start < cps.size()) lines.push_back(FromCodePoints(cps, start, cps.size()));
  return lines;
}

std::string Capitalize(const std::string& s) {
  std::vector<char32_t> cps = ToCodePoints(s);
  std::string out;
  for (size_t i = 0; i < cps.size(); ++i) AppendUtf8(i == 0 ? ToUpper(cps[i]) : ToLower(cps[i]), &out);
  return out;
}

// Python str.title(): a cased character after an uncased one starts a word.
std::string PythonTitle(const std::string& s) {
  std::string out;
  bool previous_cased = false;
  size_t pos = 0;
  while (pos < s.size()) {
    char32_t cp = DecodeUtf8(s, &pos);
    AppendUtf8(previous_cased ? ToLower(cp) : ToUpper(cp), &out);
    previous_cased = IsCased(cp);
  }
  return out;
}

// Jinja's title filter: words start after whitespace, '-', and opening brackets.
std::string JinjaTitle(const std::string& s) {
  std::string out;
  bool word_start = true;
  size_t pos = 0;
  while (pos < s.size()) {
    char32_t cp = DecodeUtf8(s, &pos);
    bool separator = IsPythonSpace(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    AppendUtf8(separator ? cp : (word_start ? ToUpper(cp) : ToLower(cp)), &out);
    word_start = separator;
  }
  return out;
}

absl::StatusOr<std::string> Replace(Renderer& renderer, const std::string& s, const std::string& old_text,
                                    const std::string& new_text, int64_t count) {
  std::string out;
  int64_t done = 0;
  if (old_text.empty()) {
    // Python inserts the replacement around every character.
    size_t pos = 0;
    while (pos <= s.size()) {
      if (count < 0 || done < count) {
        out += new_text;
        ++done;
      }
      if (pos == s.size()) break;
      size_t start = pos;
      DecodeUtf8(s, &pos);
      out.append(s, start, pos - start);
      RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
    }
    return out;
  }
  size_t start = 0;
  while (count < 0 || done < count) {
    size_t found = s.find(old_text, start);
    if (found == std::string::npos) break;
    out.append(s, start, found - start);
    out += new_text;
    start = found + old_text.size();
    ++done;
    RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
  }
  out.append(s, start, std::string::npos);
  RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(out.size() / 64)));
  return out;
}

std::string Pad(const std::string& s, int64_t width, char32_t fill, char align) {
  int64_t length = static_cast<int64_t>(CodePointCount(s));
  if (width <= length) return s;
  int64_t total = std::min<int64_t>(width - length, 1 << 20);
  int64_t left = align == '<' ? 0 : align == '>' ? total : total / 2;
  if (align == '^' && (total % 2 == 1) && (length % 2 == 1)) left = total / 2 + 1;  // str.center's rounding
  std::string fill_text;
  AppendUtf8(fill, &fill_text);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill_text;
  out += s;
  for (int64_t i = left; i < total; ++i) out += fill_text;
  return out;
}

// One replacement field's format spec: [[fill]align][sign][#][0][width][,][.precision][type].
absl::StatusOr<std::string> FormatSpec(const Value& value, absl::string_view spec) {
  if (spec.empty()) return value.ToString();
  std::vector<char32_t> cps = ToCodePoints(spec);
  size_t i = 0;
  char32_t fill = ' ';
  char align = '\0';
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    fill = cps[0];
    align = static_cast<char>(cps[1]);
    i = 2;
  } else if (!cps.empty() && is_align(cps[0])) {
    align = static_cast<char>(cps[0]);
    i = 1;
  }
  char sign = '-';
  if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' ')) sign = static_cast<char>(cps[i++]);
  if (i < cps.size() && cps[i] == '#') ++i;
  bool zero = false;
  if (i < cps.size() && cps[i] == '0') {
    zero = true;
    ++i;
  }
  int64_t width = 0;
  while (i < cps.size() && IsDigit(cps[i])) width = std::min<int64_t>(width * 10 + (cps[i++] - '0'), 1 << 20);
  bool grouping = false;
  if (i < cps.size() && (cps[i] == ',' || cps[i] == '_')) {
    grouping = true;
    ++i;
  }
  int precision = -1;
  if (i < cps.size() && cps[i] == '.') {
    ++i;
    precision = 0;
    while (i < cps.size() && IsDigit(cps[i])) precision = std::min(precision * 10 + static_cast<int>(cps[i++] - '0'), 1000);
  }
  char type = '\0';
  if (i < cps.size()) type = static_cast<char>(cps[i++]);
  if (i != cps.size()) return Error(absl::StrCat("invalid format specifier '", std::string(spec), "'"));
  (void)grouping;
  std::string body;
  bool numeric = value.is_number() && !(value.is_bool() && type == '\0');
  if (type == 's' || (!numeric && type == '\0')) {
    if (value.is_number() && type == 's') return Error("Unknown format code 's' for a number");
    body = value.ToString();
    if (precision >= 0) {
      std::vector<char32_t> text = ToCodePoints(body);
      if (text.size() > static_cast<size_t>(precision)) body = FromCodePoints(text, 0, static_cast<size_t>(precision));
    }
    if (align == '\0') align = '<';
  } else {
    if (!value.is_number()) {
      return Error(absl::StrCat("Unknown format code '", std::string(1, type), "' for object of type '",
                                value.TypeName(), "'"));
    }
    std::string flags;
    if (sign != '-') flags.push_back(sign);
    switch (type) {
      case 'd':
        if (value.is_float()) return Error("Unknown format code 'd' for object of type 'float'");
        body = (sign == '+' && value.as_int() >= 0 ? "+" : sign == ' ' && value.as_int() >= 0 ? " " : "") + absl::StrCat(value.as_int());
        break;
      case 'x':
      case 'X':
      case 'o':
      case 'b': {
        if (value.is_float()) return Error("Unknown format code for object of type 'float'");
        int64_t v = value.as_int();
        uint64_t magnitude = v < 0 ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
        if (type == 'b') {
          do {
            body.insert(body.begin(), static_cast<char>('0' + (magnitude & 1)));
            magnitude >>= 1;
          } while (magnitude != 0);
        } else {
          // Each branch keeps its format string a constant: absl::StrFormat checks it at compile time (clang).
          body = type == 'x'   ? absl::StrFormat("%x", magnitude)
                 : type == 'X' ? absl::StrFormat("%X", magnitude)
                               : absl::StrFormat("%o", magnitude);
        }
        if (v < 0) body.insert(body.begin(), '-');
        else if (sign == '+' || sign == ' ') body.insert(body.begin(), sign);
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
      case '%': {
        double v = value.as_float();
        if (type == '%') v *= 100;
        std::string conversion(1, type == '%' ? 'f' : type);
        char buffer[1200];
        std::snprintf(buffer, sizeof(buffer), ("%" + flags + "." + std::to_string(precision < 0 ? 6 : precision) +
                                               conversion).c_str(), v);
        body = buffer;
        if (type == '%') body += "%";
        break;
      }
      case '\0':
        if (value.is_float()) {
          body = PythonFloatRepr(value.as_float());
          if (precision >= 0) {
            char buffer[1200];
            std::snprintf(buffer, sizeof(buffer), ("%" + flags + "." + std::to_string(std::max(precision, 1)) + "g").c_str(),
                          value.as_float());
            body = buffer;
          } else if (sign == '+' && value.as_float() >= 0) {
            body.insert(body.begin(), '+');
          }
        } else {
          body = (sign == '+' && value.as_int() >= 0 ? "+" : sign == ' ' && value.as_int() >= 0 ? " " : "") + absl::StrCat(value.as_int());
        }
        break;
      default:
        return Error(absl::StrCat("Unknown format code '", std::string(1, type), "'"));
    }
    if (align == '\0') {
      if (zero) {
        align = '=';
        fill = '0';
      } else {
        align = '>';
      }
    }
  }
  if (align == '=') {
    std::string sign_text;
    if (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) {
      sign_text = body.substr(0, 1);
      body = body.substr(1);
    }
    return sign_text + Pad(body, width - static_cast<int64_t>(sign_text.size()), fill, '>');
  }
  return Pad(body, width, fill, align);
}

// Python str.format with positional ({}, {0}) and keyword ({name}) fields, !r/!s conversions and format specs.
absl::StatusOr<std::string> StrFormat(Renderer& renderer, const std::string& format, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  size_t i = 0;
  while (i < format.size()) {
    char c = format[i];
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out.push_back('}');
        i += 2;
        continue;
      }
      return Error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out.push_back(c);
      ++i;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '{') {
      out.push_back('{');
      i += 2;
      continue;
    }
    size_t close = format.find('}', i);
    if (close == std::string::npos) return Error("Single '{' encountered in format string");
    std::string field = format.substr(i + 1, close - i - 1);
    i = close + 1;
    std::string spec;
    char conversion = '\0';
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      if (bang + 2 != field.size()) return Error("invalid conversion in format string");
      conversion = field[bang + 1];
      field = field.substr(0, bang);
    }
    // Split "name.attr[key]" into the argument and the path after it.
    size_t path_start = field.find_first_of(".[");
    std::string head = field.substr(0, path_start);
    Value value;
    int64_t index = 0;
    if (head.empty()) {
      if (auto_index >= args.positional.size()) return Error("Replacement index out of range for positional args");
      value = args.positional[auto_index++];
    } else if (absl::SimpleAtoi(head, &index)) {
      if (index < 0 || static_cast<size_t>(index) >= args.positional.size()) {
        return Error(absl::StrCat("Replacement index ", index, " out of range for positional args"));
      }
      value = args.positional[static_cast<size_t>(index)];
    } else {
      const Value* found = args.Keyword(head);
      if (found == nullptr) return Error(absl::StrCat("KeyError: '", head, "'"));
      value = *found;
    }
    if (path_start != std::string::npos) {
      std::string path = field.substr(path_start);
      size_t p = 0;
      while (p < path.size()) {
        if (path[p] == '.') {
          size_t end = path.find_first_of(".[", p + 1);
          ASSIGN_OR_RETURN(value, GetAttr(value, path.substr(p + 1, end == std::string::npos ? end : end - p - 1)));
          p = end == std::string::npos ? path.size() : end;
        } else {
          size_t end = path.find(']', p);
          if (end == std::string::npos) return Error("Missing ']' in format string");
          std::string key = path.substr(p + 1, end - p - 1);
          int64_t key_index = 0;
          if (absl::SimpleAtoi(key, &key_index)) {
            ASSIGN_OR_RETURN(value, GetItem(value, Value::Int(key_index)));
          } else {
            ASSIGN_OR_RETURN(value, GetItem(value, Value::String(key)));
          }
          p = end + 1;
        }
      }
    }
    if (conversion == 'r' || conversion == 'a') {
      value = Value::String(value.Repr());
    } else if (conversion == 's') {
      value = Value::String(value.ToString());
    } else if (conversion != '\0') {
      return Error("Unknown conversion specifier in format string");
    }
    ASSIGN_OR_RETURN(std::string piece, FormatSpec(value, spec));
    out += piece;
    RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
  }
  return out;
}

// printf-style `"%s" % args` as the format filter does it.
absl::StatusOr<std::string> PercentFormat(Renderer& renderer, const std::string& format, const CallArgs& args) {
  const DictData* mapping = nullptr;
  if (args.positional.size() == 1 && args.positional[0].is_dict()) mapping = &args.positional[0].dict();
  std::string out;
  size_t next_arg = 0;
  size_t i = 0;
  while (i < format.size()) {
    char c = format[i];
    if (c != '%') {
      out.push_back(c);
      ++i;
      continue;
    }
    ++i;
    if (i >= format.size()) return Error("incomplete format");
    if (format[i] == '%') {
      out.push_back('%');
      ++i;
      continue;
    }
    const Value* value = nullptr;
    if (format[i] == '(') {
      size_t close = format.find(')', i);
      if (close == std::string::npos || mapping == nullptr) return Error("format requires a mapping");
      value = mapping->Find(format.substr(i + 1, close - i - 1));
      if (value == nullptr) return Error(absl::StrCat("KeyError: '", format.substr(i + 1, close - i - 1), "'"));
      i = close + 1;
    }
    std::string flags;
    while (i < format.size() && absl::string_view("-+ #0").find(format[i]) != absl::string_view::npos) flags += format[i++];
    std::string width;
    while (i < format.size() && absl::ascii_isdigit(static_cast<unsigned char>(format[i]))) width += format[i++];
    std::string precision;
    if (i < format.size() && format[i] == '.') {
      ++i;
      while (i < format.size() && absl::ascii_isdigit(static_cast<unsigned char>(format[i]))) precision += format[i++];
      if (precision.empty()) precision = "0";
    }
    if (width.size() > 6 || precision.size() > 3) return Error("format width too large");
    if (i >= format.size()) return Error("incomplete format");
    char type = format[i++];
    if (value == nullptr) {
      if (next_arg >= args.positional.size()) return Error("not enough arguments for format string");
      value = &args.positional[next_arg++];
    }
    std::string spec = "%" + flags + width + (precision.empty() ? "" : "." + precision);
    char buffer[2048];
    switch (type) {
      case 's':
      case 'r': {
        std::string text = type == 's' ? value->ToString() : value->Repr();
        if (!precision.empty()) {
          std::vector<char32_t> cps = ToCodePoints(text);
          size_t limit = static_cast<size_t>(std::stoi(precision));
          if (cps.size() > limit) text = FromCodePoints(cps, 0, limit);
        }
        int64_t w = width.empty() ? 0 : std::stoll(width);
        out += Pad(text, w, ' ', flags.find('-') != std::string::npos ? '<' : '>');
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o':
      case 'c': {
        if (!value->is_number()) return Error(absl::StrCat("%", std::string(1, type), " format: a real number is required, not ", value->TypeName()));
        int64_t v = value->is_float() ? static_cast<int64_t>(value->as_float()) : value->as_int();
        if (type == 'c') {
          AppendUtf8(static_cast<char32_t>(std::clamp<int64_t>(v, 0, 0x10ffff)), &out);
          break;
        }
        std::snprintf(buffer, sizeof(buffer), (spec + "ll" + std::string(1, type == 'i' ? 'd' : type)).c_str(),
                      static_cast<long long>(v));
        out += buffer;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!value->is_number()) return Error(absl::StrCat("must be real number, not ", value->TypeName()));
        std::snprintf(buffer, sizeof(buffer), (spec + std::string(1, type)).c_str(), value->as_float());
        out += buffer;
        break;
      }
      default:
        return Error(absl::StrCat("unsupported format character '", std::string(1, type), "'"));
    }
    RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
  }
  if (mapping == nullptr && next_arg < args.positional.size()) {
    return Error("not all arguments converted during string formatting");
  }
  return out;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// Python int(str): optional sign, underscores between digits, surrounding whitespace.
std::optional<int64_t> ParsePythonInt(const std::string& text, int base) {
  std::string trimmed = Strip(text, nullptr, true, true);
  std::string digits;
  for (size_t i = 0; i < trimmed.size(); ++i) {
    if (trimmed[i] == '_' && i > 0 && i + 1 < trimmed.size()) continue;
    digits.push_back(trimmed[i]);
  }
  if (digits.empty()) return std::nullopt;
  int64_t value = 0;
  const char* begin = digits.data();
  const char* end = digits.data() + digits.size();
  bool negative = false;
  if (*begin == '+' || *begin == '-') {
    negative = *begin == '-';
    ++begin;
  }
  if (base == 16 && end - begin > 2 && begin[0] == '0' && (begin[1] == 'x' || begin[1] == 'X')) begin += 2;
  auto result = std::from_chars(begin, end, value, base);
  if (result.ec != std::errc() || result.ptr != end || begin == end) return std::nullopt;
  return negative ? -value : value;
}

std::optional<double> ParsePythonFloat(const std::string& text) {
  std::string trimmed = Strip(text, nullptr, true, true);
  std::string lower = absl::AsciiStrToLower(trimmed);
  absl::string_view body = lower;
  bool negative = false;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    negative = body[0] == '-';
    body.remove_prefix(1);
  }
  if (body == "inf" || body == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (body == "nan") return std::nan("");
  if (body.empty()) return std::nullopt;
  for (char c : body) {
    if (!(absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-' || c == '_')) {
      return std::nullopt;
    }
  }
  std::string cleaned;
  for (char c : trimmed) {
    if (c != '_') cleaned.push_back(c);
  }
  char* end = nullptr;
  double value = std::strtod(cleaned.c_str(), &end);
  if (end != cleaned.c_str() + cleaned.size()) return std::nullopt;
  return value;
}

// Sorting with Python's ordering; errors (unorderable values) are reported after the sort.
absl::Status SortValues(std::vector<Value>* items, bool case_sensitive, bool reverse,
                        const std::function<Value(const Value&)>& key) {
  absl::Status failure = absl::OkStatus();
  std::stable_sort(items->begin(), items->end(), [&](const Value& a, const Value& b) {
    if (!failure.ok()) return false;
    auto c = CompareValues(key(a), key(b), case_sensitive);
    if (!c.ok()) {
      failure = c.status();
      return false;
    }
    return reverse ? *c > 0 : *c < 0;
  });
  return failure;
}

// ---------------------------------------------------------------------------------------------------------------
// Filters.

absl::StatusOr<Value> FilterAbs(Renderer&, const Value& v, const CallArgs&) {
  if (v.is_float()) return Value::Float(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) {
    if (v.as_int() == INT64_MIN) return Error("integer overflow");
    return Value::Int(std::llabs(v.as_int()));
  }
  return Error(absl::StrCat("bad operand type for abs(): '", v.TypeName(), "'"));
}

absl::StatusOr<Value> FilterAttr(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(std::string name, StringArg(args, 0, "name"));
  if (v.is_dict() && !HasMethod(v, name)) {
    return Value::MakeUndefined(absl::StrCat("'dict object' has no attribute '", name, "'"));
  }
  return GetAttr(v, name);
}

absl::StatusOr<Value> FilterBatch(Renderer& renderer, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(int64_t size, IntArg(args, 0, "linecount"));
  if (size <= 0) return Error("batch size must be positive");
  const Value* fill = args.Get(1, "fill_with");
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(items.size())));
  std::vector<Value> batches;
  std::vector<Value> current;
  for (Value& item : items) {
    current.push_back(std::move(item));
    if (static_cast<int64_t>(current.size()) == size) {
      ASSIGN_OR_RETURN(Value batch, MakeList(std::move(current)));
      batches.push_back(std::move(batch));
      current.clear();
    }
  }
  if (!current.empty()) {
    if (fill != nullptr && !fill->is_none()) {
      while (static_cast<int64_t>(current.size()) < size) current.push_back(*fill);
    }
    ASSIGN_OR_RETURN(Value batch, MakeList(std::move(current)));
    batches.push_back(std::move(batch));
  }
  return MakeList(std::move(batches));
}

absl::StatusOr<Value> FilterCapitalize(Renderer&, const Value& v, const CallArgs&) {
  return Value::String(Capitalize(v.ToString()));
}

absl::StatusOr<Value> FilterCenter(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(int64_t width, IntArg(args, 0, "width", 80));
  return Value::String(Pad(v.ToString(), width, ' ', '^'));
}

absl::StatusOr<Value> FilterDefault(Renderer&, const Value& v, const CallArgs& args) {
  Value fallback = ArgOr(args, 0, "default_value", Value::String(""));
  bool boolean = BoolArg(args, 1, "boolean", false);
  if (v.is_undefined() || (boolean && !v.Truthy())) return fallback;
  return v;
}

absl::StatusOr<Value> FilterDictsort(Renderer& renderer, const Value& v, const CallArgs& args) {
  if (!v.is_dict()) return Error("dictsort expects a mapping");
  bool case_sensitive = BoolArg(args, 0, "case_sensitive", false);
  ASSIGN_OR_RETURN(std::string by, StringArg(args, 1, "by", std::string("key")));
  bool reverse = BoolArg(args, 2, "reverse", false);
  if (by != "key" && by != "value") return Error("You can only sort by either 'key' or 'value'");
  std::vector<Value> pairs;
  for (const auto& [key, value] : v.dict().entries) {
    ASSIGN_OR_RETURN(Value pair, MakeTuple(Value::String(key), value));
    pairs.push_back(std::move(pair));
  }
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(pairs.size())));
  size_t position = by == "key" ? 0 : 1;
  RETURN_IF_ERROR(SortValues(&pairs, case_sensitive, reverse,
                             [position](const Value& pair) { return pair.list().items[position]; }));
  return MakeList(std::move(pairs));
}

absl::StatusOr<Value> FilterEscape(Renderer&, const Value& v, const CallArgs&) {
  return Value::String(HtmlEscape(v.ToString()));
}

absl::StatusOr<Value> FilterFirst(Renderer&, const Value& v, const CallArgs&) {
  if (v.is_list()) {
    if (v.list().items.empty()) return Value::MakeUndefined("No first item, sequence was empty.");
    return v.list().items.front();
  }
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  if (items.empty()) return Value::MakeUndefined("No first item, sequence was empty.");
  return items.front();
}

absl::StatusOr<Value> FilterFloat(Renderer&, const Value& v, const CallArgs& args) {
  Value fallback = ArgOr(args, 0, "default", Value::Float(0.0));
  if (v.is_number()) return Value::Float(v.as_float());
  if (v.is_string()) {
    if (auto parsed = ParsePythonFloat(v.str())) return Value::Float(*parsed);
  }
  return fallback;
}

absl::StatusOr<Value> FilterFormat(Renderer& renderer, const Value& v, const CallArgs& args) {
  if (!v.is_string()) return Error("format filter expects a string");
  if (!args.keyword.empty() && !args.positional.empty()) {
    return Error("can't handle positional and keyword arguments at the same time");
  }
  if (!args.keyword.empty()) {
    std::vector<std::pair<std::string, Value>> entries(args.keyword.begin(), args.keyword.end());
    ASSIGN_OR_RETURN(Value mapping, Value::Dict(std::move(entries)));
    CallArgs single;
    single.positional.push_back(std::move(mapping));
    ASSIGN_OR_RETURN(std::string out, PercentFormat(renderer, v.str(), single));
    return Value::String(std::move(out));
  }
  ASSIGN_OR_RETURN(std::string out, PercentFormat(renderer, v.str(), args));
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterIndent(Renderer& renderer, const Value& v, const CallArgs& args) {
  const Value* width_arg = args.Get(0, "width");
  std::string indentation;
  if (width_arg != nullptr && width_arg->is_string()) {
    indentation = width_arg->str();
  } else {
    ASSIGN_OR_RETURN(int64_t width, IntArg(args, 0, "width", 4));
    indentation.assign(static_cast<size_t>(std::clamp<int64_t>(width, 0, 1 << 16)), ' ');
  }
  bool first = BoolArg(args, 1, "first", false);
  bool blank = BoolArg(args, 2, "blank", false);
  std::vector<std::string> lines = SplitLines(v.ToString() + "\n", false);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out.push_back('\n');
      if (blank || !lines[i].empty()) out += indentation;
    }
    out += lines[i];
    RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
  }
  if (first) out = indentation + out;
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterInt(Renderer&, const Value& v, const CallArgs& args) {
  Value fallback = ArgOr(args, 0, "default", Value::Int(0));
  ASSIGN_OR_RETURN(int64_t base, IntArg(args, 1, "base", 10));
  if (v.is_int() || v.is_bool()) return Value::Int(v.as_int());
  if (v.is_float()) {
    double d = v.as_float();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
    return Value::Int(static_cast<int64_t>(d));
  }
  if (v.is_string()) {
    if (base < 2 || base > 36) return fallback;
    if (auto parsed = ParsePythonInt(v.str(), static_cast<int>(base))) return Value::Int(*parsed);
    if (auto parsed = ParsePythonFloat(v.str())) {
      if (std::isfinite(*parsed) && std::fabs(*parsed) < 9.2e18) return Value::Int(static_cast<int64_t>(*parsed));
    }
  }
  return fallback;
}

absl::StatusOr<Value> FilterItems(Renderer& renderer, const Value& v, const CallArgs&) {
  if (v.is_undefined()) return MakeList({});
  if (!v.is_dict()) return Error("Can only get item pairs from a mapping.");
  std::vector<Value> pairs;
  pairs.reserve(v.dict().entries.size());
  for (const auto& [key, value] : v.dict().entries) {
    ASSIGN_OR_RETURN(Value pair, MakeTuple(Value::String(key), value));
    pairs.push_back(std::move(pair));
  }
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(pairs.size())));
  return MakeList(std::move(pairs));
}

absl::StatusOr<Value> FilterJoin(Renderer& renderer, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(std::string separator, StringArg(args, 0, "d", std::string()));
  const Value* attribute = args.Get(1, "attribute");
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    if (attribute != nullptr && !attribute->is_none()) {
      ASSIGN_OR_RETURN(Value field, GetAttributePath(items[i], *attribute));
      out += field.ToString();
    } else {
      out += items[i].ToString();
    }
    RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
  }
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(items.size() + out.size() / 64)));
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterLast(Renderer&, const Value& v, const CallArgs&) {
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  if (items.empty()) return Value::MakeUndefined("No last item, sequence was empty.");
  return items.back();
}

absl::StatusOr<Value> FilterLength(Renderer&, const Value& v, const CallArgs&) {
  ASSIGN_OR_RETURN(int64_t length, Length(v));
  return Value::Int(length);
}

absl::StatusOr<Value> FilterList(Renderer&, const Value& v, const CallArgs&) {
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  return MakeList(std::move(items));
}

absl::StatusOr<Value> FilterLower(Renderer&, const Value& v, const CallArgs&) { return Value::String(Lower(v.ToString())); }
absl::StatusOr<Value> FilterUpper(Renderer&, const Value& v, const CallArgs&) { return Value::String(Upper(v.ToString())); }

absl::StatusOr<Value> FilterMap(Renderer& renderer, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(items.size())));
  std::vector<Value> out;
  out.reserve(items.size());
  if (const Value* attribute = args.Keyword("attribute")) {
    const Value* fallback = args.Keyword("default");
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(Value field, GetAttributePath(item, *attribute));
      if (field.is_undefined() && fallback != nullptr) field = *fallback;
      out.push_back(std::move(field));
    }
    return MakeList(std::move(out));
  }
  if (args.positional.empty()) return MakeList(std::move(items));
  if (!args.positional[0].is_string()) return Error("map: filter name must be a string");
  const std::string& filter = args.positional[0].str();
  if (!IsKnownFilter(filter)) return Error(absl::StrCat("No filter named '", filter, "'."));
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    ASSIGN_OR_RETURN(Value mapped, ApplyFilter(renderer, filter, item, rest));
    out.push_back(std::move(mapped));
  }
  return MakeList(std::move(out));
}

absl::StatusOr<Value> MinMax(const Value& v, const CallArgs& args, bool want_max) {
  bool case_sensitive = BoolArg(args, 0, "case_sensitive", false);
  const Value* attribute = args.Get(1, "attribute");
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  if (items.empty()) return Value::MakeUndefined(want_max ? "No largest item, sequence was empty."
                                                          : "No smallest item, sequence was empty.");
  size_t best = 0;
  Value best_key;
  for (size_t i = 0; i < items.size(); ++i) {
    Value key = items[i];
    if (attribute != nullptr && !attribute->is_none()) {
      ASSIGN_OR_RETURN(key, GetAttributePath(items[i], *attribute));
    }
    if (i == 0) {
      best_key = key;
      continue;
    }
    ASSIGN_OR_RETURN(int c, CompareValues(key, best_key, case_sensitive));
    if (want_max ? c > 0 : c < 0) {
      best = i;
      best_key = key;
    }
  }
  return items[best];
}

absl::StatusOr<Value> FilterMax(Renderer&, const Value& v, const CallArgs& args) { return MinMax(v, args, true); }
absl::StatusOr<Value> FilterMin(Renderer&, const Value& v, const CallArgs& args) { return MinMax(v, args, false); }

absl::StatusOr<Value> FilterReplace(Renderer& renderer, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(std::string old_text, StringArg(args, 0, "old"));
  ASSIGN_OR_RETURN(std::string new_text, StringArg(args, 1, "new"));
  ASSIGN_OR_RETURN(int64_t count, IntArg(args, 2, "count", -1));
  ASSIGN_OR_RETURN(std::string out, Replace(renderer, v.ToString(), old_text, new_text, count));
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterReverse(Renderer&, const Value& v, const CallArgs&) {
  if (v.is_string()) {
    std::vector<char32_t> cps = ToCodePoints(v.str());
    std::reverse(cps.begin(), cps.end());
    return Value::String(FromCodePoints(cps, 0, cps.size()));
  }
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  std::reverse(items.begin(), items.end());
  return MakeList(std::move(items));
}

absl::StatusOr<Value> FilterRound(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(int64_t precision, IntArg(args, 0, "precision", 0));
  ASSIGN_OR_RETURN(std::string method, StringArg(args, 1, "method", std::string("common")));
  if (!v.is_number()) return Error(absl::StrCat("type ", v.TypeName(), " doesn't define __round__ method"));
  double value = v.as_float();
  precision = std::clamp<int64_t>(precision, -300, 300);
  if (method == "common") {
    if (!std::isfinite(value)) return Value::Float(value);
    if (v.is_int() || v.is_bool()) {
      if (precision >= 0) return Value::Int(v.as_int());  // Python's round() keeps ints as ints
    }
    if (precision == 0) return Value::Float(std::nearbyint(value));
    if (precision > 0) {
      char buffer[512];
      std::snprintf(buffer, sizeof(buffer), "%.*f", static_cast<int>(std::min<int64_t>(precision, 100)), value);
      return Value::Float(std::strtod(buffer, nullptr));
    }
    double scale = std::pow(10.0, static_cast<double>(-precision));
    return Value::Float(std::nearbyint(value / scale) * scale);
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  if (method == "ceil") return Value::Float(std::ceil(value * scale) / scale);
  if (method == "floor") return Value::Float(std::floor(value * scale) / scale);
  return Error("method must be 'common', 'ceil' or 'floor'");
}

absl::StatusOr<Value> SelectOrReject(Renderer& renderer, const Value& v, const CallArgs& args, bool by_attribute,
                                     bool select) {
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(items.size())));
  size_t next = 0;
  Value attribute;
  if (by_attribute) {
    if (args.positional.empty()) return Error("missing attribute name");
    attribute = args.positional[next++];
  }
  std::string test;
  if (next < args.positional.size()) {
    if (!args.positional[next].is_string()) return Error("test name must be a string");
    test = args.positional[next++].str();
    if (!IsKnownTest(test)) return Error(absl::StrCat("No test named '", test, "'."));
  }
  CallArgs test_args;
  test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next), args.positional.end());
  test_args.keyword = args.keyword;
  std::vector<Value> out;
  for (const Value& item : items) {
    Value subject = item;
    if (by_attribute) {
      ASSIGN_OR_RETURN(subject, GetAttributePath(item, attribute));
    }
    bool passed = false;
    if (test.empty()) {
      passed = subject.Truthy();
    } else {
      ASSIGN_OR_RETURN(passed, ApplyTest(renderer, test, subject, test_args));
    }
    if (passed == select) out.push_back(item);
  }
  return MakeList(std::move(out));
}

absl::StatusOr<Value> FilterSelect(Renderer& r, const Value& v, const CallArgs& a) { return SelectOrReject(r, v, a, false, true); }
absl::StatusOr<Value> FilterReject(Renderer& r, const Value& v, const CallArgs& a) { return SelectOrReject(r, v, a, false, false); }
absl::StatusOr<Value> FilterSelectattr(Renderer& r, const Value& v, const CallArgs& a) { return SelectOrReject(r, v, a, true, true); }
absl::StatusOr<Value> FilterRejectattr(Renderer& r, const Value& v, const CallArgs& a) { return SelectOrReject(r, v, a, true, false); }

absl::StatusOr<Value> FilterSafe(Renderer&, const Value& v, const CallArgs&) { return v; }

absl::StatusOr<Value> FilterSort(Renderer& renderer, const Value& v, const CallArgs& args) {
  bool reverse = BoolArg(args, 0, "reverse", false);
  bool case_sensitive = BoolArg(args, 1, "case_sensitive", false);
  const Value* attribute = args.Get(2, "attribute");
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(items.size()) * 4));
  std::vector<Value> keys;
  if (attribute != nullptr && !attribute->is_none()) {
    // Sort (key, item) pairs so that attribute lookups happen once and their errors surface.
    std::vector<Value> pairs;
    for (const Value& item : items) {
      ASSIGN_OR_RETURN(Value key, GetAttributePath(item, *attribute));
      ASSIGN_OR_RETURN(Value pair, MakeTuple(std::move(key), item));
      pairs.push_back(std::move(pair));
    }
    RETURN_IF_ERROR(SortValues(&pairs, case_sensitive, reverse, [](const Value& p) { return p.list().items[0]; }));
    std::vector<Value> out;
    for (const Value& pair : pairs) out.push_back(pair.list().items[1]);
    return MakeList(std::move(out));
  }
  RETURN_IF_ERROR(SortValues(&items, case_sensitive, reverse, [](const Value& x) { return x; }));
  return MakeList(std::move(items));
}

absl::StatusOr<Value> FilterString(Renderer&, const Value& v, const CallArgs&) { return Value::String(v.ToString()); }

absl::StatusOr<Value> FilterSum(Renderer& renderer, const Value& v, const CallArgs& args) {
  const Value* attribute = args.Get(0, "attribute");
  Value total = ArgOr(args, 1, "start", Value::Int(0));
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  for (const Value& item : items) {
    Value term = item;
    if (attribute != nullptr && !attribute->is_none()) {
      ASSIGN_OR_RETURN(term, GetAttributePath(item, *attribute));
    }
    ASSIGN_OR_RETURN(total, BinaryOp(renderer, "+", total, term));
  }
  return total;
}

absl::StatusOr<Value> FilterTitle(Renderer&, const Value& v, const CallArgs&) { return Value::String(JinjaTitle(v.ToString())); }

absl::StatusOr<Value> FilterToJson(Renderer& renderer, const Value& v, const CallArgs& args) {
  JsonDumpOptions options;
  options.ensure_ascii = BoolArg(args, 1, "ensure_ascii", false);
  if (const Value* indent = args.Get(0, "indent"); indent != nullptr && !indent->is_none() && !indent->is_undefined()) {
    if (indent->is_string()) {
      options.indent_from_string = true;
      options.indent_string = indent->str();
    } else if (indent->is_int() || indent->is_bool()) {
      options.indent = static_cast<int>(std::clamp<int64_t>(indent->as_int(), -1, 1024));
      if (options.indent < 0) {
        options.indent_from_string = true;  // json.dumps: negative indent inserts newlines only
      }
    } else {
      return Error("tojson: indent must be an integer or a string");
    }
  }
  if (const Value* separators = args.Get(2, "separators");
      separators != nullptr && !separators->is_none() && !separators->is_undefined()) {
    if (!separators->is_list() || separators->list().items.size() != 2 || !separators->list().items[0].is_string() ||
        !separators->list().items[1].is_string()) {
      return Error("tojson: separators must be a pair of strings");
    }
    options.custom_separators = true;
    options.item_separator = separators->list().items[0].str();
    options.key_separator = separators->list().items[1].str();
  }
  options.sort_keys = BoolArg(args, 3, "sort_keys", false);
  ASSIGN_OR_RETURN(std::string out, PythonJsonDumps(v, options));
  RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(out.size() / 64)));
  return Value::String(std::move(out));
}

absl::StatusOr<Value> FilterTrim(Renderer&, const Value& v, const CallArgs& args) {
  const Value* chars = args.Get(0, "chars");
  std::string text = v.ToString();
  if (chars == nullptr || chars->is_none() || chars->is_undefined()) return Value::String(Strip(text, nullptr, true, true));
  if (!chars->is_string()) return Error("trim: chars must be a string");
  std::vector<char32_t> set = ToCodePoints(chars->str());
  return Value::String(Strip(text, &set, true, true));
}

absl::StatusOr<Value> FilterTruncate(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(int64_t length, IntArg(args, 0, "length", 255));
  bool killwords = BoolArg(args, 1, "killwords", false);
  ASSIGN_OR_RETURN(std::string end, StringArg(args, 2, "end", std::string("...")));
  ASSIGN_OR_RETURN(int64_t leeway, IntArg(args, 3, "leeway", 5));
  std::vector<char32_t> cps = ToCodePoints(v.ToString());
  int64_t end_length = static_cast<int64_t>(CodePointCount(end));
  if (length < end_length) return Error("expected length >= len(end)");
  if (static_cast<int64_t>(cps.size()) <= length + leeway) return Value::String(v.ToString());
  size_t cut = static_cast<size_t>(length - end_length);
  if (killwords) return Value::String(FromCodePoints(cps, 0, cut) + end);
  std::string head = FromCodePoints(cps, 0, cut);
  size_t space = head.rfind(' ');
  if (space != std::string::npos) head = head.substr(0, space);
  return Value::String(head + end);
}

absl::StatusOr<Value> FilterUnique(Renderer& renderer, const Value& v, const CallArgs& args) {
  bool case_sensitive = BoolArg(args, 0, "case_sensitive", false);
  const Value* attribute = args.Get(1, "attribute");
  ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(items.size())));
  std::vector<Value> out;
  std::vector<Value> seen;
  absl::flat_hash_set<std::string> seen_strings;
  for (const Value& item : items) {
    Value key = item;
    if (attribute != nullptr && !attribute->is_none()) {
      ASSIGN_OR_RETURN(key, GetAttributePath(item, *attribute));
    }
    if (key.is_string() && !case_sensitive) key = Value::String(Lower(key.str()));
    bool duplicate = false;
    if (key.is_string()) {
      duplicate = !seen_strings.insert(key.str()).second;
    } else {
      if (key.is_list() || key.is_dict()) return Error(absl::StrCat("unhashable type: '", key.TypeName(), "'"));
      RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(seen.size())));
      for (const Value& s : seen) duplicate = duplicate || s.Equals(key);
      if (!duplicate) seen.push_back(key);
    }
    if (!duplicate) out.push_back(item);
  }
  return MakeList(std::move(out));
}

absl::StatusOr<Value> FilterWordcount(Renderer&, const Value& v, const CallArgs&) {
  int64_t count = 0;
  bool in_word = false;
  const std::string text = v.ToString();
  size_t pos = 0;
  while (pos < text.size()) {
    char32_t cp = DecodeUtf8(text, &pos);
    bool word = IsAlpha(cp) || IsDigit(cp) || cp == '_' || cp >= 0x80;
    if (word && IsPythonSpace(cp)) word = false;
    if (word && !in_word) ++count;
    in_word = word;
  }
  return Value::Int(count);
}

absl::StatusOr<Value> FilterPprint(Renderer&, const Value& v, const CallArgs&) { return Value::String(v.Repr()); }

const absl::flat_hash_map<absl::string_view, FilterFn>& Filters() {
  static const auto* filters = new absl::flat_hash_map<absl::string_view, FilterFn>{
      {"abs", FilterAbs},
      {"attr", FilterAttr},
      {"batch", FilterBatch},
      {"capitalize", FilterCapitalize},
      {"center", FilterCenter},
      {"count", FilterLength},
      {"d", FilterDefault},
      {"default", FilterDefault},
      {"dictsort", FilterDictsort},
      {"e", FilterEscape},
      {"escape", FilterEscape},
      {"first", FilterFirst},
      {"float", FilterFloat},
      {"forceescape", FilterEscape},
      {"format", FilterFormat},
      {"indent", FilterIndent},
      {"int", FilterInt},
      {"items", FilterItems},
      {"join", FilterJoin},
      {"last", FilterLast},
      {"length", FilterLength},
      {"list", FilterList},
      {"lower", FilterLower},
      {"map", FilterMap},
      {"max", FilterMax},
      {"min", FilterMin},
      {"pprint", FilterPprint},
      {"reject", FilterReject},
      {"rejectattr", FilterRejectattr},
      {"replace", FilterReplace},
      {"reverse", FilterReverse},
      {"round", FilterRound},
      {"safe", FilterSafe},
      {"select", FilterSelect},
      {"selectattr", FilterSelectattr},
      {"sort", FilterSort},
      {"string", FilterString},
      {"sum", FilterSum},
      {"title", FilterTitle},
      {"tojson", FilterToJson},
      {"trim", FilterTrim},
      {"truncate", FilterTruncate},
      {"unique", FilterUnique},
      {"upper", FilterUpper},
      {"wordcount", FilterWordcount},
  };
  return *filters;
}

// ---------------------------------------------------------------------------------------------------------------
// Tests.

absl::StatusOr<bool> TestDefined(Renderer&, const Value& v, const CallArgs&) { return !v.is_undefined(); }
absl::StatusOr<bool> TestUndefined(Renderer&, const Value& v, const CallArgs&) { return v.is_undefined(); }
absl::StatusOr<bool> TestNone(Renderer&, const Value& v, const CallArgs&) { return v.is_none(); }
absl::StatusOr<bool> TestBoolean(Renderer&, const Value& v, const CallArgs&) { return v.is_bool(); }
absl::StatusOr<bool> TestTrue(Renderer&, const Value& v, const CallArgs&) { return v.is_bool() && v.as_bool(); }
absl::StatusOr<bool> TestFalse(Renderer&, const Value& v, const CallArgs&) { return v.is_bool() && !v.as_bool(); }
absl::StatusOr<bool> TestInteger(Renderer&, const Value& v, const CallArgs&) { return v.is_int(); }
absl::StatusOr<bool> TestFloat(Renderer&, const Value& v, const CallArgs&) { return v.is_float(); }
absl::StatusOr<bool> TestNumber(Renderer&, const Value& v, const CallArgs&) { return v.is_number(); }
absl::StatusOr<bool> TestString(Renderer&, const Value& v, const CallArgs&) { return v.is_string(); }
absl::StatusOr<bool> TestMapping(Renderer&, const Value& v, const CallArgs&) { return v.is_dict(); }
absl::StatusOr<bool> TestIterable(Renderer&, const Value& v, const CallArgs&) {
  return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined();
}
absl::StatusOr<bool> TestSequence(Renderer&, const Value& v, const CallArgs&) {
  return v.is_list() || v.is_dict() || v.is_string();
}
absl::StatusOr<bool> TestCallable(Renderer&, const Value& v, const CallArgs&) { return v.is_callable(); }
absl::StatusOr<bool> TestEscaped(Renderer&, const Value&, const CallArgs&) { return false; }

absl::StatusOr<bool> TestLower(Renderer&, const Value& v, const CallArgs&) {
  if (!v.is_string()) return false;
  return v.str() == Lower(v.str()) && v.str() != Upper(v.str());
}
absl::StatusOr<bool> TestUpper(Renderer&, const Value& v, const CallArgs&) {
  if (!v.is_string()) return false;
  return v.str() == Upper(v.str()) && v.str() != Lower(v.str());
}

absl::StatusOr<int64_t> IntegerSubject(const Value& v, absl::string_view test) {
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float() && std::floor(v.as_float()) == v.as_float() && std::fabs(v.as_float()) < 9e18) {
    return static_cast<int64_t>(v.as_float());
  }
  return Error(absl::StrCat("test '", test, "' needs an integer, got ", v.TypeName()));
}

absl::StatusOr<bool> TestOdd(Renderer&, const Value& v, const CallArgs&) {
  if (v.is_float()) return std::fmod(v.as_float(), 2.0) != 0.0;
  ASSIGN_OR_RETURN(int64_t n, IntegerSubject(v, "odd"));
  return n % 2 != 0;
}
absl::StatusOr<bool> TestEven(Renderer&, const Value& v, const CallArgs&) {
  if (v.is_float()) return std::fmod(v.as_float(), 2.0) == 0.0;
  ASSIGN_OR_RETURN(int64_t n, IntegerSubject(v, "even"));
  return n % 2 == 0;
}
absl::StatusOr<bool> TestDivisibleBy(Renderer&, const Value& v, const CallArgs& args) {
  const Value* divisor = args.Get(0, "num");
  if (divisor == nullptr || !divisor->is_number()) return Error("divisibleby needs a number");
  if (v.is_float() || divisor->is_float()) {
    if (divisor->as_float() == 0.0) return Error("float modulo");
    return std::fmod(v.as_float(), divisor->as_float()) == 0.0;
  }
  if (divisor->as_int() == 0) return Error("integer division or modulo by zero");
  ASSIGN_OR_RETURN(int64_t n, IntegerSubject(v, "divisibleby"));
  if (divisor->as_int() == -1) return true;
  return n % divisor->as_int() == 0;
}

const Value& OtherArg(const CallArgs& args) {
  static const Value kUndefined;
  const Value* other = args.Get(0, "other");
  return other == nullptr ? kUndefined : *other;
}

absl::StatusOr<bool> TestEq(Renderer&, const Value& v, const CallArgs& args) { return v.Equals(OtherArg(args)); }
absl::StatusOr<bool> TestNe(Renderer&, const Value& v, const CallArgs& args) { return !v.Equals(OtherArg(args)); }
absl::StatusOr<bool> TestLt(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(int c, CompareValues(v, OtherArg(args)));
  return c < 0;
}
absl::StatusOr<bool> TestLe(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(int c, CompareValues(v, OtherArg(args)));
  return c <= 0;
}
absl::StatusOr<bool> TestGt(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(int c, CompareValues(v, OtherArg(args)));
  return c > 0;
}
absl::StatusOr<bool> TestGe(Renderer&, const Value& v, const CallArgs& args) {
  ASSIGN_OR_RETURN(int c, CompareValues(v, OtherArg(args)));
  return c >= 0;
}
absl::StatusOr<bool> TestIn(Renderer&, const Value& v, const CallArgs& args) {
  const Value* seq = args.Get(0, "seq");
  if (seq == nullptr) return Error("test 'in' needs a container");
  return Contains(*seq, v);
}

// `is sameas`: Python identity; for the immutable values templates compare this way (None, booleans, small
// literals) equality of kind and value is what identity gives.
absl::StatusOr<bool> TestSameAs(Renderer&, const Value& v, const CallArgs& args) {
  const Value& other = OtherArg(args);
  if (v.kind() != other.kind()) return false;
  if (v.is_list()) return &v.list() == &other.list();
  if (v.is_dict()) return &v.dict() == &other.dict();
  return v.Equals(other);
}

absl::StatusOr<bool> TestFilter(Renderer&, const Value& v, const CallArgs&) { return v.is_string() && IsKnownFilter(v.str()); }
absl::StatusOr<bool> TestTest(Renderer&, const Value& v, const CallArgs&) { return v.is_string() && IsKnownTest(v.str()); }

const absl::flat_hash_map<absl::string_view, TestFn>& Tests() {
  static const auto* tests = new absl::flat_hash_map<absl::string_view, TestFn>{
      {"boolean", TestBoolean},   {"callable", TestCallable},   {"defined", TestDefined},
      {"divisibleby", TestDivisibleBy}, {"eq", TestEq},         {"equalto", TestEq},
      {"==", TestEq},             {"escaped", TestEscaped},     {"even", TestEven},
      {"false", TestFalse},       {"filter", TestFilter},       {"float", TestFloat},
      {"ge", TestGe},             {">=", TestGe},               {"gt", TestGt},
      {"greaterthan", TestGt},    {">", TestGt},                {"in", TestIn},
      {"integer", TestInteger},   {"iterable", TestIterable},   {"le", TestLe},
      {"<=", TestLe},             {"lower", TestLower},         {"lt", TestLt},
      {"lessthan", TestLt},       {"<", TestLt},                {"mapping", TestMapping},
      {"ne", TestNe},             {"!=", TestNe},               {"none", TestNone},
      {"number", TestNumber},     {"odd", TestOdd},             {"sameas", TestSameAs},
      {"sequence", TestSequence}, {"string", TestString},       {"test", TestTest},
      {"true", TestTrue},         {"undefined", TestUndefined}, {"upper", TestUpper},
  };
  return *tests;
}

// ---------------------------------------------------------------------------------------------------------------
// Methods.

const absl::flat_hash_set<absl::string_view>& StringMethods() {
  static const auto* methods = new absl::flat_hash_set<absl::string_view>{
      "capitalize", "center",     "count",      "endswith",     "find",    "format",      "index",
      "isalnum",    "isalpha",    "isdigit",    "islower",      "isspace", "isupper",     "join",
      "ljust",      "lower",      "lstrip",     "removeprefix", "removesuffix", "replace", "rfind",
      "rjust",      "rsplit",     "rstrip",     "split",        "splitlines",   "startswith", "strip",
      "title",      "upper",      "zfill"};
  return *methods;
}

absl::StatusOr<bool> AffixMatch(const Value& self, const CallArgs& args, bool prefix) {
  const Value* affix = args.Get(0, prefix ? "prefix" : "suffix");
  if (affix == nullptr) return Error(prefix ? "startswith takes at least 1 argument" : "endswith takes at least 1 argument");
  std::vector<Value> candidates;
  if (affix->is_list() && affix->list().is_tuple) {
    candidates = affix->list().items;
  } else {
    candidates.push_back(*affix);
  }
  for (const Value& candidate : candidates) {
    if (!candidate.is_string()) {
      return Error(absl::StrCat(prefix ? "startswith" : "endswith",
                                " first arg must be str or a tuple of str, not ", candidate.TypeName()));
    }
    const std::string& s = self.str();
    const std::string& a = candidate.str();
    if (a.size() <= s.size() && (prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0)) {
      return true;
    }
  }
  return false;
}

int64_t CodePointIndex(const std::string& s, size_t byte_offset) {
  return static_cast<int64_t>(CodePointCount(absl::string_view(s).substr(0, byte_offset)));
}

template <typename Predicate>
bool AllCodePoints(const std::string& s, Predicate predicate) {
  if (s.empty()) return false;
  size_t pos = 0;
  while (pos < s.size()) {
    if (!predicate(DecodeUtf8(s, &pos))) return false;
  }
  return true;
}

absl::StatusOr<Value> CallStringMethod(Renderer& renderer, const Value& self, absl::string_view name,
                                       const CallArgs& args) {
  const std::string& s = self.str();
  if (name == "startswith") {
    ASSIGN_OR_RETURN(bool matched, AffixMatch(self, args, true));
    return Value::Bool(matched);
  }
  if (name == "endswith") {
    ASSIGN_OR_RETURN(bool matched, AffixMatch(self, args, false));
    return Value::Bool(matched);
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ASSIGN_OR_RETURN(std::string out, StripWithArgs(self, args, name != "rstrip", name != "lstrip"));
    return Value::String(std::move(out));
  }
  if (name == "split") return Split(self, args, false);
  if (name == "rsplit") return Split(self, args, true);
  if (name == "splitlines") {
    std::vector<Value> lines;
    for (auto& line : SplitLines(s, BoolArg(args, 0, "keepends", false))) lines.push_back(Value::String(std::move(line)));
    return MakeList(std::move(lines));
  }
  if (name == "upper") return Value::String(Upper(s));
  if (name == "lower") return Value::String(Lower(s));
  if (name == "title") return Value::String(PythonTitle(s));
  if (name == "capitalize") return Value::String(Capitalize(s));
  if (name == "replace") {
    ASSIGN_OR_RETURN(std::string old_text, StringArg(args, 0, "old"));
    ASSIGN_OR_RETURN(std::string new_text, StringArg(args, 1, "new"));
    ASSIGN_OR_RETURN(int64_t count, IntArg(args, 2, "count", -1));
    ASSIGN_OR_RETURN(std::string out, Replace(renderer, s, old_text, new_text, count));
    return Value::String(std::move(out));
  }
  if (name == "find" || name == "rfind" || name == "index") {
    ASSIGN_OR_RETURN(std::string sub, StringArg(args, 0, "sub"));
    size_t found = name == "rfind" ? s.rfind(sub) : s.find(sub);
    if (found == std::string::npos) {
      if (name == "index") return Error("substring not found");
      return Value::Int(-1);
    }
    return Value::Int(CodePointIndex(s, found));
  }
  if (name == "count") {
    ASSIGN_OR_RETURN(std::string sub, StringArg(args, 0, "sub"));
    if (sub.empty()) return Value::Int(static_cast<int64_t>(CodePointCount(s)) + 1);
    int64_t count = 0;
    for (size_t pos = s.find(sub); pos != std::string::npos; pos = s.find(sub, pos + sub.size())) ++count;
    return Value::Int(count);
  }
  if (name == "join") {
    const Value* iterable = args.Get(0, "iterable");
    if (iterable == nullptr) return Error("join() takes exactly one argument");
    ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(*iterable));
    std::string out;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) {
        return Error(absl::StrCat("sequence item ", i, ": expected str instance, ", items[i].TypeName(), " found"));
      }
      if (i > 0) out += s;
      out += items[i].str();
      RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
    }
    return Value::String(std::move(out));
  }
  if (name == "format") {
    ASSIGN_OR_RETURN(std::string out, StrFormat(renderer, s, args));
    return Value::String(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ASSIGN_OR_RETURN(std::string affix, StringArg(args, 0, "affix"));
    if (name == "removeprefix" && s.compare(0, affix.size(), affix) == 0) return Value::String(s.substr(affix.size()));
    if (name == "removesuffix" && affix.size() <= s.size() && s.compare(s.size() - affix.size(), affix.size(), affix) == 0) {
      return Value::String(s.substr(0, s.size() - affix.size()));
    }
    return self;
  }
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    ASSIGN_OR_RETURN(int64_t width, IntArg(args, 0, "width"));
    if (name == "zfill") {
      if (!s.empty() && (s[0] == '+' || s[0] == '-')) return Value::String(s.substr(0, 1) + Pad(s.substr(1), width - 1, '0', '>'));
      return Value::String(Pad(s, width, '0', '>'));
    }
    char32_t fill = ' ';
    if (const Value* fill_arg = args.Get(1, "fillchar"); fill_arg != nullptr && fill_arg->is_string()) {
      std::vector<char32_t> cps = ToCodePoints(fill_arg->str());
      if (cps.size() != 1) return Error("The fill character must be exactly one character long");
      fill = cps[0];
    }
    return Value::String(Pad(s, width, fill, name == "center" ? '^' : name == "ljust" ? '<' : '>'));
  }
  if (name == "isdigit") return Value::Bool(AllCodePoints(s, IsDigit));
  if (name == "isalpha") return Value::Bool(AllCodePoints(s, IsAlpha));
  if (name == "isalnum") return Value::Bool(AllCodePoints(s, [](char32_t c) { return IsAlpha(c) || IsDigit(c); }));
  if (name == "isspace") return Value::Bool(AllCodePoints(s, IsPythonSpace));
  if (name == "islower" || name == "isupper") {
    bool any_cased = false;
    size_t pos = 0;
    while (pos < s.size()) {
      char32_t cp = DecodeUtf8(s, &pos);
      if (!IsCased(cp)) continue;
      any_cased = true;
      if (name == "islower" ? ToLower(cp) != cp : ToUpper(cp) != cp) return Value::Bool(false);
    }
    return Value::Bool(any_cased);
  }
  return Error(absl::StrCat("'str' object has no attribute '", name, "'"));
}

absl::StatusOr<Value> CallDictMethod(Renderer& renderer, const Value& self, absl::string_view name, const CallArgs& args) {
  const DictData& dict = self.dict();
  if (name == "get") {
    const Value* key = args.Get(0, "key");
    if (key == nullptr) return Error("get expected at least 1 argument, got 0");
    Value fallback = ArgOr(args, 1, "default", Value::MakeNone());
    if (!key->is_string()) return fallback;
    const Value* found = dict.Find(key->str());
    return found != nullptr ? *found : fallback;
  }
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(dict.entries.size())));
  std::vector<Value> out;
  out.reserve(dict.entries.size());
  for (const auto& [key, value] : dict.entries) {
    if (name == "keys") {
      out.push_back(Value::String(key));
    } else if (name == "values") {
      out.push_back(value);
    } else {
      ASSIGN_OR_RETURN(Value pair, MakeTuple(Value::String(key), value));
      out.push_back(std::move(pair));
    }
  }
  return MakeList(std::move(out));
}

absl::StatusOr<Value> CallListMethod(const Value& self, absl::string_view name, const CallArgs& args) {
  const Value* needle = args.Get(0, "value");
  if (needle == nullptr) return Error(absl::StrCat(name, "() takes exactly one argument"));
  const auto& items = self.list().items;
  int64_t count = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].Equals(*needle)) continue;
    if (name == "index") return Value::Int(static_cast<int64_t>(i));
    ++count;
  }
  if (name == "index") return Error(absl::StrCat(needle->Repr(), " is not in list"));
  return Value::Int(count);
}

// ---------------------------------------------------------------------------------------------------------------
// Globals.

using GlobalFn = absl::StatusOr<Value> (*)(Renderer&, CallArgs&);

class BuiltinFunction : public Callable {
 public:
  BuiltinFunction(std::string name, GlobalFn fn) : name_(std::move(name)), fn_(fn) {}
  std::string Name() const override { return name_; }
  absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) override { return fn_(renderer, args); }

 private:
  std::string name_;
  GlobalFn fn_;
};

absl::StatusOr<Value> GlobalRange(Renderer& renderer, CallArgs& args) {
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  for (const Value& v : args.positional) {
    if (!v.is_int() && !v.is_bool()) {
      return Error(absl::StrCat("'", v.TypeName(), "' object cannot be interpreted as an integer"));
    }
  }
  if (args.positional.size() == 1) {
    stop = args.positional[0].as_int();
  } else if (args.positional.size() == 2 || args.positional.size() == 3) {
    start = args.positional[0].as_int();
    stop = args.positional[1].as_int();
    if (args.positional.size() == 3) step = args.positional[2].as_int();
  } else {
    return Error(absl::StrCat("range expected 1 to 3 arguments, got ", args.positional.size()));
  }
  if (step == 0) return Error("range() arg 3 must not be zero");
  long double span = step > 0 ? static_cast<long double>(stop) - start : static_cast<long double>(start) - stop;
  long double count_ld = span <= 0 ? 0 : (span + std::llabs(step) - 1) / std::llabs(step);
  if (count_ld > static_cast<long double>(renderer.limits().max_range)) {
    return Error(absl::StrCat("Range too big. The sandbox blocks ranges larger than MAX_RANGE (",
                              renderer.limits().max_range, ")."));
  }
  int64_t count = static_cast<int64_t>(count_ld);
  RETURN_IF_ERROR(renderer.Charge(count));
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) items.push_back(Value::Int(start + i * step));
  return MakeList(std::move(items));
}

absl::StatusOr<Value> GlobalNamespace(Renderer&, CallArgs& args) {
  auto data = std::make_shared<DictData>();
  for (const Value& positional : args.positional) {
    if (!positional.is_dict()) return Error("namespace() accepts only mappings as positional arguments");
    for (const auto& [key, value] : positional.dict().entries) data->Set(key, value);
  }
  for (auto& [key, value] : args.keyword) data->Set(key, value);
  if (data->holds_namespace) return Error("a namespace cannot hold another namespace");
  return Value::Namespace(std::move(data));
}

absl::StatusOr<Value> GlobalDict(Renderer&, CallArgs& args) {
  std::vector<std::pair<std::string, Value>> entries;
  for (const Value& positional : args.positional) {
    if (!positional.is_dict()) return Error("dict() accepts only a mapping as positional argument");
    for (const auto& entry : positional.dict().entries) entries.push_back(entry);
  }
  for (auto& entry : args.keyword) entries.push_back(entry);
  return Value::Dict(std::move(entries));
}

absl::StatusOr<Value> GlobalRaiseException(Renderer&, CallArgs& args) {
  const Value* message = args.Get(0, "message");
  return Error(message == nullptr ? "raise_exception called" : message->ToString());
}

absl::StatusOr<Value> GlobalStrftimeNow(Renderer&, CallArgs& args) {
  ASSIGN_OR_RETURN(std::string format, StringArg(args, 0, "format"));
  if (format.size() > 256) return Error("strftime_now: format string too long");
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buffer[4096];
  size_t written = format.empty() ? 0 : std::strftime(buffer, sizeof(buffer), format.c_str(), &local);
  return Value::String(std::string(buffer, written));
}

// joiner(sep): a callable that returns "" the first time and `sep` afterwards.
class Joiner : public Callable {
 public:
  explicit Joiner(std::string separator) : separator_(std::move(separator)) {}
  std::string Name() const override { return "joiner"; }
  absl::StatusOr<Value> Call(Renderer&, CallArgs&) override {
    if (!used_) {
      used_ = true;
      return Value::String("");
    }
    return Value::String(separator_);
  }

 private:
  std::string separator_;
  bool used_ = false;
};

absl::StatusOr<Value> GlobalJoiner(Renderer&, CallArgs& args) {
  ASSIGN_OR_RETURN(std::string separator, StringArg(args, 0, "sep", std::string(", ")));
  return Value::Function(std::make_shared<Joiner>(std::move(separator)));
}

}  // namespace

bool IsKnownFilter(absl::string_view name) { return Filters().contains(name); }
bool IsKnownTest(absl::string_view name) { return Tests().contains(name); }

absl::StatusOr<Value> ApplyFilter(Renderer& renderer, absl::string_view name, const Value& input, const CallArgs& args) {
  auto it = Filters().find(name);
  if (it == Filters().end()) return Error(absl::StrCat("No filter named '", name, "'."));
  // Filters other than these treat their input as a real value; using an Undefined one is an error in Jinja.
  static const absl::flat_hash_set<absl::string_view> kAcceptUndefined = {
      "default", "d", "string", "length", "count", "list", "items", "first", "last", "join", "lower", "upper",
      "trim", "capitalize", "title", "escape", "e", "safe", "replace", "indent", "center", "wordcount",
      "pprint", "int", "float", "map", "select", "reject", "selectattr", "rejectattr", "unique", "batch",
      "sort", "reverse", "sum", "min", "max", "truncate", "forceescape"};
  if (input.is_undefined() && !kAcceptUndefined.contains(name)) return UndefinedError(input);
  return it->second(renderer, input, args);
}

absl::StatusOr<bool> ApplyTest(Renderer& renderer, absl::string_view name, const Value& input, const CallArgs& args) {
  auto it = Tests().find(name);
  if (it == Tests().end()) return Error(absl::StrCat("No test named '", name, "'."));
  return it->second(renderer, input, args);
}

bool HasMethod(const Value& self, absl::string_view name) {
  if (self.is_string()) return StringMethods().contains(name);
  if (self.is_dict()) return name == "get" || name == "items" || name == "keys" || name == "values";
  if (self.is_list()) return name == "index" || name == "count";
  return false;
}

bool IsUnsafeMethod(const Value& self, absl::string_view name) {
  if (self.is_list()) {
    return name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
           name == "reverse" || name == "sort" || name == "clear";
  }
  if (self.is_dict()) {
    return name == "update" || name == "pop" || name == "popitem" || name == "setdefault" || name == "clear";
  }
  return false;
}

absl::StatusOr<Value> CallMethod(Renderer& renderer, const Value& self, absl::string_view name, const CallArgs& args) {
  if (self.is_string()) return CallStringMethod(renderer, self, name, args);
  if (self.is_dict()) return CallDictMethod(renderer, self, name, args);
  if (self.is_list()) return CallListMethod(self, name, args);
  return Error(absl::StrCat("'", self.TypeName(), "' object has no attribute '", name, "'"));
}

std::optional<Value> LookupGlobal(absl::string_view name) {
  static const auto* globals = [] {
    auto* map = new absl::flat_hash_map<std::string, Value>();
    auto add = [&](const char* global_name, GlobalFn fn) {
      (*map)[global_name] = Value::Function(std::make_shared<BuiltinFunction>(global_name, fn));
    };
    add("range", GlobalRange);
    add("namespace", GlobalNamespace);
    add("dict", GlobalDict);
    add("raise_exception", GlobalRaiseException);
    add("strftime_now", GlobalStrftimeNow);
    add("joiner", GlobalJoiner);
    return map;
  }();
  auto it = globals->find(name);
  if (it == globals->end()) return std::nullopt;
  return it->second;
}

}  // namespace tessera::jinja
