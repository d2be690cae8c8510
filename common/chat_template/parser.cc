#include "common/chat_template/parser.h"

#include <set>

#include "absl/strings/string_view.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/chat_template/builtins.h"
#include "common/chat_template/lexer.h"
#include "common/status_macros.h"

namespace tessera::jinja {
namespace {

std::string Describe(const Token& token) {
  switch (token.type) {
    case TokenType::kText: return "template text";
    case TokenType::kVarBegin: return "'{{'";
    case TokenType::kVarEnd: return "'}}'";
    case TokenType::kBlockBegin: return "'{%'";
    case TokenType::kBlockEnd: return "'%}'";
    case TokenType::kName: return absl::StrCat("'", token.text, "'");
    case TokenType::kString: return "string literal";
    case TokenType::kInt: return "integer";
    case TokenType::kFloat: return "float";
    case TokenType::kOperator: return absl::StrCat("'", token.text, "'");
    case TokenType::kEof: return "end of template";
  }
  return "token";
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<NodeList> ParseAll() {
    std::string end_tag;
    ASSIGN_OR_RETURN(NodeList body, ParseBody({}, &end_tag));
    return body;
  }

 private:
  // RAII guard on recursion depth.
  class DepthGuard {
   public:
    explicit DepthGuard(Parser* parser) : parser_(parser) { ++parser_->depth_; }
    ~DepthGuard() { --parser_->depth_; }
    bool exceeded() const { return parser_->depth_ > kMaxParseDepth; }

   private:
    Parser* parser_;
  };

  // Left-associative operator chains (a + b + c ..., x.a.b.c ...) deepen the tree without recursing here; each link
  // counts towards the depth limit so that evaluating and destroying the tree stays bounded too.
  class ChainDepth {
   public:
    explicit ChainDepth(Parser* parser) : parser_(parser) {}
    ~ChainDepth() { parser_->depth_ -= links_; }
    bool Link() {
      ++links_;
      ++parser_->depth_;
      return parser_->depth_ <= kMaxParseDepth;
    }

   private:
    Parser* parser_;
    int links_ = 0;
  };

  const Token& Peek(size_t ahead = 0) const {
    size_t index = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[index];
  }
  const Token& Next() {
    const Token& token = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return token;
  }
  bool IsOp(absl::string_view op, size_t ahead = 0) const {
    return Peek(ahead).type == TokenType::kOperator && Peek(ahead).text == op;
  }
  bool IsName(absl::string_view name, size_t ahead = 0) const {
    return Peek(ahead).type == TokenType::kName && Peek(ahead).text == name;
  }
  absl::Status ErrorAt(const Token& token, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat("line ", token.line, ", column ", token.column, ": ", message));
  }
  absl::Status Expected(absl::string_view what) const {
    return ErrorAt(Peek(), absl::StrCat("expected ", what, ", got ", Describe(Peek())));
  }
  absl::Status ExpectOp(absl::string_view op) {
    if (!IsOp(op)) return Expected(absl::StrCat("'", op, "'"));
    Next();
    return absl::OkStatus();
  }
  absl::Status ExpectBlockEnd() {
    if (Peek().type != TokenType::kBlockEnd) return Expected("'%}'");
    Next();
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> ExpectName() {
    if (Peek().type != TokenType::kName) return Expected("a name");
    return Next().text;
  }
  absl::Status TooDeep() const { return ErrorAt(Peek(), "template nests too deeply"); }

  static ExprPtr MakeExpr(ExprKind kind, int line) {
    auto expr = std::make_unique<Expr>();
    expr->kind = kind;
    expr->line = line;
    return expr;
  }
  static NodePtr MakeNode(NodeKind kind, int line) {
    auto node = std::make_unique<Node>();
    node->kind = kind;
    node->line = line;
    return node;
  }

  // Parses nodes until a `{% name %}` with name in `end_tags`; leaves the position on that name token and reports
  // it in *end_tag. With empty `end_tags`, parses to the end of the template.
  absl::StatusOr<NodeList> ParseBody(const std::set<std::string>& end_tags, std::string* end_tag) {
    DepthGuard guard(this);
    if (guard.exceeded()) return TooDeep();
    NodeList nodes;
    while (true) {
      const Token& token = Peek();
      switch (token.type) {
        case TokenType::kEof:
          if (!end_tags.empty()) {
            std::string closing = *end_tags.begin();
            for (const std::string& tag : end_tags) {
              if (absl::StartsWith(tag, "end")) closing = tag;
            }
            return ErrorAt(token, absl::StrCat("unexpected end of template, expected '", closing, "'"));
          }
          return nodes;
        case TokenType::kText: {
          auto node = MakeNode(NodeKind::kText, token.line);
          node->text = token.text;
          nodes.push_back(std::move(node));
          Next();
          break;
        }
        case TokenType::kVarBegin: {
          Next();
          auto node = MakeNode(NodeKind::kOutput, token.line);
          ASSIGN_OR_RETURN(node->expr, ParseTuple(true));
          if (Peek().type != TokenType::kVarEnd) return Expected("'}}'");
          Next();
          nodes.push_back(std::move(node));
          break;
        }
        case TokenType::kBlockBegin: {
          const Token& keyword = Peek(1);
          if (keyword.type != TokenType::kName) {
            Next();
            return Expected("a statement name");
          }
          if (end_tags.count(keyword.text)) {
            Next();
            *end_tag = keyword.text;
            return nodes;
          }
          Next();
          ASSIGN_OR_RETURN(NodePtr node, ParseStatement());
          nodes.push_back(std::move(node));
          break;
        }
        default:
          return ErrorAt(token, absl::StrCat("unexpected ", Describe(token)));
      }
    }
  }

  absl::StatusOr<NodePtr> ParseStatement() {
    const Token& keyword = Next();
    const std::string& name = keyword.text;
    if (name == "if") return ParseIf(keyword.line);
    if (name == "for") return ParseFor(keyword.line);
    if (name == "set") return ParseSet(keyword.line);
    if (name == "macro") return ParseMacro(keyword.line);
    if (name == "call") return ParseCallBlock(keyword.line);
    if (name == "filter") return ParseFilterBlock(keyword.line);
    if (name == "with") return ParseWith(keyword.line);
    if (name == "generation") {
      auto node = MakeNode(NodeKind::kGeneration, keyword.line);
      RETURN_IF_ERROR(ExpectBlockEnd());
      ASSIGN_OR_RETURN(node->body, ParseBlockBody("endgeneration"));
      return node;
    }
    if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) return ErrorAt(keyword, absl::StrCat("'", name, "' outside of a loop"));
      RETURN_IF_ERROR(ExpectBlockEnd());
      return MakeNode(name == "break" ? NodeKind::kBreak : NodeKind::kContinue, keyword.line);
    }
    static const std::set<std::string> kEndTags = {"endif", "endfor", "endset", "endmacro", "endcall", "endfilter",
                                                   "endwith", "endgeneration", "elif", "else", "endraw"};
    if (kEndTags.count(name)) return ErrorAt(keyword, absl::StrCat("unexpected '", name, "' without matching block"));
    return ErrorAt(keyword, absl::StrCat("unknown or unsupported statement '", name, "'"));
  }

