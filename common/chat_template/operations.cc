#include "common/chat_template/operations.h"

#include <cmath>

#include "absl/strings/string_view.h"
#include "absl/strings/str_cat.h"
#include "common/chat_template/builtins.h"
#include "common/chat_template/renderer.h"
#include "common/chat_template/unicode.h"
#include "common/status_macros.h"

namespace tessera::jinja {
namespace {

std::string ObjectName(const Value& value) { return absl::StrCat("'", value.TypeName(), " object'"); }

absl::Status TypeError(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

absl::Status UnsupportedOperands(absl::string_view op, const Value& a, const Value& b) {
  return TypeError(absl::StrCat("unsupported operand type(s) for ", op, ": '", a.TypeName(), "' and '", b.TypeName(),
                                "'"));
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

int64_t FloorMod(int64_t a, int64_t b) {
  int64_t r = a % b;
  if (r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

absl::StatusOr<Value> Repeat(Renderer& renderer, const Value& seq, int64_t times) {
  if (times <= 0) {
    if (seq.is_string()) return Value::String("");
    return Value::List({}, seq.list().is_tuple);
  }
  if (seq.is_string()) {
    size_t total = seq.str().size() * static_cast<size_t>(times);
    if (seq.str().size() != 0 && total / seq.str().size() != static_cast<size_t>(times)) {
      return TypeError("repeated string is too large");
    }
    RETURN_IF_ERROR(renderer.CheckStringSize(total));
    RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(total / 64)));
    std::string out;
    out.reserve(total);
    for (int64_t i = 0; i < times; ++i) out += seq.str();
    return Value::String(std::move(out));
  }
  const auto& items = seq.list().items;
  if (!items.empty() && static_cast<uint64_t>(times) > static_cast<uint64_t>(renderer.limits().max_steps)) {
    return TypeError("repeated list is too large");
  }
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(items.size()) * times));
  std::vector<Value> out;
  out.reserve(items.size() * static_cast<size_t>(times));
  for (int64_t i = 0; i < times; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::List(std::move(out), seq.list().is_tuple);
}

// Python's index normalization for sequence access.
std::optional<size_t> NormalizeIndex(int64_t index, size_t size) {
  if (index < 0) index += static_cast<int64_t>(size);
  if (index < 0 || index >= static_cast<int64_t>(size)) return std::nullopt;
  return static_cast<size_t>(index);
}

}  // namespace

absl::Status UndefinedError(const Value& value) {
  const std::string& hint = value.undefined_hint();
  return absl::InvalidArgumentError(hint.empty() ? "value is undefined" : hint);
}

absl::StatusOr<Value> GetAttr(const Value& obj, absl::string_view name) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_namespace()) {
    if (const Value* found = obj.ns()->Find(name)) return *found;
    return Value::MakeUndefined(absl::StrCat("'Namespace' object has no attribute '", name, "'"));
  }
  if (HasMethod(obj, name)) return Value::Function(std::make_shared<BoundMethod>(obj, std::string(name)));
  if (IsUnsafeMethod(obj, name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("access to attribute '", name, "' of '", obj.TypeName(), "' object is unsafe."));
  }
  if (obj.is_dict()) {
    if (const Value* found = obj.dict().Find(name)) return *found;
  }
  return Value::MakeUndefined(absl::StrCat(ObjectName(obj), " has no attribute '", name, "'"));
}

absl::StatusOr<Value> GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict() && key.is_string()) {
    if (const Value* found = obj.dict().Find(key.str())) return *found;
  } else if (obj.is_namespace() && key.is_string()) {
    if (const Value* found = obj.ns()->Find(key.str())) return *found;
  } else if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    if (obj.is_list()) {
      const auto& items = obj.list().items;
      if (auto index = NormalizeIndex(key.as_int(), items.size())) return items[*index];
    } else if (IsAscii(obj.str())) {
      if (auto index = NormalizeIndex(key.as_int(), obj.str().size())) {
        return Value::String(std::string(1, obj.str()[*index]));
      }
    } else {
      std::vector<char32_t> cps = ToCodePoints(obj.str());
      if (auto index = NormalizeIndex(key.as_int(), cps.size())) return Value::String(FromCodePoints(cps, *index, *index + 1));
    }
    return Value::MakeUndefined(absl::StrCat(ObjectName(obj), " has no element ", key.as_int()));
  }
  if (key.is_string()) return GetAttr(obj, key.str());
  return Value::MakeUndefined(absl::StrCat(ObjectName(obj), " has no element ", key.Repr()));
}

