#include "common/chat_template/renderer.h"

#include "absl/strings/string_view.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/chat_template/builtins.h"
#include "common/chat_template/operations.h"
#include "common/status_macros.h"

namespace tessera::jinja {
namespace {

// Marks statuses whose message already names the template line.
constexpr char kLinePayload[] = "tessera.chat_template.line";

// `loop.cycle(a, b, ...)`: the argument at the iteration's position, round robin.
class LoopCycle : public Callable {
 public:
  explicit LoopCycle(size_t index) : index_(index) {}
  std::string Name() const override { return "cycle"; }
  absl::StatusOr<Value> Call(Renderer&, CallArgs& args) override {
    if (args.positional.empty()) return absl::InvalidArgumentError("no items for cycling given");
    return args.positional[index_ % args.positional.size()];
  }

 private:
  size_t index_;
};

}  // namespace

absl::Status WithLine(const absl::Status& status, int line) {
  if (status.ok() || status.GetPayload(kLinePayload).has_value()) return status;
  absl::Status out(status.code(), absl::StrCat("line ", line, ": ", status.message()));
  out.SetPayload(kLinePayload, absl::Cord("1"));
  return out;
}

absl::Status RuntimeError(int line, absl::string_view message) {
  return WithLine(absl::InvalidArgumentError(message), line);
}

const Value* Scope::Find(absl::string_view name) const {
  for (const Scope* scope = this; scope != nullptr; scope = scope->parent_.get()) {
    if (const Value* found = scope->vars_.Find(name)) return found;
  }
  return nullptr;
}

class Renderer::RecursionGuard {
 public:
  explicit RecursionGuard(Renderer* renderer) : renderer_(renderer) { ++renderer_->depth_; }
  ~RecursionGuard() { --renderer_->depth_; }
  absl::Status Check(int line) const {
    if (renderer_->depth_ <= renderer_->limits_.max_recursion) return absl::OkStatus();
    return RuntimeError(line, absl::StrCat("template recursion deeper than ", renderer_->limits_.max_recursion,
                                           " levels"));
  }

 private:
  Renderer* renderer_;
};

Renderer::~Renderer() {
  for (auto& macro : macros_) macro->Release();
}

absl::StatusOr<std::string> Renderer::Render(const NodeList& nodes, const Value& context) {
  if (!context.is_dict()) return absl::InvalidArgumentError("template context must be a mapping");
  auto root = std::make_shared<Scope>(nullptr);
  for (const auto& [name, value] : context.dict().entries) root->Set(name, value);
  std::string out;
  auto flow = ExecList(nodes, root, &out);
  for (auto& macro : macros_) macro->Release();
  macros_.clear();
  if (!flow.ok()) return flow.status();
  return out;
}

absl::Status Renderer::Charge(int64_t units) {
  steps_ += std::max<int64_t>(units, 0);
  if (steps_ <= limits_.max_steps) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("template exceeded its work budget of ", limits_.max_steps, " steps (endless loop?)"));
}

absl::Status Renderer::CheckStringSize(size_t bytes) const {
  if (bytes <= limits_.max_string_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("template built a string over ", limits_.max_string_bytes, " bytes"));
}

absl::Status Renderer::Append(std::string* out, absl::string_view text) const {
  RETURN_IF_ERROR(CheckStringSize(out->size() + text.size()));
  out->append(text.data(), text.size());
  return absl::OkStatus();
}