  // Parses `%}` ... `{% end_name %}` and consumes the end tag.
  absl::StatusOr<NodeList> ParseBlockBody(const std::string& end_name) {
    std::string end_tag;
    ASSIGN_OR_RETURN(NodeList body, ParseBody({end_name}, &end_tag));
    Next();  // the end tag's name
    RETURN_IF_ERROR(ExpectBlockEnd());
    return body;
  }

  absl::StatusOr<NodePtr> ParseIf(int line) {
    auto node = MakeNode(NodeKind::kIf, line);
    while (true) {
      ASSIGN_OR_RETURN(ExprPtr condition, ParseTuple(false));
      RETURN_IF_ERROR(ExpectBlockEnd());
      std::string end_tag;
      ASSIGN_OR_RETURN(NodeList body, ParseBody({"elif", "else", "endif"}, &end_tag));
      Next();
      node->branches.emplace_back(std::move(condition), std::move(body));
      if (end_tag == "elif") continue;
      if (end_tag == "else") {
        RETURN_IF_ERROR(ExpectBlockEnd());
        ASSIGN_OR_RETURN(node->else_body, ParseBlockBody("endif"));
      } else {
        RETURN_IF_ERROR(ExpectBlockEnd());
      }
      return node;
    }
  }

  absl::Status ParseTargets(std::vector<std::string>* targets) {
    bool parenthesized = IsOp("(");
    if (parenthesized) Next();
    while (true) {
      ASSIGN_OR_RETURN(std::string target, ExpectName());
      targets->push_back(std::move(target));
      if (!IsOp(",")) break;
      Next();
      if (parenthesized && IsOp(")")) break;
      if (!parenthesized && Peek().type != TokenType::kName) break;
    }
    if (parenthesized) RETURN_IF_ERROR(ExpectOp(")"));
    return absl::OkStatus();
  }

