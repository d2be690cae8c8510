// ChatTemplate API behaviour: syntax and runtime errors name the template line, hostile templates fail cleanly
// (bounded recursion, work and memory), model folders are read the way transformers reads them.
#include "common/chat_template/chat_template.h"

#include <pthread.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<std::string> RenderSource(std::string_view source, const nlohmann::ordered_json& context = {}) {
  auto parsed = ChatTemplate::Parse(source);
  if (!parsed.ok()) return parsed.status();
  return parsed->Render(context.is_object() ? context : nlohmann::ordered_json::object());
}

std::string Repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

// ----- syntax errors -------------------------------------------------------------------------------------------

struct SyntaxCase {
  std::string source;
  std::string message;
  std::string location;
};

class SyntaxErrorTest : public ::testing::TestWithParam<SyntaxCase> {};

TEST_P(SyntaxErrorTest, NamesLineAndColumn) {
  auto parsed = ChatTemplate::Parse(GetParam().source);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  std::string message(parsed.status().message());
  EXPECT_THAT(message, HasSubstr("chat template: "));
  EXPECT_THAT(message, HasSubstr(GetParam().message));
  EXPECT_THAT(message, HasSubstr(GetParam().location));
}

INSTANTIATE_TEST_SUITE_P(
    ChatTemplate, SyntaxErrorTest,
    ::testing::Values(SyntaxCase{"{% if x %}\nabc", "expected 'endif'", "line 2"},
                      SyntaxCase{"line1\n  {{ x + }}", "expected an expression", "line 2, column 10"},
                      SyntaxCase{"{% for x in y %}{% endif %}", "unexpected 'endif'", "line 1, column 20"},
                      SyntaxCase{"\n\n{{ x | no_such_filter }}", "no filter named 'no_such_filter'", "line 3"},
                      SyntaxCase{"{{ x is no_such_test }}", "no test named 'no_such_test'", "line 1"},
                      SyntaxCase{"{% break %}", "'break' outside of a loop", "line 1"},
                      SyntaxCase{"{{ 'abc }}", "unterminated string literal", "line 1, column 4"},
                      SyntaxCase{"a\n{# never closed", "unterminated comment", "line 2"},
                      SyntaxCase{"{% include 'other.jinja' %}", "unsupported statement 'include'", "line 1"},
                      SyntaxCase{"{{ x ]] }}", "unexpected ']'", "line 1"},
                      SyntaxCase{"{{ foo(a=1, 2) }}", "positional argument follows keyword argument", "line 1"},
                      SyntaxCase{"{% set %}", "expected a name", "line 1"},
                      SyntaxCase{"{{ 1 }", "unexpected '}'", "line 1, column 6"},
                      SyntaxCase{"{% raw %}never ends", "endraw", "line 1"},
                      SyntaxCase{"{{ 99999999999999999999 }}", "out of range", "line 1"}));

// ----- runtime errors ------------------------------------------------------------------------------------------

TEST(ChatTemplateTest, RaiseExceptionReportsMessageAndLine) {
  auto text = RenderSource("a\nb\n{{ raise_exception('Conversation roles must alternate') }}");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(), "chat template: line 3: Conversation roles must alternate");
}

TEST(ChatTemplateTest, ErrorsInsideMacrosNameTheMacroLine) {
  auto text = RenderSource("{% macro broken() %}\n{{ 1 + 'a' }}\n{% endmacro %}\n\n{{ broken() }}");
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("line 2: unsupported operand type(s) for +"));
}

TEST(ChatTemplateTest, UndefinedValuesAreLenientUntilUsed) {
  EXPECT_EQ(*RenderSource("[{{ missing }}][{{ missing is defined }}][{{ missing|default('d') }}]"),
            "[][False][d]");
  EXPECT_EQ(*RenderSource("{% for m in messages %}[{{ m.name }}]{% endfor %}",
                          {{"messages", {{{"role", "user"}}}}}),
            "[]");
  auto text = RenderSource("\n{{ missing.attribute }}");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(), "chat template: line 2: 'missing' is undefined");
}

TEST(ChatTemplateTest, ContextMustBeAnObject) {
  auto parsed = ChatTemplate::Parse("x");
  ASSERT_TRUE(parsed.ok());
  EXPECT_FALSE(parsed->Render(nlohmann::json::array()).ok());
  EXPECT_EQ(*parsed->Render(nlohmann::json::object()), "x");
}

TEST(ChatTemplateTest, PlainJsonContextRendersWithSortedKeys) {
  auto parsed = ChatTemplate::Parse("{{ d|tojson }}");
  ASSERT_TRUE(parsed.ok());
  nlohmann::json sorted = {{"d", {{"b", 1}, {"a", 2}}}};
  EXPECT_EQ(*parsed->Render(sorted), "{\"a\": 2, \"b\": 1}");
  nlohmann::ordered_json ordered = {{"d", {{"b", 1}, {"a", 2}}}};
  EXPECT_EQ(*parsed->Render(ordered), "{\"b\": 1, \"a\": 2}");
}

