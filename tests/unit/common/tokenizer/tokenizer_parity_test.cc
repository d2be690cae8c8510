// Exact parity with the reference tokenizers: every string of tests/fixtures/golden_text.json `tokenizers.<name>`
// must encode (with and without special tokens) and decode to the recorded ids and text.
#include <fstream>
#include <sstream>
#include <string>

#include "common/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

nlohmann::json LoadGoldens() {
  std::ifstream in(std::string(TESSERA_FIXTURES_DIR) + "/golden_text.json");
  std::stringstream contents;
  contents << in.rdbuf();
  return nlohmann::json::parse(contents.str());
}

class TokenizerParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerParityTest, MatchesEveryGoldenString) {
  const std::string name = GetParam();
  auto tokenizer = Tokenizer::FromFolder(std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/" + name);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const nlohmann::json goldens = LoadGoldens()["tokenizers"][name];
  ASSERT_GT(goldens.size(), 0u);
  int checked = 0;
  for (const auto& golden : goldens) {
    const std::string text = golden["text"].get<std::string>();
    const auto ids = golden["ids"].get<std::vector<int32_t>>();
    const auto ids_with_special = golden["ids_with_special"].get<std::vector<int32_t>>();
    SCOPED_TRACE(name + ": \"" + text + "\"");
    auto encoded = (*tokenizer)->Encode(text, /*add_special_tokens=*/false);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    EXPECT_EQ(*encoded, ids);
    auto encoded_special = (*tokenizer)->Encode(text, /*add_special_tokens=*/true);
    ASSERT_TRUE(encoded_special.ok()) << encoded_special.status();
    EXPECT_EQ(*encoded_special, ids_with_special);
    auto decoded = (*tokenizer)->Decode(ids, /*skip_special_tokens=*/false);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, golden["decoded"].get<std::string>());
    if (golden.contains("decoded_skip_special")) {
      auto skipped = (*tokenizer)->Decode(ids, /*skip_special_tokens=*/true);
      ASSERT_TRUE(skipped.ok()) << skipped.status();
      EXPECT_EQ(*skipped, golden["decoded_skip_special"].get<std::string>());
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(goldens.size()));
}

INSTANTIATE_TEST_SUITE_P(AllTokenizers, TokenizerParityTest,
                         ::testing::Values("qwen3", "llama3", "deepseek_v3", "llama2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace tessera