  absl::StatusOr<NodePtr> ParseFor(int line) {
    auto node = MakeNode(NodeKind::kFor, line);
    RETURN_IF_ERROR(ParseTargets(&node->targets));
    if (!IsName("in")) return Expected("'in'");
    Next();
    ASSIGN_OR_RETURN(node->expr, ParseTuple(false));
    if (IsName("if")) {
      Next();
      ASSIGN_OR_RETURN(node->condition, ParseExpression());
    }
    if (IsName("recursive")) {
      Next();
      node->recursive = true;
    }
    RETURN_IF_ERROR(ExpectBlockEnd());
    ++loop_depth_;
    std::string end_tag;
    auto body = ParseBody({"else", "endfor"}, &end_tag);
    --loop_depth_;
    if (!body.ok()) return body.status();
    node->body = std::move(*body);
    Next();
    RETURN_IF_ERROR(ExpectBlockEnd());
    if (end_tag == "else") {
      ASSIGN_OR_RETURN(node->else_body, ParseBlockBody("endfor"));
    }
    return node;
  }

  absl::StatusOr<std::vector<FilterCall>> ParseFilterChain(bool leading_pipe) {
    std::vector<FilterCall> filters;
    bool first = true;
    while ((first && !leading_pipe) || IsOp("|")) {
      if (!(first && !leading_pipe)) Next();
      first = false;
      ASSIGN_OR_RETURN(FilterCall filter, ParseFilterCall());
      filters.push_back(std::move(filter));
    }
    return filters;
  }

  absl::StatusOr<NodePtr> ParseSet(int line) {
    auto node = MakeNode(NodeKind::kSet, line);
    ASSIGN_OR_RETURN(std::string first, ExpectName());
    node->targets.push_back(std::move(first));
    if (IsOp(".")) {
      Next();
      ASSIGN_OR_RETURN(node->attribute, ExpectName());
    } else {
      while (IsOp(",")) {
        Next();
        ASSIGN_OR_RETURN(std::string target, ExpectName());
        node->targets.push_back(std::move(target));
      }
    }
    if (IsOp("=")) {
      Next();
      ASSIGN_OR_RETURN(node->expr, ParseTuple(true));
      RETURN_IF_ERROR(ExpectBlockEnd());
      return node;
    }
    if (!node->attribute.empty() || node->targets.size() != 1) return Expected("'='");
    node->kind = NodeKind::kSetBlock;
    ASSIGN_OR_RETURN(node->filters, ParseFilterChain(/*leading_pipe=*/true));
    RETURN_IF_ERROR(ExpectBlockEnd());
    ASSIGN_OR_RETURN(node->body, ParseBlockBody("endset"));
    return node;
  }

  absl::Status ParseParams(std::vector<std::pair<std::string, ExprPtr>>* params) {
    RETURN_IF_ERROR(ExpectOp("("));
    while (!IsOp(")")) {
      if (!params->empty()) RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;
      ASSIGN_OR_RETURN(std::string name, ExpectName());
      ExprPtr default_value;
      if (IsOp("=")) {
        Next();
        ASSIGN_OR_RETURN(default_value, ParseExpression());
      }
      params->emplace_back(std::move(name), std::move(default_value));
    }
    Next();
    return absl::OkStatus();
  }

  absl::StatusOr<NodePtr> ParseMacro(int line) {
    auto node = MakeNode(NodeKind::kMacro, line);
    ASSIGN_OR_RETURN(node->name, ExpectName());
    RETURN_IF_ERROR(ParseParams(&node->params));
    RETURN_IF_ERROR(ExpectBlockEnd());
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    auto body = ParseBlockBody("endmacro");
    loop_depth_ = saved_loop_depth;
    if (!body.ok()) return body.status();
    node->body = std::move(*body);
    return node;
  }

