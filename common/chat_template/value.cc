#include "common/chat_template/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/chat_template/unicode.h"
#include "common/status_macros.h"

namespace tessera::jinja {
namespace {

absl::Status TooDeep() {
  return absl::InvalidArgumentError(absl::StrCat("value nests deeper than ", kMaxValueDepth, " levels"));
}

std::string PythonStringRepr(absl::string_view s) {
  bool has_single = s.find('\'') != absl::string_view::npos;
  bool has_double = s.find('"') != absl::string_view::npos;
  char quote = (has_single && !has_double) ? '"' : '\'';
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back(quote);
  size_t pos = 0;
  while (pos < s.size()) {
    size_t start = pos;
    char32_t cp = DecodeUtf8(s, &pos);
    if (cp == static_cast<char32_t>(quote) || cp == U'\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == U'\n') {
      out += "\\n";
    } else if (cp == U'\r') {
      out += "\\r";
    } else if (cp == U'\t') {
      out += "\\t";
    } else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
      out += absl::StrFormat("\\x%02x", static_cast<unsigned>(cp));
    } else {
      out.append(s.data() + start, pos - start);
    }
  }
  out.push_back(quote);
  return out;
}

void AppendJsonString(absl::string_view s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  size_t pos = 0;
  while (pos < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[pos]);
    if (c < 0x80) {
      ++pos;
      switch (c) {
        case '"': *out += "\\\""; break;
        case '\\': *out += "\\\\"; break;
        case '\n': *out += "\\n"; break;
        case '\r': *out += "\\r"; break;
        case '\t': *out += "\\t"; break;
        case '\b': *out += "\\b"; break;
        case '\f': *out += "\\f"; break;
        default:
          if (c < 0x20) {
            *out += absl::StrFormat("\\u%04x", c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      continue;
    }
    size_t start = pos;
    char32_t cp = DecodeUtf8(s, &pos);
    if (!ensure_ascii) {
      out->append(s.data() + start, pos - start);
    } else if (cp >= 0x10000) {
      char32_t v = cp - 0x10000;
      *out += absl::StrFormat("\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
    } else {
      *out += absl::StrFormat("\\u%04x", static_cast<unsigned>(cp));
    }
  }
  out->push_back('"');
}

class JsonWriter {
 public:
  explicit JsonWriter(const JsonDumpOptions& options) : options_(options) {
    if (options.indent_from_string) {
      indent_unit_ = options.indent_string;
      indented_ = true;
    } else if (options.indent >= 0) {
      indent_unit_ = std::string(static_cast<size_t>(options.indent), ' ');
      indented_ = true;
    }
    item_separator_ = options.custom_separators ? options.item_separator : (indented_ ? "," : ", ");
  }

  absl::Status Write(const Value& value, int level, std::string* out) {
    switch (value.kind()) {
      case Value::Kind::kNone: *out += "null"; return absl::OkStatus();
      case Value::Kind::kBool: *out += value.as_bool() ? "true" : "false"; return absl::OkStatus();
      case Value::Kind::kInt: absl::StrAppend(out, value.as_int()); return absl::OkStatus();
      case Value::Kind::kFloat: {
        double d = value.as_float();
        if (std::isnan(d)) {
          *out += "NaN";
        } else if (std::isinf(d)) {
          *out += d > 0 ? "Infinity" : "-Infinity";
        } else {
          *out += PythonFloatRepr(d);
        }
        return absl::OkStatus();
      }
      case Value::Kind::kString: AppendJsonString(value.str(), options_.ensure_ascii, out); return absl::OkStatus();
      case Value::Kind::kList: {
        const auto& items = value.list().items;
        if (items.empty()) {
          *out += "[]";
          return absl::OkStatus();
        }
        out->push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i > 0) *out += item_separator_;
          Newline(level + 1, out);
          RETURN_IF_ERROR(Write(items[i], level + 1, out));
        }
        Newline(level, out);
        out->push_back(']');
        return absl::OkStatus();
      }
      case Value::Kind::kDict: {
        std::vector<const std::pair<std::string, Value>*> entries;
        for (const auto& entry : value.dict().entries) entries.push_back(&entry);
        if (options_.sort_keys) {
          std::stable_sort(entries.begin(), entries.end(), [](auto* a, auto* b) { return a->first < b->first; });
        }
        if (entries.empty()) {
          *out += "{}";
          return absl::OkStatus();
        }
        out->push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i > 0) *out += item_separator_;
          Newline(level + 1, out);
          AppendJsonString(entries[i]->first, options_.ensure_ascii, out);
          *out += options_.key_separator;
          RETURN_IF_ERROR(Write(entries[i]->second, level + 1, out));
        }
        Newline(level, out);
        out->push_back('}');
        return absl::OkStatus();
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("Object of type ", value.TypeName(), " is not JSON serializable"));
    }
  }

