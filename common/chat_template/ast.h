// Syntax tree of a parsed chat template: expressions (Expr) and statements (Node), each with its template line so
// that runtime errors can name where they happened.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/chat_template/value.h"

namespace tessera::jinja {

struct Expr;
struct Node;
using ExprPtr = std::unique_ptr<Expr>;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

struct Arguments {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keyword;
};

struct FilterCall {
  std::string name;
  Arguments args;
  int line = 0;
};

enum class ExprKind {
  kLiteral,   // literal
  kName,      // name
  kList,      // children
  kTuple,     // children
  kDict,      // children: key0, value0, key1, value1, ...
  kAttr,      // children[0].name
  kItem,      // children[0][children[1]]
  kSlice,     // children[0][children[1]:children[2]:children[3]], absent parts are null
  kCall,      // children[0](args)
  kFilter,    // children[0] | filter
  kTest,      // children[0] is [not] name(args)
  kNot,       // not children[0]
  kNeg,       // -children[0]
  kPos,       // +children[0]
  kBinary,    // children[0] name children[1] for + - * / // % ** ~ in "not in"
  kAnd,       // children[0] and children[1]
  kOr,        // children[0] or children[1]
  kCompare,   // children[0] ops[0] children[1] ops[1] children[2] ...
  kCondition  // children[1] if children[0] else children[2] (children[2] may be null)
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value literal;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<std::string> ops;
  Arguments args;
  FilterCall filter;
  bool negated = false;
};

enum class NodeKind {
  kText,         // text
  kOutput,       // {{ expr }}
  kIf,           // branches, else_body
  kFor,          // targets in expr [if condition] body [else else_body]
  kSet,          // targets (or targets[0].attribute) = expr
  kSetBlock,     // {% set targets[0] | filters %}body{% endset %}
  kMacro,        // name(params) body
  kCallBlock,    // {% call(params) expr %}body{% endcall %}
  kFilterBlock,  // {% filter filters %}body{% endfilter %}
  kWith,         // {% with params %}body{% endwith %}
  kBreak,
  kContinue,
  kGeneration    // {% generation %}body{% endgeneration %}: renders its body (assistant masks are not tracked)
};

struct Node {
  NodeKind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  std::vector<std::pair<ExprPtr, NodeList>> branches;
  NodeList body;
  NodeList else_body;
  std::vector<std::string> targets;
  std::string attribute;
  ExprPtr condition;
  std::vector<FilterCall> filters;
  std::vector<std::pair<std::string, ExprPtr>> params;
  std::string name;
  bool recursive = false;
};

}  // namespace tessera::jinja
