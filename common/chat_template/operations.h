// Python semantics of the operators and lookups templates use on values: attribute and item access (with Jinja's
// getattr/getitem fallbacks), slicing, arithmetic, comparison, membership and iteration.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "common/chat_template/value.h"

namespace tessera::jinja {

class Renderer;

// `obj.name`: methods first, then keys. Using an attribute of Undefined is an error, as in Jinja.
absl::StatusOr<Value> GetAttr(const Value& obj, absl::string_view name);
// `obj[key]`: keys and indexes first, then methods.
absl::StatusOr<Value> GetItem(const Value& obj, const Value& key);
absl::StatusOr<Value> SliceValue(Renderer& renderer, const Value& obj, const Value& start, const Value& stop,
                                 const Value& step);
// + - * / // % ** ~
absl::StatusOr<Value> BinaryOp(Renderer& renderer, absl::string_view op, const Value& left, const Value& right);
absl::StatusOr<Value> Negate(const Value& value);
// Python's a < b ordering: -1, 0 or 1; TypeError for unorderable types. With case_sensitive off, strings compare
// lowercased (Jinja's sort/dictsort/unique default).
absl::StatusOr<int> CompareValues(const Value& a, const Value& b, bool case_sensitive = true);
// `needle in haystack`.
absl::StatusOr<bool> Contains(const Value& haystack, const Value& needle);
// Python iteration: list items, dict keys, string characters; Undefined iterates as empty.
absl::StatusOr<std::vector<Value>> Iterate(const Value& value);
// Python len(); Undefined has length 0.
absl::StatusOr<int64_t> Length(const Value& value);
// Error for using an Undefined value (its hint, e.g. "'x' is undefined").
absl::Status UndefinedError(const Value& value);

}  // namespace tessera::jinja