 private:
  void Newline(int level, std::string* out) const {
    if (!indented_) return;
    out->push_back('\n');
    for (int i = 0; i < level; ++i) *out += indent_unit_;
  }

  const JsonDumpOptions& options_;
  bool indented_ = false;
  std::string indent_unit_;
  std::string item_separator_;
};

template <typename Json>
absl::StatusOr<Value> ValueFromJson(const Json& json) {
  switch (json.type()) {
    case Json::value_t::null: return Value::MakeNone();
    case Json::value_t::boolean: return Value::Bool(json.template get<bool>());
    case Json::value_t::number_integer: return Value::Int(json.template get<int64_t>());
    case Json::value_t::number_unsigned: {
      uint64_t u = json.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::Float(static_cast<double>(u));
      return Value::Int(static_cast<int64_t>(u));
    }
    case Json::value_t::number_float: return Value::Float(json.template get<double>());
    case Json::value_t::string: return Value::String(json.template get<std::string>());
    case Json::value_t::array: {
      std::vector<Value> items;
      items.reserve(json.size());
      for (const auto& element : json) {
        ASSIGN_OR_RETURN(Value item, ValueFromJson(element));
        items.push_back(std::move(item));
      }
      return Value::List(std::move(items));
    }
    case Json::value_t::object: {
      std::vector<std::pair<std::string, Value>> entries;
      entries.reserve(json.size());
      for (auto it = json.begin(); it != json.end(); ++it) {
        ASSIGN_OR_RETURN(Value item, ValueFromJson(it.value()));
        entries.emplace_back(it.key(), std::move(item));
      }
      return Value::Dict(std::move(entries));
    }
    default:
      return absl::InvalidArgumentError("context holds a JSON value of unsupported type (binary)");
  }
}

}  // namespace

Value Value::MakeUndefined(std::string hint) {
  return Value(Undefined{std::make_shared<const std::string>(std::move(hint))});
}

absl::StatusOr<Value> Value::List(std::vector<Value> items, bool is_tuple) {
  auto data = std::make_shared<ListData>();
  int depth = 0;
  bool holds_ns = false;
  for (const Value& item : items) {
    depth = std::max(depth, item.depth());
    holds_ns = holds_ns || item.holds_namespace();
  }
  if (depth + 1 > kMaxValueDepth) return TooDeep();
  data->items = std::move(items);
  data->is_tuple = is_tuple;
  data->depth = depth + 1;
  data->holds_namespace = holds_ns;
  return Value(ListPtr(std::move(data)));
}

absl::StatusOr<Value> Value::Dict(std::vector<std::pair<std::string, Value>> entries) {
  auto data = std::make_shared<DictData>();
  for (auto& [key, value] : entries) {
    if (value.depth() + 1 > kMaxValueDepth) return TooDeep();
    data->Set(std::move(key), std::move(value));
  }
  return Value(DictPtr(std::move(data)));
}

absl::StatusOr<Value> Value::FromJson(const nlohmann::json& json) { return ValueFromJson(json); }
absl::StatusOr<Value> Value::FromJson(const nlohmann::ordered_json& json) { return ValueFromJson(json); }

const std::string& Value::undefined_hint() const {
  static const std::string kEmpty;
  const auto& hint = std::get<Undefined>(v_).hint;
  return hint ? *hint : kEmpty;
}

int Value::depth() const {
  if (is_list()) return list().depth;
  if (is_dict()) return dict().depth;
  return 0;
}

bool Value::holds_namespace() const {
  if (is_namespace()) return true;
  if (is_list()) return list().holds_namespace;
  if (is_dict()) return dict().holds_namespace;
  return false;
}

bool Value::Truthy() const {
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return false;
    case Kind::kBool: return as_bool();
    case Kind::kInt: return as_int() != 0;
    case Kind::kFloat: return as_float() != 0.0;
    case Kind::kString: return !str().empty();
    case Kind::kList: return !list().items.empty();
    case Kind::kDict: return !dict().entries.empty();
    case Kind::kNamespace:
    case Kind::kCallable: return true;
  }
  return false;
}

std::string Value::ToString() const {
  if (is_string()) return str();
  if (is_undefined()) return "";
  return Repr();
}

std::string Value::Repr() const {
  switch (kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "None";
    case Kind::kBool: return as_bool() ? "True" : "False";
    case Kind::kInt: return absl::StrCat(as_int());
    case Kind::kFloat: return PythonFloatRepr(as_float());
    case Kind::kString: return PythonStringRepr(str());
    case Kind::kList: {
      const ListData& data = list();
      std::string out = data.is_tuple ? "(" : "[";
      for (size_t i = 0; i < data.items.size(); ++i) {
        if (i > 0) out += ", ";
        out += data.items[i].Repr();
      }
      if (data.is_tuple && data.items.size() == 1) out += ",";
      out += data.is_tuple ? ")" : "]";
      return out;
    }
    case Kind::kDict:
    case Kind::kNamespace: {
      const DictData& data = is_dict() ? dict() : *ns();
      std::string out = is_dict() ? "{" : "<Namespace {";
      for (size_t i = 0; i < data.entries.size(); ++i) {
        if (i > 0) out += ", ";
        out += PythonStringRepr(data.entries[i].first);
        out += ": ";
        // A namespace may hold values whose depth is not tracked; print those shallowly.
        const Value& item = data.entries[i].second;
        out += (is_namespace() && item.is_namespace()) ? "<Namespace>" : item.Repr();
      }
      out += is_dict() ? "}" : "}>";
      return out;
    }
    case Kind::kCallable: return absl::StrCat("<function ", callable().Name(), ">");
  }
  return "";
}