  absl::StatusOr<NodePtr> ParseCallBlock(int line) {
    auto node = MakeNode(NodeKind::kCallBlock, line);
    if (IsOp("(")) RETURN_IF_ERROR(ParseParams(&node->params));
    ASSIGN_OR_RETURN(node->expr, ParseExpression());
    if (node->expr->kind != ExprKind::kCall) return ErrorAt(Peek(), "expected a call after 'call'");
    RETURN_IF_ERROR(ExpectBlockEnd());
    int saved_loop_depth = loop_depth_;
    loop_depth_ = 0;
    auto body = ParseBlockBody("endcall");
    loop_depth_ = saved_loop_depth;
    if (!body.ok()) return body.status();
    node->body = std::move(*body);
    return node;
  }

  absl::StatusOr<NodePtr> ParseFilterBlock(int line) {
    auto node = MakeNode(NodeKind::kFilterBlock, line);
    ASSIGN_OR_RETURN(node->filters, ParseFilterChain(/*leading_pipe=*/false));
    RETURN_IF_ERROR(ExpectBlockEnd());
    ASSIGN_OR_RETURN(node->body, ParseBlockBody("endfilter"));
    return node;
  }

  absl::StatusOr<NodePtr> ParseWith(int line) {
    auto node = MakeNode(NodeKind::kWith, line);
    while (Peek().type != TokenType::kBlockEnd) {
      if (!node->params.empty()) RETURN_IF_ERROR(ExpectOp(","));
      ASSIGN_OR_RETURN(std::string name, ExpectName());
      RETURN_IF_ERROR(ExpectOp("="));
      ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
      node->params.emplace_back(std::move(name), std::move(value));
    }
    Next();
    ASSIGN_OR_RETURN(node->body, ParseBlockBody("endwith"));
    return node;
  }

  // An expression, or several separated by commas (a tuple), as Jinja's parse_tuple.
  absl::StatusOr<ExprPtr> ParseTuple(bool allow_condition) {
    int line = Peek().line;
    ASSIGN_OR_RETURN(ExprPtr first, ParseExpression(allow_condition));
    if (!IsOp(",")) return first;
    auto tuple = MakeExpr(ExprKind::kTuple, line);
    tuple->children.push_back(std::move(first));
    while (IsOp(",")) {
      Next();
      if (!StartsExpression()) break;
      ASSIGN_OR_RETURN(ExprPtr item, ParseExpression(allow_condition));
      tuple->children.push_back(std::move(item));
    }
    return tuple;
  }

  bool StartsExpression() const {
    const Token& token = Peek();
    switch (token.type) {
      case TokenType::kName:
      case TokenType::kString:
      case TokenType::kInt:
      case TokenType::kFloat: return true;
      case TokenType::kOperator:
        return token.text == "(" || token.text == "[" || token.text == "{" || token.text == "-" || token.text == "+";
      default: return false;
    }
  }

  absl::StatusOr<ExprPtr> ParseExpression(bool allow_condition = true) {
    DepthGuard guard(this);
    if (guard.exceeded()) return TooDeep();
    if (!allow_condition) return ParseOr();
    int line = Peek().line;
    ASSIGN_OR_RETURN(ExprPtr expr, ParseOr());
    ChainDepth chain(this);
    while (IsName("if")) {
      if (!chain.Link()) return TooDeep();
      Next();
      auto cond = MakeExpr(ExprKind::kCondition, line);
      ASSIGN_OR_RETURN(ExprPtr test, ParseOr());
      cond->children.push_back(std::move(test));
      cond->children.push_back(std::move(expr));
      ExprPtr otherwise;
      if (IsName("else")) {
        Next();
        ASSIGN_OR_RETURN(otherwise, ParseExpression());
      }
      cond->children.push_back(std::move(otherwise));
      expr = std::move(cond);
    }
    return expr;
  }

