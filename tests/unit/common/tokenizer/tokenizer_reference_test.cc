// Parity with Hugging Face `tokenizers` (Rust) beyond the shared golden file: the tiny test tokenizers on every golden
// string, and adversarial strings (NUL bytes, long runs, combining marks, added-token fragments, rare scripts) on all
// tokenizers. testdata/hf_reference.json is produced by testdata/make_hf_reference.py.
#include <fstream>
#include <sstream>
#include <string>

#include "common/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

const nlohmann::json& References() {
  static const nlohmann::json* references = [] {
    std::ifstream in(std::string(TESSERA_FIXTURES_DIR) + "/../unit/common/tokenizer/testdata/hf_reference.json");
    std::stringstream contents;
    contents << in.rdbuf();
    return new nlohmann::json(nlohmann::json::parse(contents.str()));
  }();
  return *references;
}

std::string TokenizerDir(const std::string& name) {
  if (name == "tiny") return std::string(TESSERA_FIXTURES_DIR) + "/tiny-tokenizer";
  if (name == "tiny-qwen3") return std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-qwen3";
  return std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/" + name;
}

class TokenizerReferenceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerReferenceTest, MatchesHuggingFaceTokenizers) {
  const std::string name = GetParam();
  auto tokenizer = Tokenizer::FromFolder(TokenizerDir(name));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  // tiny-qwen3 ships the same tokenizer as tiny-tokenizer.
  const nlohmann::json& cases = References()["cases"][name == "tiny-qwen3" ? "tiny" : name];
  ASSERT_GT(cases.size(), 0u);
  for (const auto& reference : cases) {
    const std::string text = reference["text"].get<std::string>();
    SCOPED_TRACE(name + ": \"" + text.substr(0, 80) + "\"");
    const auto ids = reference["ids"].get<std::vector<int32_t>>();
    auto encoded = (*tokenizer)->Encode(text, false);
    ASSERT_TRUE(encoded.ok()) << encoded.status();
    EXPECT_EQ(*encoded, ids);
    auto encoded_special = (*tokenizer)->Encode(text, true);
    ASSERT_TRUE(encoded_special.ok()) << encoded_special.status();
    EXPECT_EQ(*encoded_special, reference["ids_with_special"].get<std::vector<int32_t>>());
    auto decoded = (*tokenizer)->Decode(ids, false);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, reference["decoded"].get<std::string>());
    auto skipped = (*tokenizer)->Decode(ids, true);
    ASSERT_TRUE(skipped.ok()) << skipped.status();
    EXPECT_EQ(*skipped, reference["decoded_skip_special"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(AllTokenizers, TokenizerReferenceTest,
                         ::testing::Values("tiny", "tiny-qwen3", "qwen3", "llama3", "deepseek_v3", "llama2"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (char& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace tessera