std::string Value::TypeName() const {
  switch (kind()) {
    case Kind::kUndefined: return "Undefined";
    case Kind::kNone: return "NoneType";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kString: return "str";
    case Kind::kList: return list().is_tuple ? "tuple" : "list";
    case Kind::kDict: return "dict";
    case Kind::kNamespace: return "Namespace";
    case Kind::kCallable: return "function";
  }
  return "object";
}

bool Value::Equals(const Value& other) const {
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) return as_float() == other.as_float();
    return as_int() == other.as_int();
  }
  if (kind() != other.kind()) return false;
  switch (kind()) {
    case Kind::kUndefined:
    case Kind::kNone: return true;
    case Kind::kString: return str() == other.str();
    case Kind::kList: {
      const ListData& a = list();
      const ListData& b = other.list();
      if (a.is_tuple != b.is_tuple || a.items.size() != b.items.size()) return false;
      for (size_t i = 0; i < a.items.size(); ++i) {
        if (!a.items[i].Equals(b.items[i])) return false;
      }
      return true;
    }
    case Kind::kDict: {
      const DictData& a = dict();
      const DictData& b = other.dict();
      if (a.entries.size() != b.entries.size()) return false;
      for (const auto& [key, value] : a.entries) {
        const Value* match = b.Find(key);
        if (match == nullptr || !value.Equals(*match)) return false;
      }
      return true;
    }
    case Kind::kNamespace: return ns() == other.ns();
    case Kind::kCallable: return &callable() == &other.callable();
    default: return false;
  }
}

const Value* DictData::Find(absl::string_view key) const {
  if (index.empty()) {
    for (const auto& entry : entries) {
      if (entry.first == key) return &entry.second;
    }
    return nullptr;
  }
  auto it = index.find(key);
  return it == index.end() ? nullptr : &entries[it->second].second;
}

void DictData::Set(std::string key, Value value) {
  depth = std::max(depth, value.depth() + 1);
  holds_namespace = holds_namespace || value.holds_namespace();
  if (index.empty()) {
    for (auto& entry : entries) {
      if (entry.first == key) {
        entry.second = std::move(value);
        return;
      }
    }
    entries.emplace_back(std::move(key), std::move(value));
    if (entries.size() > kIndexThreshold) {
      for (size_t i = 0; i < entries.size(); ++i) index.emplace(entries[i].first, i);
    }
    return;
  }
  auto it = index.find(key);
  if (it != index.end()) {
    entries[it->second].second = std::move(value);
    return;
  }
  index.emplace(key, entries.size());
  entries.emplace_back(std::move(key), std::move(value));
}

const Value* CallArgs::Keyword(absl::string_view name) const {
  for (const auto& [key, value] : keyword) {
    if (key == name) return &value;
  }
  return nullptr;
}

const Value* CallArgs::Get(size_t index, absl::string_view name) const {
  if (index < positional.size()) return &positional[index];
  return Keyword(name);
}

std::string PythonFloatRepr(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  absl::string_view sci(buffer, static_cast<size_t>(result.ptr - buffer));
  std::string out;
  if (!sci.empty() && sci[0] == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::from_chars(sci.data() + e_pos + (sci[e_pos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exponent);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  int decimal_point = exponent + 1;  // digits before the decimal point
  int n = static_cast<int>(digits.size());
  if (decimal_point > -4 && decimal_point <= 16) {
    if (decimal_point <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-decimal_point), '0');
      out += digits;
    } else if (decimal_point >= n) {
      out += digits;
      out.append(static_cast<size_t>(decimal_point - n), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decimal_point));
      out.push_back('.');
      out += digits.substr(static_cast<size_t>(decimal_point));
    }
    return out;
  }
  out.push_back(digits[0]);
  if (n > 1) {
    out.push_back('.');
    out += digits.substr(1);
  }
  out += absl::StrFormat("e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
  return out;
}

absl::StatusOr<std::string> PythonJsonDumps(const Value& value, const JsonDumpOptions& options) {
  JsonWriter writer(options);
  std::string out;
  RETURN_IF_ERROR(writer.Write(value, 0, &out));
  return out;
}

}  // namespace tessera::jinja