TEST(ChatTemplateTest, ContentAsStringOrListOfParts) {
  const std::string source =
      "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}"
      "{% for part in m.content %}{% if part.type == 'text' %}{{ part.text }}{% endif %}{% endfor %}"
      "{% endif %}|{% endfor %}";
  nlohmann::ordered_json context = {
      {"messages",
       {{{"role", "user"}, {"content", "plain"}},
        {{"role", "user"},
         {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "image"}}, {{"type", "text"}, {"text", "b"}}}}}}}};
  EXPECT_EQ(*RenderSource(source, context), "plain|ab|");
}

TEST(ChatTemplateTest, RendersConcurrently) {
  auto parsed = ChatTemplate::Parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.content }}{% endfor %}"
      "{{ ns.n }}");
  ASSERT_TRUE(parsed.ok());
  std::vector<std::thread> threads;
  std::vector<std::string> results(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      nlohmann::ordered_json context = {{"messages", nlohmann::ordered_json::array()}};
      for (int i = 0; i <= t; ++i) context["messages"].push_back({{"content", std::to_string(i)}});
      for (int repeat = 0; repeat < 50; ++repeat) results[static_cast<size_t>(t)] = *parsed->Render(context);
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 8; ++t) {
    std::string expected;
    for (int i = 0; i <= t; ++i) expected += std::to_string(i);
    EXPECT_EQ(results[static_cast<size_t>(t)], expected + std::to_string(t + 1));
  }
}

// ----- hostile templates ---------------------------------------------------------------------------------------

struct HostileCase {
  std::string name;
  std::string source;
  std::string message;
};

class HostileTemplateTest : public ::testing::TestWithParam<HostileCase> {};

TEST_P(HostileTemplateTest, FailsCleanly) {
  auto text = RenderSource(GetParam().source);
  ASSERT_FALSE(text.ok()) << "rendered " << text->size() << " bytes";
  EXPECT_THAT(std::string(text.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    ChatTemplate, HostileTemplateTest,
    ::testing::Values(
        HostileCase{"DeepParentheses", "{{ " + Repeat("(", 5000) + "1" + Repeat(")", 5000) + " }}", "nest"},
        HostileCase{"DeepBlocks", Repeat("{% if true %}", 3000) + Repeat("{% endif %}", 3000), "nests too deeply"},
        HostileCase{"LongAttributeChain", "{{ x" + Repeat(".a", 100000) + " }}", "nests too deeply"},
        HostileCase{"LongOperatorChain", "{{ 1" + Repeat(" + 1", 100000) + " }}", "nests too deeply"},
        HostileCase{"LongFilterChain", "{{ 'x'" + Repeat("|upper", 100000) + " }}", "nests too deeply"},
        HostileCase{"ManyNots", "{{ " + Repeat("not ", 100000) + "x }}", "nests too deeply"},
        HostileCase{"NestedHugeLoops",
                    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "work budget"},
        HostileCase{"HugeRange", "{% for i in range(10000000000) %}{% endfor %}", "Range too big"},
        HostileCase{"EndlessRecursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion deeper"},
        HostileCase{"MutualRecursion",
                    "{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}",
                    "recursion deeper"},
        HostileCase{"StringDoubling",
                    "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                    "string over"},
        HostileCase{"StringRepeat", "{{ 'x' * 100000000000 }}", "string over"},
        HostileCase{"ListDoubling",
                    "{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
                    "work budget"},
        HostileCase{"DeepListBuilding",
                    "{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = [ns.l] %}{% endfor %}",
                    "deeper than"},
        HostileCase{"HugeOutput", "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "string over"},
        HostileCase{"NamespaceCycle", "{% set ns = namespace() %}{% set ns.me = ns %}", "namespace cannot hold"},
        HostileCase{"NamespaceCycleViaList", "{% set ns = namespace() %}{% set ns.l = [ns] %}",
                    "namespace cannot hold"},
        HostileCase{"SelfReplacingFormat", "{{ ('{0}' * 1000).format('x' * 100000) }}", "string over"}),
    [](const ::testing::TestParamInfo<HostileCase>& info) { return info.param.name; });

TEST(ChatTemplateTest, DeepJsonContextIsRefused) {
  nlohmann::ordered_json deep = nlohmann::ordered_json::array();
  for (int i = 0; i < 1000; ++i) deep = nlohmann::ordered_json::array({deep});
  auto text = RenderSource("{{ x }}", {{"x", deep}});
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("deeper than"));
}

// Deep recursion must stay within a small thread stack, as worker threads may have one.
TEST(ChatTemplateTest, RecursionLimitFitsInASmallStack) {
  struct Job {
    absl::StatusOr<std::string> result = absl::UnknownError("not run");
  } job;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1 << 20);
  pthread_t thread;
  auto body = [](void* arg) -> void* {
    auto* job = static_cast<Job*>(arg);
    job->result = RenderSource(
        "{% macro f(n) %}{% if true %}{% for i in [n] %}{{ f((n + 1) * 1) ~ (n|string|trim) }}{% endfor %}{% endif %}"
        "{% endmacro %}{{ f(0) }}");
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, body, &job), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  ASSERT_FALSE(job.result.ok());
  EXPECT_THAT(std::string(job.result.status().message()), HasSubstr("recursion deeper"));
}

// Random token soup: every template either parses and renders or fails with a status; none may crash or hang.
TEST(ChatTemplateTest, RandomTemplatesNeverCrash) {
  const std::vector<std::string> pieces = {
      "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", "if", "for", "in", "endif", "endfor", "set", "=", "x", "y",
      "messages", "loop", ".", "index", "[", "]", "(", ")", "{", "}", ",", ":", "'a'", "\"b\"", "1", "2.5", "|",
      "length", "tojson", "is", "defined", "not", "and", "or", "else", "elif", "macro", "endmacro", "namespace",
      "~", "*", "/", "//", "%", "**", "==", "<", "range", " ", "\n", "raw", "endraw", "call", "caller", "recursive",
      "break", "continue", "items", "map", "select", "join", "none", "true", "-1", "::", "ns", "ns.x"};
  std::mt19937 rng(1234);
  nlohmann::ordered_json context = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"x", 3}, {"y", "s"}};
  for (int trial = 0; trial < 3000; ++trial) {
    std::string source;
    int length = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < length; ++i) source += pieces[rng() % pieces.size()];
    auto parsed = ChatTemplate::Parse(source);
    if (!parsed.ok()) continue;
    auto text = parsed->Render(context);
    (void)text;
  }
}

