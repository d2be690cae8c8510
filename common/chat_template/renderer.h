// Executes a parsed chat template against a context, with Jinja2's scoping (loops and macros open scopes, `if`
// does not) and hard limits on work, recursion and output so that hostile templates fail cleanly instead of
// hanging or overflowing the stack.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/chat_template/ast.h"
#include "common/chat_template/value.h"

namespace tessera::jinja {

struct RenderLimits {
  int64_t max_steps = 5'000'000;            // evaluated nodes, loop iterations and bulk work
  size_t max_string_bytes = 64u << 20;      // largest string or output buffer
  int max_recursion = 400;                  // nested evaluation (expressions, statements, macro calls)
  int64_t max_range = 100'000;              // as Jinja's sandbox MAX_RANGE
};

class Scope {
 public:
  explicit Scope(std::shared_ptr<Scope> parent) : parent_(std::move(parent)) {}
  const Value* Find(absl::string_view name) const;
  void Set(const std::string& name, Value value) { vars_.Set(name, std::move(value)); }

 private:
  DictData vars_;  // small scopes are scanned, large ones indexed
  std::shared_ptr<Scope> parent_;
};
using ScopePtr = std::shared_ptr<Scope>;

class MacroFunction;

class Renderer {
 public:
  explicit Renderer(const RenderLimits& limits) : limits_(limits) {}
  ~Renderer();

  // `context` must be a dict; its entries become the template's top-level variables.
  absl::StatusOr<std::string> Render(const NodeList& nodes, const Value& context);

  const RenderLimits& limits() const { return limits_; }
  // Spends `units` of the work budget; fails once it is exhausted.
  absl::Status Charge(int64_t units);
  absl::Status CheckStringSize(size_t bytes) const;
  // Calls a callable value; errors from builtins gain "line N: ".
  absl::StatusOr<Value> CallValue(const Value& callee, CallArgs& args, int line);
  absl::StatusOr<Value> InvokeMacro(const MacroFunction& macro, CallArgs& args);

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  class RecursionGuard;

  absl::StatusOr<Flow> ExecList(const NodeList& nodes, const ScopePtr& scope, std::string* out);
  absl::StatusOr<Flow> Exec(const Node& node, const ScopePtr& scope, std::string* out);
  absl::StatusOr<Flow> ExecFor(const Node& node, const ScopePtr& scope, std::string* out);
  absl::Status ExecSet(const Node& node, const ScopePtr& scope);
  absl::Status Append(std::string* out, absl::string_view text) const;
  absl::Status Assign(const std::vector<std::string>& targets, Value value, const ScopePtr& scope, int line);
  absl::StatusOr<Value> ApplyFilters(const std::vector<FilterCall>& filters, Value value, const ScopePtr& scope);

  absl::StatusOr<Value> Eval(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalName(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalCollection(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalSlice(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalCall(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalFilter(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalTest(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalBinary(const Expr& expr, const ScopePtr& scope);
  absl::StatusOr<Value> EvalCompare(const Expr& expr, const ScopePtr& scope);
  absl::Status EvalArguments(const Arguments& args, const ScopePtr& scope, CallArgs* out);

  RenderLimits limits_;
  int64_t steps_ = 0;
  int depth_ = 0;
  // Macros capture their defining scope, which holds the macro: these cycles are broken when rendering ends.
  std::vector<std::shared_ptr<MacroFunction>> macros_;
};

// A `{% macro %}` or the `caller` of a `{% call %}` block.
class MacroFunction : public Callable {
 public:
  MacroFunction(const Node* node, ScopePtr closure, bool is_caller)
      : node_(node), closure_(std::move(closure)), is_caller_(is_caller) {}
  std::string Name() const override { return is_caller_ ? "caller" : node_->name; }
  absl::StatusOr<Value> Call(Renderer& renderer, CallArgs& args) override { return renderer.InvokeMacro(*this, args); }
  bool errors_have_lines() const override { return true; }

  const Node& node() const { return *node_; }
  const ScopePtr& closure() const { return closure_; }
  void Release() { closure_.reset(); }

 private:
  const Node* node_;
  ScopePtr closure_;
  bool is_caller_;
};

// "line N: message", unless the message already names its line.
absl::Status WithLine(const absl::Status& status, int line);
absl::Status RuntimeError(int line, absl::string_view message);

}  // namespace tessera::jinja