  absl::StatusOr<ExprPtr> ParseOr() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    ChainDepth chain(this);
    while (IsName("or")) {
      if (!chain.Link()) return TooDeep();
      int line = Next().line;
      ASSIGN_OR_RETURN(ExprPtr right, ParseAnd());
      left = Binary(ExprKind::kOr, "or", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseAnd() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    ChainDepth chain(this);
    while (IsName("and")) {
      if (!chain.Link()) return TooDeep();
      int line = Next().line;
      ASSIGN_OR_RETURN(ExprPtr right, ParseNot());
      left = Binary(ExprKind::kAnd, "and", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseNot() {
    DepthGuard guard(this);
    if (guard.exceeded()) return TooDeep();
    if (IsName("not")) {
      int line = Next().line;
      auto node = MakeExpr(ExprKind::kNot, line);
      ASSIGN_OR_RETURN(ExprPtr operand, ParseNot());
      node->children.push_back(std::move(operand));
      return node;
    }
    return ParseCompare();
  }

  absl::StatusOr<ExprPtr> ParseCompare() {
    int line = Peek().line;
    ASSIGN_OR_RETURN(ExprPtr first, ParseMath1());
    ExprPtr compare;
    while (true) {
      std::string op;
      const Token& token = Peek();
      if (token.type == TokenType::kOperator &&
          (token.text == "==" || token.text == "!=" || token.text == "<" || token.text == "<=" ||
           token.text == ">" || token.text == ">=")) {
        op = token.text;
        Next();
      } else if (IsName("in")) {
        op = "in";
        Next();
      } else if (IsName("not") && IsName("in", 1)) {
        op = "not in";
        Next();
        Next();
      } else {
        break;
      }
      if (!compare) {
        compare = MakeExpr(ExprKind::kCompare, line);
        compare->children.push_back(std::move(first));
      }
      ASSIGN_OR_RETURN(ExprPtr operand, ParseMath1());
      compare->ops.push_back(op);
      compare->children.push_back(std::move(operand));
    }
    return compare ? std::move(compare) : std::move(first);
  }

  static ExprPtr Binary(ExprKind kind, std::string op, ExprPtr left, ExprPtr right, int line) {
    auto node = MakeExpr(kind, line);
    node->name = std::move(op);
    node->children.push_back(std::move(left));
    node->children.push_back(std::move(right));
    return node;
  }

  absl::StatusOr<ExprPtr> ParseMath1() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
    ChainDepth chain(this);
    while (IsOp("+") || IsOp("-")) {
      if (!chain.Link()) return TooDeep();
      const Token& op = Next();
      std::string spelling = op.text;
      ASSIGN_OR_RETURN(ExprPtr right, ParseConcat());
      left = Binary(ExprKind::kBinary, spelling, std::move(left), std::move(right), op.line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseConcat() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseMath2());
    ChainDepth chain(this);
    while (IsOp("~")) {
      if (!chain.Link()) return TooDeep();
      int line = Next().line;
      ASSIGN_OR_RETURN(ExprPtr right, ParseMath2());
      left = Binary(ExprKind::kBinary, "~", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseMath2() {
    ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
    ChainDepth chain(this);
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      if (!chain.Link()) return TooDeep();
      const Token& op = Next();
      std::string spelling = op.text;
      ASSIGN_OR_RETURN(ExprPtr right, ParsePow());
      left = Binary(ExprKind::kBinary, spelling, std::move(left), std::move(right), op.line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParsePow() {
    ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
    ChainDepth chain(this);
    while (IsOp("**")) {
      if (!chain.Link()) return TooDeep();
      int line = Next().line;
      ASSIGN_OR_RETURN(ExprPtr right, ParseUnary(true));
      left = Binary(ExprKind::kBinary, "**", std::move(left), std::move(right), line);
    }
    return left;
  }

  absl::StatusOr<ExprPtr> ParseUnary(bool with_filter) {
    DepthGuard guard(this);
    if (guard.exceeded()) return TooDeep();
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      const Token& op = Next();
      node = MakeExpr(op.text == "-" ? ExprKind::kNeg : ExprKind::kPos, op.line);
      ASSIGN_OR_RETURN(ExprPtr operand, ParseUnary(false));
      node->children.push_back(std::move(operand));
    } else {
      ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
    }
    return node;
  }

  absl::StatusOr<ExprPtr> ParsePrimary() {
    DepthGuard guard(this);
    if (guard.exceeded()) return TooDeep();
    const Token& token = Peek();
    int line = token.line;
    switch (token.type) {
      case TokenType::kName: {
        Next();
        auto literal = [&](Value v) {
          auto node = MakeExpr(ExprKind::kLiteral, line);
          node->literal = std::move(v);
          return node;
        };
        if (token.text == "true" || token.text == "True") return literal(Value::Bool(true));
        if (token.text == "false" || token.text == "False") return literal(Value::Bool(false));
        if (token.text == "none" || token.text == "None") return literal(Value::MakeNone());
        auto node = MakeExpr(ExprKind::kName, line);
        node->name = token.text;
        return node;
      }
      case TokenType::kString: {
        std::string text;
        while (Peek().type == TokenType::kString) text += Next().text;
        auto node = MakeExpr(ExprKind::kLiteral, line);
        node->literal = Value::String(std::move(text));
        return node;
      }
      case TokenType::kInt:
      case TokenType::kFloat: {
        Next();
        auto node = MakeExpr(ExprKind::kLiteral, line);
        node->literal = token.type == TokenType::kInt ? Value::Int(token.int_value) : Value::Float(token.float_value);
        return node;
      }
      case TokenType::kOperator:
        if (token.text == "(") {
          Next();
          if (IsOp(")")) {
            Next();
            return MakeExpr(ExprKind::kTuple, line);
          }
          ASSIGN_OR_RETURN(ExprPtr inner, ParseTuple(true));
          if (inner->kind != ExprKind::kTuple && IsOp(",")) Next();
          RETURN_IF_ERROR(ExpectOp(")"));
          return inner;
        }
        if (token.text == "[") {
          Next();
          auto node = MakeExpr(ExprKind::kList, line);
          while (!IsOp("]")) {
            if (!node->children.empty()) {
              RETURN_IF_ERROR(ExpectOp(","));
              if (IsOp("]")) break;
            }
            ASSIGN_OR_RETURN(ExprPtr item, ParseExpression());
            node->children.push_back(std::move(item));
          }
          Next();
          return node;
        }
        if (token.text == "{") {
          Next();
          auto node = MakeExpr(ExprKind::kDict, line);
          while (!IsOp("}")) {
            if (!node->children.empty()) {
              RETURN_IF_ERROR(ExpectOp(","));
              if (IsOp("}")) break;
            }
            ASSIGN_OR_RETURN(ExprPtr key, ParseExpression());
            RETURN_IF_ERROR(ExpectOp(":"));
            ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
            node->children.push_back(std::move(key));
            node->children.push_back(std::move(value));
          }
          Next();
          return node;
        }
        break;
      default:
        break;
    }
    return Expected("an expression");
  }

  absl::StatusOr<ExprPtr> ParsePostfix(ExprPtr node) {
    ChainDepth chain(this);
    while (true) {
      if (!chain.Link()) return TooDeep();
      if (IsOp(".")) {
        int line = Next().line;
        const Token& token = Peek();
        if (token.type == TokenType::kName) {
          auto attr = MakeExpr(ExprKind::kAttr, line);
          attr->name = Next().text;
          attr->children.push_back(std::move(node));
          node = std::move(attr);
        } else if (token.type == TokenType::kInt) {
          auto item = MakeExpr(ExprKind::kItem, line);
          auto index = MakeExpr(ExprKind::kLiteral, line);
          index->literal = Value::Int(Next().int_value);
          item->children.push_back(std::move(node));
          item->children.push_back(std::move(index));
          node = std::move(item);
        } else {
          return Expected("an attribute name");
        }
      } else if (IsOp("[")) {
        ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
      } else if (IsOp("(")) {
        ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  absl::StatusOr<ExprPtr> ParseSubscript(ExprPtr node) {
    int line = Next().line;  // '['
    ExprPtr parts[3];
    bool is_slice = false;
    if (!IsOp(":")) {
      ASSIGN_OR_RETURN(parts[0], ParseExpression());
    }
    if (IsOp(":")) {
      is_slice = true;
      Next();
      if (!IsOp("]") && !IsOp(":")) {
        ASSIGN_OR_RETURN(parts[1], ParseExpression());
      }
      if (IsOp(":")) {
        Next();
        if (!IsOp("]")) {
          ASSIGN_OR_RETURN(parts[2], ParseExpression());
        }
      }
    }
    RETURN_IF_ERROR(ExpectOp("]"));
    auto result = MakeExpr(is_slice ? ExprKind::kSlice : ExprKind::kItem, line);
    result->children.push_back(std::move(node));
    result->children.push_back(std::move(parts[0]));
    if (is_slice) {
      result->children.push_back(std::move(parts[1]));
      result->children.push_back(std::move(parts[2]));
    }
    return result;
  }

  absl::Status ParseArguments(Arguments* args) {
    RETURN_IF_ERROR(ExpectOp("("));
    bool first = true;
    while (!IsOp(")")) {
      if (!first) {
        RETURN_IF_ERROR(ExpectOp(","));
        if (IsOp(")")) break;
      }
      first = false;
      if (Peek().type == TokenType::kName && IsOp("=", 1)) {
        std::string name = Next().text;
        Next();
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
        args->keyword.emplace_back(std::move(name), std::move(value));
      } else {
        if (!args->keyword.empty()) return ErrorAt(Peek(), "positional argument follows keyword argument");
        ASSIGN_OR_RETURN(ExprPtr value, ParseExpression());
        args->positional.push_back(std::move(value));
      }
    }
    Next();
    return absl::OkStatus();
  }

  absl::StatusOr<ExprPtr> ParseCall(ExprPtr callee) {
    auto call = MakeExpr(ExprKind::kCall, Peek().line);
    RETURN_IF_ERROR(ParseArguments(&call->args));
    call->children.push_back(std::move(callee));
    return call;
  }

  absl::StatusOr<FilterCall> ParseFilterCall() {
    const Token& name_token = Peek();
    ASSIGN_OR_RETURN(std::string name, ExpectName());
    while (IsOp(".") && Peek(1).type == TokenType::kName) {
      Next();
      name += "." + Next().text;
    }
    if (!IsKnownFilter(name)) return ErrorAt(name_token, absl::StrCat("no filter named '", name, "'"));
    FilterCall filter;
    filter.name = std::move(name);
    filter.line = name_token.line;
    if (IsOp("(")) RETURN_IF_ERROR(ParseArguments(&filter.args));
    return filter;
  }

  absl::StatusOr<ExprPtr> ParseFilterExpr(ExprPtr node) {
    ChainDepth chain(this);
    while (true) {
      if (!chain.Link()) return TooDeep();
      if (IsOp("|")) {
        int line = Next().line;
        auto filter = MakeExpr(ExprKind::kFilter, line);
        ASSIGN_OR_RETURN(filter->filter, ParseFilterCall());
        filter->children.push_back(std::move(node));
        node = std::move(filter);
      } else if (IsName("is")) {
        int line = Next().line;
        auto test = MakeExpr(ExprKind::kTest, line);
        if (IsName("not")) {
          Next();
          test->negated = true;
        }
        const Token& name_token = Peek();
        ASSIGN_OR_RETURN(test->name, ExpectName());
        if (!IsKnownTest(test->name)) return ErrorAt(name_token, absl::StrCat("no test named '", test->name, "'"));
        if (IsOp("(")) {
          RETURN_IF_ERROR(ParseArguments(&test->args));
        } else if (StartsTestArgument()) {
          ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
          ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
          test->args.positional.push_back(std::move(arg));
        }
        test->children.push_back(std::move(node));
        node = std::move(test);
      } else if (IsOp("(")) {
        ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
      } else {
        return node;
      }
    }
  }

  // `x is divisibleby 3`, `x is sameas none`: a test may take one argument without parentheses.
  bool StartsTestArgument() const {
    const Token& token = Peek();
    if (token.type == TokenType::kName) {
      static const std::set<std::string> kStop = {"else", "or", "and", "if", "in", "not", "is"};
      return kStop.count(token.text) == 0;
    }
    if (token.type == TokenType::kString || token.type == TokenType::kInt || token.type == TokenType::kFloat) {
      return true;
    }
    return token.type == TokenType::kOperator && (token.text == "[" || token.text == "{");
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

absl::StatusOr<NodeList> ParseTemplate(absl::string_view source) {
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source));
  Parser parser(std::move(tokens));
  return parser.ParseAll();
}

}  // namespace tessera::jinja