// ----- model folders -------------------------------------------------------------------------------------------

class ModelFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tessera_chat_template_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& contents) {
    std::ofstream(dir_ / name) << contents;
  }
  std::filesystem::path dir_;
};

TEST_F(ModelFolderTest, PicksDefaultOrToolUseFromNamedTemplates) {
  nlohmann::ordered_json config = {
      {"bos_token", {{"__type", "AddedToken"}, {"content", "<s>"}}},
      {"eos_token", "</s>"},
      {"chat_template",
       {{{"name", "default"}, {"template", "D{{ bos_token }}{{ messages|length }}{{ eos_token }}"}},
        {{"name", "tool_use"}, {"template", "T{{ tools|length }}"}}}}};
  Write("tokenizer_config.json", config.dump());
  nlohmann::ordered_json messages = {{{"role", "user"}, {"content", "hi"}}};
  ChatTemplateOptions options;
  EXPECT_EQ(*ApplyChatTemplate(dir_.string(), messages, options), "D<s>1</s>");
  options.tools = nlohmann::ordered_json::array({{{"type", "function"}}});
  EXPECT_EQ(*ApplyChatTemplate(dir_.string(), messages, options), "T1");
}

TEST_F(ModelFolderTest, ChatTemplateJinjaFileWins) {
  Write("tokenizer_config.json", R"({"chat_template": "from config", "eos_token": "E"})");
  Write("chat_template.jinja", "from file {{ eos_token }}{% if add_generation_prompt %} +gen{% endif %}\n");
  ChatTemplateOptions options;
  EXPECT_EQ(*ApplyChatTemplate(dir_.string(), nlohmann::json::array(), options), "from file E +gen");
  options.add_generation_prompt = false;
  EXPECT_EQ(*ApplyChatTemplate(dir_.string(), nlohmann::json::array(), options), "from file E");
}

TEST_F(ModelFolderTest, KwargsOverrideAndToolsDefaultToNone) {
  Write("tokenizer_config.json", R"({"chat_template": "{{ tools is none }} {{ bos_token }} {{ documents }}"})");
  ChatTemplateOptions options;
  options.kwargs = {{"bos_token", "override"}};
  EXPECT_EQ(*ApplyChatTemplate(dir_.string(), nlohmann::json::array(), options), "True override None");
}

TEST_F(ModelFolderTest, MissingOrBrokenTemplatesAreClearErrors) {
  EXPECT_EQ(ApplyChatTemplate(dir_.string(), nlohmann::json::array(), {}).status().code(),
            absl::StatusCode::kNotFound);
  Write("tokenizer_config.json", "{not json");
  EXPECT_THAT(std::string(ApplyChatTemplate(dir_.string(), nlohmann::json::array(), {}).status().message()),
              HasSubstr("tokenizer_config.json"));
  Write("tokenizer_config.json", R"({"chat_template": [{"name": "other", "template": "x"}]})");
  EXPECT_THAT(std::string(ApplyChatTemplate(dir_.string(), nlohmann::json::array(), {}).status().message()),
              HasSubstr("no \"default\""));
  Write("tokenizer_config.json", R"({"chat_template": "{% if %}"})");
  EXPECT_THAT(std::string(ApplyChatTemplate(dir_.string(), nlohmann::json::array(), {}).status().message()),
              HasSubstr("chat template: line 1"));
}

}  // namespace
}  // namespace tessera