absl::StatusOr<Value> SliceValue(Renderer& renderer, const Value& obj, const Value& start_value,
                                 const Value& stop_value, const Value& step_value) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (!obj.is_list() && !obj.is_string()) return TypeError(absl::StrCat("'", obj.TypeName(), "' object is not subscriptable"));
  auto bound = [](const Value& v, const char* what) -> absl::StatusOr<std::optional<int64_t>> {
    if (v.is_undefined() || v.is_none()) return std::optional<int64_t>();
    if (!v.is_int() && !v.is_bool()) {
      return TypeError(absl::StrCat("slice ", what, " must be an integer or None, not '", v.TypeName(), "'"));
    }
    return std::optional<int64_t>(v.as_int());
  };
  ASSIGN_OR_RETURN(auto start, bound(start_value, "indices"));
  ASSIGN_OR_RETURN(auto stop, bound(stop_value, "indices"));
  ASSIGN_OR_RETURN(auto step_opt, bound(step_value, "step"));
  int64_t step = step_opt.value_or(1);
  if (step == 0) return TypeError("slice step cannot be zero");

  bool ascii = obj.is_string() && IsAscii(obj.str());
  std::vector<char32_t> cps;
  if (obj.is_string() && !ascii) cps = ToCodePoints(obj.str());
  int64_t length = obj.is_list() ? static_cast<int64_t>(obj.list().items.size())
                                 : ascii ? static_cast<int64_t>(obj.str().size()) : static_cast<int64_t>(cps.size());
  // PySlice_AdjustIndices.
  auto adjust = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) {
      x += length;
      if (x < 0) x = step < 0 ? -1 : 0;
    } else if (x >= length) {
      x = step < 0 ? length - 1 : length;
    }
    return x;
  };
  int64_t begin = adjust(start, step < 0 ? length - 1 : 0);
  int64_t end = adjust(stop, step < 0 ? -1 : length);
  std::vector<int64_t> indexes;
  for (int64_t i = begin; step > 0 ? i < end : i > end; i += step) indexes.push_back(i);
  RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(indexes.size() / 8)));
  if (obj.is_list()) {
    std::vector<Value> out;
    out.reserve(indexes.size());
    for (int64_t i : indexes) out.push_back(obj.list().items[static_cast<size_t>(i)]);
    return Value::List(std::move(out), obj.list().is_tuple);
  }
  std::string out;
  out.reserve(indexes.size());
  for (int64_t i : indexes) {
    if (ascii) {
      out.push_back(obj.str()[static_cast<size_t>(i)]);
    } else {
      AppendUtf8(cps[static_cast<size_t>(i)], &out);
    }
  }
  return Value::String(std::move(out));
}

absl::StatusOr<Value> Negate(const Value& value) {
  if (value.is_float()) return Value::Float(-value.as_float());
  if (value.is_int() || value.is_bool()) {
    if (value.as_int() == INT64_MIN) return TypeError("integer overflow");
    return Value::Int(-value.as_int());
  }
  if (value.is_undefined()) return UndefinedError(value);
  return TypeError(absl::StrCat("bad operand type for unary -: '", value.TypeName(), "'"));
}

