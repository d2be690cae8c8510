// Renders every case of jinja_cases.json (expected outputs produced by real Jinja2 configured as transformers
// configures it; see generate_cases.py) and compares byte for byte.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/chat_template/chat_template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

nlohmann::ordered_json LoadCases() {
  const std::filesystem::path path = std::filesystem::path(__FILE__).parent_path() / "jinja_cases.json";
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::ordered_json::parse(buffer.str());
}

class JinjaCaseTest : public ::testing::TestWithParam<nlohmann::ordered_json> {};

TEST_P(JinjaCaseTest, MatchesJinja2) {
  const nlohmann::ordered_json& c = GetParam();
  auto parsed = ChatTemplate::Parse(c["template"].get<std::string>());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto text = parsed->Render(c["context"]);
  if (c.contains("error")) {
    ASSERT_FALSE(text.ok()) << "rendered: " << *text;
    EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument) << text.status();
    EXPECT_THAT(std::string(text.status().message()), ::testing::HasSubstr(c["error"].get<std::string>()));
    EXPECT_THAT(std::string(text.status().message()), ::testing::HasSubstr("line "));
    return;
  }
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, c["expected"].get<std::string>());
}

std::vector<nlohmann::ordered_json> AllCases() {
  std::vector<nlohmann::ordered_json> cases;
  for (const auto& c : LoadCases()) cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Jinja2, JinjaCaseTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<nlohmann::ordered_json>& info) {
                           return info.param["name"].get<std::string>();
                         });

}  // namespace
}  // namespace tessera