absl::StatusOr<Renderer::Flow> Renderer::ExecList(const NodeList& nodes, const ScopePtr& scope, std::string* out) {
  for (const NodePtr& node : nodes) {
    ASSIGN_OR_RETURN(Flow flow, Exec(*node, scope, out));
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

absl::StatusOr<Renderer::Flow> Renderer::Exec(const Node& node, const ScopePtr& scope, std::string* out) {
  RecursionGuard guard(this);
  RETURN_IF_ERROR(guard.Check(node.line));
  RETURN_IF_ERROR(WithLine(Charge(1), node.line));
  switch (node.kind) {
    case NodeKind::kText:
      RETURN_IF_ERROR(WithLine(Append(out, node.text), node.line));
      return Flow::kNormal;
    case NodeKind::kOutput: {
      ASSIGN_OR_RETURN(Value value, Eval(*node.expr, scope));
      RETURN_IF_ERROR(WithLine(Append(out, value.ToString()), node.line));
      return Flow::kNormal;
    }
    case NodeKind::kIf:
      for (const auto& [condition, body] : node.branches) {
        ASSIGN_OR_RETURN(Value test, Eval(*condition, scope));
        if (test.Truthy()) return ExecList(body, scope, out);
      }
      return ExecList(node.else_body, scope, out);
    case NodeKind::kFor:
      return ExecFor(node, scope, out);
    case NodeKind::kSet:
      RETURN_IF_ERROR(ExecSet(node, scope));
      return Flow::kNormal;
    case NodeKind::kSetBlock: {
      std::string text;
      auto inner = std::make_shared<Scope>(scope);
      RETURN_IF_ERROR(ExecList(node.body, inner, &text).status());
      ASSIGN_OR_RETURN(Value value, ApplyFilters(node.filters, Value::String(std::move(text)), scope));
      RETURN_IF_ERROR(Assign(node.targets, std::move(value), scope, node.line));
      return Flow::kNormal;
    }
    case NodeKind::kMacro: {
      auto macro = std::make_shared<MacroFunction>(&node, scope, false);
      macros_.push_back(macro);
      scope->Set(node.name, Value::Function(std::move(macro)));
      return Flow::kNormal;
    }
    case NodeKind::kCallBlock: {
      auto caller = std::make_shared<MacroFunction>(&node, scope, true);
      macros_.push_back(caller);
      const Expr& call = *node.expr;
      ASSIGN_OR_RETURN(Value callee, Eval(*call.children[0], scope));
      CallArgs args;
      RETURN_IF_ERROR(EvalArguments(call.args, scope, &args));
      args.keyword.emplace_back("caller", Value::Function(std::move(caller)));
      ASSIGN_OR_RETURN(Value result, CallValue(callee, args, call.line));
      RETURN_IF_ERROR(WithLine(Append(out, result.ToString()), node.line));
      return Flow::kNormal;
    }
    case NodeKind::kFilterBlock: {
      std::string text;
      auto inner = std::make_shared<Scope>(scope);
      RETURN_IF_ERROR(ExecList(node.body, inner, &text).status());
      ASSIGN_OR_RETURN(Value value, ApplyFilters(node.filters, Value::String(std::move(text)), scope));
      RETURN_IF_ERROR(WithLine(Append(out, value.ToString()), node.line));
      return Flow::kNormal;
    }
    case NodeKind::kWith: {
      auto inner = std::make_shared<Scope>(scope);
      for (const auto& [name, expr] : node.params) {
        ASSIGN_OR_RETURN(Value value, Eval(*expr, scope));
        inner->Set(name, std::move(value));
      }
      RETURN_IF_ERROR(ExecList(node.body, inner, out).status());
      return Flow::kNormal;
    }
    case NodeKind::kBreak:
      return Flow::kBreak;
    case NodeKind::kContinue:
      return Flow::kContinue;
    case NodeKind::kGeneration:
      return ExecList(node.body, scope, out);
  }
  return Flow::kNormal;
}

absl::StatusOr<Renderer::Flow> Renderer::ExecFor(const Node& node, const ScopePtr& scope, std::string* out) {
  if (node.recursive) return RuntimeError(node.line, "recursive for loops are not supported");
  ASSIGN_OR_RETURN(Value iterable, Eval(*node.expr, scope));
  auto items = Iterate(iterable);
  if (!items.ok()) return WithLine(items.status(), node.line);
  RETURN_IF_ERROR(WithLine(Charge(static_cast<int64_t>(items->size() / 8)), node.line));
  if (node.condition) {
    std::vector<Value> kept;
    for (Value& item : *items) {
      auto filter_scope = std::make_shared<Scope>(scope);
      RETURN_IF_ERROR(Assign(node.targets, item, filter_scope, node.line));
      ASSIGN_OR_RETURN(Value keep, Eval(*node.condition, filter_scope));
      if (keep.Truthy()) kept.push_back(std::move(item));
    }
    *items = std::move(kept);
  }
  const size_t count = items->size();
  for (size_t i = 0; i < count; ++i) {
    RETURN_IF_ERROR(WithLine(Charge(1), node.line));
    auto body_scope = std::make_shared<Scope>(scope);
    const int64_t n = static_cast<int64_t>(count);
    const int64_t index = static_cast<int64_t>(i);
    std::vector<std::pair<std::string, Value>> loop = {
        {"index", Value::Int(index + 1)},
        {"index0", Value::Int(index)},
        {"revindex", Value::Int(n - index)},
        {"revindex0", Value::Int(n - index - 1)},
        {"first", Value::Bool(i == 0)},
        {"last", Value::Bool(i + 1 == count)},
        {"length", Value::Int(n)},
        {"depth", Value::Int(1)},
        {"depth0", Value::Int(0)},
        {"previtem", i > 0 ? (*items)[i - 1] : Value::MakeUndefined("there is no previous item")},
        {"nextitem", i + 1 < count ? (*items)[i + 1] : Value::MakeUndefined("there is no next item")},
        {"cycle", Value::Function(std::make_shared<LoopCycle>(i))},
    };
    ASSIGN_OR_RETURN(Value loop_value, Value::Dict(std::move(loop)));
    body_scope->Set("loop", std::move(loop_value));
    RETURN_IF_ERROR(Assign(node.targets, (*items)[i], body_scope, node.line));
    ASSIGN_OR_RETURN(Flow flow, ExecList(node.body, body_scope, out));
    if (flow == Flow::kBreak) break;
  }
  if (count == 0) return ExecList(node.else_body, scope, out);
  return Flow::kNormal;
}

absl::Status Renderer::Assign(const std::vector<std::string>& targets, Value value, const ScopePtr& scope, int line) {
  if (targets.size() == 1) {
    scope->Set(targets[0], std::move(value));
    return absl::OkStatus();
  }
  auto items = Iterate(value);
  if (!items.ok() || value.is_dict()) {
    return RuntimeError(line, absl::StrCat("cannot unpack non-sequence ", value.TypeName()));
  }
  if (items->size() != targets.size()) {
    return RuntimeError(line, items->size() > targets.size()
                                  ? absl::StrCat("too many values to unpack (expected ", targets.size(), ")")
                                  : absl::StrCat("not enough values to unpack (expected ", targets.size(), ", got ",
                                                 items->size(), ")"));
  }
  for (size_t i = 0; i < targets.size(); ++i) scope->Set(targets[i], std::move((*items)[i]));
  return absl::OkStatus();
}

absl::Status Renderer::ExecSet(const Node& node, const ScopePtr& scope) {
  ASSIGN_OR_RETURN(Value value, Eval(*node.expr, scope));
  if (node.attribute.empty()) return Assign(node.targets, std::move(value), scope, node.line);
  const Value* target = scope->Find(node.targets[0]);
  if (target == nullptr || !target->is_namespace()) {
    return RuntimeError(node.line, "cannot assign attribute on non-namespace object");
  }
  // A namespace inside a namespace could form a reference cycle; templates have no need for it.
  if (value.holds_namespace()) return RuntimeError(node.line, "a namespace cannot hold another namespace");
  target->ns()->Set(node.attribute, std::move(value));
  return absl::OkStatus();
}

absl::StatusOr<Value> Renderer::ApplyFilters(const std::vector<FilterCall>& filters, Value value,
                                             const ScopePtr& scope) {
  for (const FilterCall& filter : filters) {
    CallArgs args;
    RETURN_IF_ERROR(EvalArguments(filter.args, scope, &args));
    auto result = ApplyFilter(*this, filter.name, value, args);
    if (!result.ok()) return WithLine(result.status(), filter.line);
    value = std::move(*result);
  }
  return value;
}

absl::StatusOr<Value> Renderer::CallValue(const Value& callee, CallArgs& args, int line) {
  if (callee.is_undefined()) return WithLine(UndefinedError(callee), line);
  if (!callee.is_callable()) return RuntimeError(line, absl::StrCat("'", callee.TypeName(), "' object is not callable"));
  RecursionGuard guard(this);
  RETURN_IF_ERROR(guard.Check(line));
  RETURN_IF_ERROR(WithLine(Charge(1), line));
  Callable& callable = callee.callable();
  auto result = callable.Call(*this, args);
  if (!result.ok()) return WithLine(result.status(), line);
  return result;
}

absl::StatusOr<Value> Renderer::InvokeMacro(const MacroFunction& macro, CallArgs& args) {
  const Node& node = macro.node();
  if (!macro.closure()) return RuntimeError(node.line, "macro called after its defining scope ended");
  auto scope = std::make_shared<Scope>(macro.closure());
  const auto& params = node.params;
  std::vector<bool> bound(params.size(), false);
  for (size_t i = 0; i < params.size() && i < args.positional.size(); ++i) {
    scope->Set(params[i].first, args.positional[i]);
    bound[i] = true;
  }
  std::vector<Value> varargs;
  for (size_t i = params.size(); i < args.positional.size(); ++i) varargs.push_back(args.positional[i]);
  std::vector<std::pair<std::string, Value>> kwargs;
  for (auto& [name, value] : args.keyword) {
    bool matched = false;
    for (size_t i = 0; i < params.size(); ++i) {
      if (params[i].first != name) continue;
      if (bound[i]) {
        return RuntimeError(node.line, absl::StrCat("macro '", macro.Name(), "' got multiple values for argument '",
                                                    name, "'"));
      }
      scope->Set(name, value);
      bound[i] = true;
      matched = true;
    }
    if (matched) continue;
    if (name == "caller") {
      scope->Set("caller", value);
    } else {
      kwargs.emplace_back(name, value);
    }
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (bound[i]) continue;
    if (params[i].second) {
      ASSIGN_OR_RETURN(Value fallback, Eval(*params[i].second, scope));
      scope->Set(params[i].first, std::move(fallback));
    } else {
      scope->Set(params[i].first, Value::MakeUndefined(absl::StrCat("parameter '", params[i].first,
                                                                    "' was not provided")));
    }
  }
  ASSIGN_OR_RETURN(Value varargs_value, Value::List(std::move(varargs), true));
  scope->Set("varargs", std::move(varargs_value));
  ASSIGN_OR_RETURN(Value kwargs_value, Value::Dict(std::move(kwargs)));
  scope->Set("kwargs", std::move(kwargs_value));
  std::string out;
  RETURN_IF_ERROR(ExecList(node.body, scope, &out).status());
  return Value::String(std::move(out));
}

absl::Status Renderer::EvalArguments(const Arguments& args, const ScopePtr& scope, CallArgs* out) {
  for (const ExprPtr& expr : args.positional) {
    ASSIGN_OR_RETURN(Value value, Eval(*expr, scope));
    out->positional.push_back(std::move(value));
  }
  for (const auto& [name, expr] : args.keyword) {
    ASSIGN_OR_RETURN(Value value, Eval(*expr, scope));
    out->keyword.emplace_back(name, std::move(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<Value> Renderer::Eval(const Expr& expr, const ScopePtr& scope) {
  RecursionGuard guard(this);
  RETURN_IF_ERROR(guard.Check(expr.line));
  RETURN_IF_ERROR(WithLine(Charge(1), expr.line));
  switch (expr.kind) {
    case ExprKind::kLiteral:
      return expr.literal;
    case ExprKind::kName:
      return EvalName(expr, scope);
    case ExprKind::kList:
    case ExprKind::kTuple:
    case ExprKind::kDict:
      return EvalCollection(expr, scope);
    case ExprKind::kAttr: {
      ASSIGN_OR_RETURN(Value obj, Eval(*expr.children[0], scope));
      auto result = GetAttr(obj, expr.name);
      if (!result.ok()) return WithLine(result.status(), expr.line);
      return result;
    }
    case ExprKind::kItem: {
      ASSIGN_OR_RETURN(Value obj, Eval(*expr.children[0], scope));
      ASSIGN_OR_RETURN(Value key, Eval(*expr.children[1], scope));
      auto result = GetItem(obj, key);
      if (!result.ok()) return WithLine(result.status(), expr.line);
      return result;
    }
    case ExprKind::kSlice:
      return EvalSlice(expr, scope);
    case ExprKind::kCall:
      return EvalCall(expr, scope);
    case ExprKind::kFilter:
      return EvalFilter(expr, scope);
    case ExprKind::kTest:
      return EvalTest(expr, scope);
    case ExprKind::kNot: {
      ASSIGN_OR_RETURN(Value operand, Eval(*expr.children[0], scope));
      return Value::Bool(!operand.Truthy());
    }
    case ExprKind::kNeg:
    case ExprKind::kPos: {
      ASSIGN_OR_RETURN(Value operand, Eval(*expr.children[0], scope));
      if (expr.kind == ExprKind::kPos) {
        if (!operand.is_number()) {
          return RuntimeError(expr.line, absl::StrCat("bad operand type for unary +: '", operand.TypeName(), "'"));
        }
        return operand.is_bool() ? Value::Int(operand.as_int()) : operand;
      }
      auto result = Negate(operand);
      if (!result.ok()) return WithLine(result.status(), expr.line);
      return result;
    }
    case ExprKind::kBinary:
      return EvalBinary(expr, scope);
    case ExprKind::kAnd: {
      ASSIGN_OR_RETURN(Value left, Eval(*expr.children[0], scope));
      if (!left.Truthy()) return left;
      return Eval(*expr.children[1], scope);
    }
    case ExprKind::kOr: {
      ASSIGN_OR_RETURN(Value left, Eval(*expr.children[0], scope));
      if (left.Truthy()) return left;
      return Eval(*expr.children[1], scope);
    }
    case ExprKind::kCompare:
      return EvalCompare(expr, scope);
    case ExprKind::kCondition: {
      ASSIGN_OR_RETURN(Value test, Eval(*expr.children[0], scope));
      if (test.Truthy()) return Eval(*expr.children[1], scope);
      if (expr.children[2]) return Eval(*expr.children[2], scope);
      return Value::MakeUndefined("the inline if-expression evaluated to false and no else section was defined.");
    }
  }
  return RuntimeError(expr.line, "unknown expression");
}

absl::StatusOr<Value> Renderer::EvalName(const Expr& expr, const ScopePtr& scope) {
  if (const Value* value = scope->Find(expr.name)) return *value;
  if (auto global = LookupGlobal(expr.name)) return *global;
  return Value::MakeUndefined(absl::StrCat("'", expr.name, "' is undefined"));
}

absl::StatusOr<Value> Renderer::EvalCollection(const Expr& expr, const ScopePtr& scope) {
  if (expr.kind == ExprKind::kDict) {
    std::vector<std::pair<std::string, Value>> entries;
    for (size_t i = 0; i + 1 < expr.children.size(); i += 2) {
      ASSIGN_OR_RETURN(Value key, Eval(*expr.children[i], scope));
      ASSIGN_OR_RETURN(Value value, Eval(*expr.children[i + 1], scope));
      if (!key.is_string()) {
        return RuntimeError(expr.line, absl::StrCat("dict keys must be strings, got ", key.TypeName()));
      }
      entries.emplace_back(key.str(), std::move(value));
    }
    auto result = Value::Dict(std::move(entries));
    if (!result.ok()) return WithLine(result.status(), expr.line);
    return result;
  }
  std::vector<Value> items;
  items.reserve(expr.children.size());
  for (const ExprPtr& child : expr.children) {
    ASSIGN_OR_RETURN(Value item, Eval(*child, scope));
    items.push_back(std::move(item));
  }
  auto result = Value::List(std::move(items), expr.kind == ExprKind::kTuple);
  if (!result.ok()) return WithLine(result.status(), expr.line);
  return result;
}

absl::StatusOr<Value> Renderer::EvalSlice(const Expr& expr, const ScopePtr& scope) {
  ASSIGN_OR_RETURN(Value obj, Eval(*expr.children[0], scope));
  Value parts[3];
  for (int i = 0; i < 3; ++i) {
    if (expr.children[static_cast<size_t>(i) + 1]) {
      ASSIGN_OR_RETURN(parts[i], Eval(*expr.children[static_cast<size_t>(i) + 1], scope));
    }
  }
  auto result = SliceValue(*this, obj, parts[0], parts[1], parts[2]);
  if (!result.ok()) return WithLine(result.status(), expr.line);
  return result;
}

absl::StatusOr<Value> Renderer::EvalCall(const Expr& expr, const ScopePtr& scope) {
  ASSIGN_OR_RETURN(Value callee, Eval(*expr.children[0], scope));
  CallArgs args;
  RETURN_IF_ERROR(EvalArguments(expr.args, scope, &args));
  return CallValue(callee, args, expr.line);
}

absl::StatusOr<Value> Renderer::EvalFilter(const Expr& expr, const ScopePtr& scope) {
  ASSIGN_OR_RETURN(Value input, Eval(*expr.children[0], scope));
  CallArgs args;
  RETURN_IF_ERROR(EvalArguments(expr.filter.args, scope, &args));
  auto result = ApplyFilter(*this, expr.filter.name, input, args);
  if (!result.ok()) return WithLine(result.status(), expr.filter.line);
  return result;
}

absl::StatusOr<Value> Renderer::EvalTest(const Expr& expr, const ScopePtr& scope) {
  ASSIGN_OR_RETURN(Value input, Eval(*expr.children[0], scope));
  CallArgs args;
  RETURN_IF_ERROR(EvalArguments(expr.args, scope, &args));
  auto result = ApplyTest(*this, expr.name, input, args);
  if (!result.ok()) return WithLine(result.status(), expr.line);
  return Value::Bool(*result != expr.negated);
}

absl::StatusOr<Value> Renderer::EvalBinary(const Expr& expr, const ScopePtr& scope) {
  ASSIGN_OR_RETURN(Value left, Eval(*expr.children[0], scope));
  ASSIGN_OR_RETURN(Value right, Eval(*expr.children[1], scope));
  auto result = BinaryOp(*this, expr.name, left, right);
  if (!result.ok()) return WithLine(result.status(), expr.line);
  return result;
}

absl::StatusOr<Value> Renderer::EvalCompare(const Expr& expr, const ScopePtr& scope) {
  ASSIGN_OR_RETURN(Value left, Eval(*expr.children[0], scope));
  for (size_t i = 0; i < expr.ops.size(); ++i) {
    ASSIGN_OR_RETURN(Value right, Eval(*expr.children[i + 1], scope));
    const std::string& op = expr.ops[i];
    bool holds = false;
    if (op == "==") {
      holds = left.Equals(right);
    } else if (op == "!=") {
      holds = !left.Equals(right);
    } else if (op == "in" || op == "not in") {
      auto contained = Contains(right, left);
      if (!contained.ok()) return WithLine(contained.status(), expr.line);
      holds = (op == "in") == *contained;
    } else {
      auto order = CompareValues(left, right);
      if (!order.ok()) return WithLine(order.status(), expr.line);
      holds = op == "<" ? *order < 0 : op == "<=" ? *order <= 0 : op == ">" ? *order > 0 : *order >= 0;
    }
    if (!holds) return Value::Bool(false);
    left = std::move(right);
  }
  return Value::Bool(true);
}

}  // namespace tessera::jinja