absl::StatusOr<Value> BinaryOp(Renderer& renderer, absl::string_view op, const Value& a, const Value& b) {
  if (op == "~") {
    std::string out = a.ToString();
    if (b.is_string()) {
      out += b.str();
    } else {
      out += b.ToString();
    }
    RETURN_IF_ERROR(renderer.CheckStringSize(out.size()));
    RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(out.size() / 64)));
    return Value::String(std::move(out));
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  if (a.is_number() && b.is_number()) {
    bool use_float = a.is_float() || b.is_float();
    if (op == "/") {
      if (b.as_float() == 0.0) return TypeError("division by zero");
      return Value::Float(a.as_float() / b.as_float());
    }
    if (op == "**") {
      if (!use_float && b.as_int() >= 0) {
        int64_t base = a.as_int();
        int64_t exponent = b.as_int();
        int64_t result = 1;
        while (exponent > 0) {
          if (__builtin_mul_overflow(result, base, &result)) return TypeError("integer overflow");
          --exponent;
          if (result == 0 || result == 1) break;
        }
        if (result == 1 && base == -1 && (b.as_int() % 2 == 1)) result = -1;
        return Value::Int(result);
      }
      return Value::Float(std::pow(a.as_float(), b.as_float()));
    }
    if (use_float) {
      double x = a.as_float();
      double y = b.as_float();
      if (op == "+") return Value::Float(x + y);
      if (op == "-") return Value::Float(x - y);
      if (op == "*") return Value::Float(x * y);
      if (op == "//" || op == "%") {
        if (y == 0.0) return TypeError("float division by zero");
        double mod = std::fmod(x, y);
        if (mod != 0 && ((mod < 0) != (y < 0))) mod += y;
        if (op == "%") return Value::Float(mod);
        return Value::Float(std::round((x - mod) / y));
      }
    } else {
      int64_t x = a.as_int();
      int64_t y = b.as_int();
      int64_t result = 0;
      if (op == "+") {
        if (__builtin_add_overflow(x, y, &result)) return TypeError("integer overflow");
        return Value::Int(result);
      }
      if (op == "-") {
        if (__builtin_sub_overflow(x, y, &result)) return TypeError("integer overflow");
        return Value::Int(result);
      }
      if (op == "*") {
        if (__builtin_mul_overflow(x, y, &result)) return TypeError("integer overflow");
        return Value::Int(result);
      }
      if (op == "//" || op == "%") {
        if (y == 0) return TypeError("integer division or modulo by zero");
        if (x == INT64_MIN && y == -1) return TypeError("integer overflow");
        return Value::Int(op == "//" ? FloorDiv(x, y) : FloorMod(x, y));
      }
    }
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      RETURN_IF_ERROR(renderer.CheckStringSize(a.str().size() + b.str().size()));
      RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>((a.str().size() + b.str().size()) / 64)));
      std::string out;
      out.reserve(a.str().size() + b.str().size());
      out += a.str();
      out += b.str();
      return Value::String(std::move(out));
    }
    if (a.is_list() && b.is_list() && a.list().is_tuple == b.list().is_tuple) {
      RETURN_IF_ERROR(renderer.Charge(static_cast<int64_t>(a.list().items.size() + b.list().items.size())));
      std::vector<Value> items = a.list().items;
      items.insert(items.end(), b.list().items.begin(), b.list().items.end());
      return Value::List(std::move(items), a.list().is_tuple);
    }
    if (a.is_string() || b.is_string()) {
      const Value& other = a.is_string() ? b : a;
      return TypeError(a.is_string() ? absl::StrCat("can only concatenate str (not \"", other.TypeName(), "\") to str")
                                     : absl::StrCat("unsupported operand type(s) for +: '", a.TypeName(), "' and 'str'"));
    }
  }
  if (op == "*") {
    if ((a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) return Repeat(renderer, a, b.as_int());
    if ((b.is_string() || b.is_list()) && (a.is_int() || a.is_bool())) return Repeat(renderer, b, a.as_int());
  }
  if (op == "%" && a.is_string()) {
    CallArgs args;
    if (b.is_list() && b.list().is_tuple) {
      args.positional = b.list().items;
    } else {
      args.positional.push_back(b);
    }
    return ApplyFilter(renderer, "format", a, args);
  }
  return UnsupportedOperands(op, a, b);
}

absl::StatusOr<int> CompareValues(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      double x = a.as_float();
      double y = b.as_float();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    if (case_sensitive) {
      int c = a.str().compare(b.str());
      return c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    int c = Lower(a.str()).compare(Lower(b.str()));
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list()) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (x[i].Equals(y[i])) continue;
      return CompareValues(x[i], y[i], case_sensitive);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  return TypeError(absl::StrCat("'<' not supported between instances of '", a.TypeName(), "' and '", b.TypeName(), "'"));
}

absl::StatusOr<bool> Contains(const Value& haystack, const Value& needle) {
  if (haystack.is_string()) {
    if (!needle.is_string()) {
      return TypeError(absl::StrCat("'in <string>' requires string as left operand, not ", needle.TypeName()));
    }
    return haystack.str().find(needle.str()) != std::string::npos;
  }
  if (haystack.is_list()) {
    for (const Value& item : haystack.list().items) {
      if (item.Equals(needle)) return true;
    }
    return false;
  }
  if (haystack.is_dict()) return needle.is_string() && haystack.dict().Find(needle.str()) != nullptr;
  if (haystack.is_namespace()) return needle.is_string() && haystack.ns()->Find(needle.str()) != nullptr;
  if (haystack.is_undefined()) return false;  // Undefined iterates as empty
  return TypeError(absl::StrCat("argument of type '", haystack.TypeName(), "' is not iterable"));
}

absl::StatusOr<std::vector<Value>> Iterate(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined: return std::vector<Value>();
    case Value::Kind::kList: return value.list().items;
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(value.dict().entries.size());
      for (const auto& entry : value.dict().entries) keys.push_back(Value::String(entry.first));
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      const std::string& s = value.str();
      size_t pos = 0;
      while (pos < s.size()) {
        size_t start = pos;
        DecodeUtf8(s, &pos);
        chars.push_back(Value::String(s.substr(start, pos - start)));
      }
      return chars;
    }
    default:
      return TypeError(absl::StrCat("'", value.TypeName(), "' object is not iterable"));
  }
}

absl::StatusOr<int64_t> Length(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUndefined: return 0;
    case Value::Kind::kString: return static_cast<int64_t>(CodePointCount(value.str()));
    case Value::Kind::kList: return static_cast<int64_t>(value.list().items.size());
    case Value::Kind::kDict: return static_cast<int64_t>(value.dict().entries.size());
    default: return TypeError(absl::StrCat("object of type '", value.TypeName(), "' has no len()"));
  }
}

}  // namespace tessera::jinja
