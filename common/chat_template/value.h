// Runtime values of the chat-template interpreter: the Python objects a Jinja2 template sees (None, bool, int,
// float, str, list/tuple, dict, callables, namespace, Undefined), with Python's str()/repr() spellings and
// json.dumps formatting, so that rendered text matches what Hugging Face's Jinja2 environment produces.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace tessera::jinja {

class Value;
struct ListData;
struct DictData;
class Callable;
class Renderer;

// A name or attribute that resolved to nothing; `hint` explains why, for the error raised when it is used.
struct Undefined {
  std::shared_ptr<const std::string> hint;
};
struct None {};

// Nesting deeper than this (lists in lists...) is refused when a value is built, so that printing, comparing and
// destroying values never recurses without bound.
inline constexpr int kMaxValueDepth = 256;

using ListPtr = std::shared_ptr<const ListData>;
using DictPtr = std::shared_ptr<const DictData>;
using NamespacePtr = std::shared_ptr<DictData>;  // the one mutable container: `{% set ns.x = ... %}`
using CallablePtr = std::shared_ptr<Callable>;
using StringPtr = std::shared_ptr<const std::string>;

struct NamespaceBox {
  NamespacePtr data;
};

class Value {
 public:
  enum class Kind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kCallable };

  Value() : v_(Undefined{}) {}
  static Value MakeUndefined(std::string hint);
  static Value MakeNone() { return Value(None{}); }
  static Value Bool(bool b) { return Value(b); }
  static Value Int(int64_t i) { return Value(i); }
  static Value Float(double d) { return Value(d); }
  static Value String(std::string s) { return Value(std::make_shared<const std::string>(std::move(s))); }
  static Value String(StringPtr s) { return Value(std::move(s)); }
  // Fails when the new list would nest deeper than kMaxValueDepth.
  static absl::StatusOr<Value> List(std::vector<Value> items, bool is_tuple = false);
  static absl::StatusOr<Value> Dict(std::vector<std::pair<std::string, Value>> entries);
  static Value Namespace(NamespacePtr data) { return Value(NamespaceBox{std::move(data)}); }
  static Value Function(CallablePtr fn) { return Value(std::move(fn)); }

  // Converts parsed JSON (the render context). Objects keep the order the JSON type holds them in:
  // nlohmann::ordered_json keeps the document's order (as Python does), nlohmann::json sorts keys.
  static absl::StatusOr<Value> FromJson(const nlohmann::json& json);
  static absl::StatusOr<Value> FromJson(const nlohmann::ordered_json& json);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  // Python's numbers.Number: bool counts as an int.
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }
  bool is_callable() const { return kind() == Kind::kCallable; }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return is_bool() ? (as_bool() ? 1 : 0) : std::get<int64_t>(v_); }
  double as_float() const { return is_float() ? std::get<double>(v_) : static_cast<double>(as_int()); }
  const std::string& str() const { return *std::get<StringPtr>(v_); }
  const ListData& list() const { return *std::get<ListPtr>(v_); }
  const DictData& dict() const { return *std::get<DictPtr>(v_); }
  const NamespacePtr& ns() const { return std::get<NamespaceBox>(v_).data; }
  Callable& callable() const { return *std::get<CallablePtr>(v_); }
  const std::string& undefined_hint() const;

  // Nesting depth (0 for scalars) and whether a namespace is reachable from this value.
  int depth() const;
  bool holds_namespace() const;

  // Python truthiness.
  bool Truthy() const;
  // Python str(): strings as they are, Undefined as "", everything else as repr().
  std::string ToString() const;
  // Python repr().
  std::string Repr() const;
  // The Python type name used in error messages ("str", "list", "dict", "NoneType"...).
  std::string TypeName() const;
  // Python ==.
  bool Equals(const Value& other) const;

 private:
  template <typename T>
  explicit Value(T v) : v_(std::move(v)) {}

  std::variant<Undefined, None, bool, int64_t, double, StringPtr, ListPtr, DictPtr, NamespaceBox, CallablePtr> v_;
};

struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;
  int depth = 1;
  bool holds_namespace = false;
};

// An insertion-ordered string-keyed mapping (Python dict semantics for the keys templates use).
struct DictData {
  std::vector<std::pair<std::string, Value>> entries;
  // Built only past kIndexThreshold entries: most dicts (messages, loop) are small and scanned faster.
  absl::flat_hash_map<std::string, size_t> index;
  static constexpr size_t kIndexThreshold = 12;
  int depth = 1;
  bool holds_namespace = false;

  const Value* Find(absl::string_view key) const;
  // Inserts or overwrites, keeping the first insertion position as Python does.
  void Set(std::string key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;

  const Value* Keyword(absl::string_view name) const;
  // Argument `index` by position, else by keyword `name`; nullptr when absent.
  const Value* Get(size_t index, absl::string_view name) const;
};

// Anything a template can call: builtin functions, bound methods, macros, `caller`, `loop.cycle`.
class Callable {
 public:
  virtual ~Callable() = default;
  virtual std::string Name() const = 0;
  // Errors carry no template line; the call site adds it (macros report their own body lines).
  virtual absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) = 0;
  // Macros report errors with their own lines already attached.
  virtual bool errors_have_lines() const { return false; }
};

// Python's float repr (shortest round-trip digits, "1.0", "1e+20", "inf", "nan").
std::string PythonFloatRepr(double value);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;  // < 0: no indentation (single line)
  std::string indent_string;  // used when indent_from_string is set
  bool indent_from_string = false;
  std::string item_separator;  // defaults as in json.dumps: ", " single line, "," indented
  std::string key_separator = ": ";
  bool custom_separators = false;
  bool sort_keys = false;
};
// Python json.dumps(value, ...) as Hugging Face's `tojson` filter calls it.
absl::StatusOr<std::string> PythonJsonDumps(const Value& value, const JsonDumpOptions& options);

}  // namespace tessera::jinja
