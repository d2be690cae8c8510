// Streaming detokenization: deltas add up to Decode of all ids, never split a UTF-8 character, wait for bytes that
// complete a character, keep Llama 2's leading space after a prompt, and follow vLLM's special-token options.
#include "common/tokenizer/incremental_detokenizer.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/tokenizer/byte_level.h"
#include "common/tokenizer/tokenizer.h"
#include "common/tokenizer/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

std::unique_ptr<Tokenizer> Load(const std::string& name) {
  auto tokenizer = Tokenizer::FromFolder(std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/" + name);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

std::vector<std::string> GoldenTexts(const std::string& name) {
  std::ifstream in(std::string(TESSERA_FIXTURES_DIR) + "/golden_text.json");
  std::stringstream contents;
  contents << in.rdbuf();
  std::vector<std::string> texts;
  for (const auto& golden : nlohmann::json::parse(contents.str())["tokenizers"][name]) {
    texts.push_back(golden["text"].get<std::string>());
  }
  return texts;
}

// Streams ids through a detokenizer and returns every delta (the Flush result last).
std::vector<std::string> Stream(const Tokenizer& tokenizer, const std::vector<int32_t>& prompt,
                                const std::vector<int32_t>& ids, DetokenizerOptions options) {
  IncrementalDetokenizer detokenizer(tokenizer, prompt, options);
  std::vector<std::string> deltas;
  for (int32_t id : ids) {
    auto delta = detokenizer.Step(id);
    EXPECT_TRUE(delta.ok()) << delta.status();
    deltas.push_back(delta.ok() ? *delta : "");
  }
  auto rest = detokenizer.Flush();
  EXPECT_TRUE(rest.ok()) << rest.status();
  deltas.push_back(rest.ok() ? *rest : "");
  return deltas;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string joined;
  for (const auto& part : parts) joined += part;
  return joined;
}

class DetokenizerGoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DetokenizerGoldenTest, DeltasAddUpToDecodeAndAreWholeCharacters) {
  auto tokenizer = Load(GetParam());
  ASSERT_NE(tokenizer, nullptr);
  for (const std::string& text : GoldenTexts(GetParam())) {
    SCOPED_TRACE(text);
    auto ids = tokenizer->Encode(text, /*add_special_tokens=*/true);
    ASSERT_TRUE(ids.ok());
    for (bool skip : {false, true}) {
      DetokenizerOptions options;
      options.skip_special_tokens = skip;
      const std::vector<std::string> deltas = Stream(*tokenizer, {}, *ids, options);
      for (const std::string& delta : deltas) EXPECT_TRUE(tok::IsValidUtf8(delta));
      auto decoded = tokenizer->Decode(*ids, skip);
      ASSERT_TRUE(decoded.ok());
      EXPECT_EQ(Join(deltas), *decoded) << "skip_special_tokens=" << skip;
      // Nothing is held back at the end for text made of complete characters.
      EXPECT_EQ(deltas.back(), "");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTokenizers, DetokenizerGoldenTest,
                         ::testing::Values("qwen3", "llama3", "deepseek_v3", "llama2"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(IncrementalDetokenizerTest, ByteFallbackTokensWaitForTheWholeCharacter) {
  auto tokenizer = Load("llama2");
  ASSERT_NE(tokenizer, nullptr);
  std::vector<int32_t> ids;
  for (const char* byte : {"<0xF0>", "<0x9F>", "<0x98>", "<0x80>"}) {
    auto id = tokenizer->TokenToId(byte);
    ASSERT_TRUE(id.has_value()) << byte;
    ids.push_back(*id);
  }
  const std::vector<std::string> deltas = Stream(*tokenizer, {}, ids, {});
  EXPECT_THAT(deltas, ::testing::ElementsAre("", "", "", "\xF0\x9F\x98\x80", ""));
}

TEST(IncrementalDetokenizerTest, ByteLevelTokensWaitForTheWholeCharacter) {
  auto tokenizer = Load("qwen3");
  ASSERT_NE(tokenizer, nullptr);
  // "你好" as one byte-level token per byte, the way a model may emit rare characters.
  const std::string text = "\xE4\xBD\xA0\xE5\xA5\xBD";
  std::vector<int32_t> ids;
  for (char c : text) {
    const std::string mapped(tok::ByteLevelAlphabet::Get().Encode(static_cast<uint8_t>(c)));
    auto id = tokenizer->TokenToId(mapped);
    ASSERT_TRUE(id.has_value());
    ids.push_back(*id);
  }
  const std::vector<std::string> deltas = Stream(*tokenizer, {}, ids, {});
  EXPECT_THAT(deltas, ::testing::ElementsAre("", "", "\xE4\xBD\xA0", "", "", "\xE5\xA5\xBD", ""));
}

TEST(IncrementalDetokenizerTest, FlushReturnsAnIncompleteCharacterAsReplacement) {
  auto tokenizer = Load("llama2");
  ASSERT_NE(tokenizer, nullptr);
  std::vector<int32_t> ids = {*tokenizer->TokenToId("\xE2\x96\x81Hi"), *tokenizer->TokenToId("<0xF0>"),
                              *tokenizer->TokenToId("<0x9F>")};
  const std::vector<std::string> deltas = Stream(*tokenizer, {}, ids, {});
  EXPECT_THAT(deltas, ::testing::ElementsAre("Hi", "", "", "\xEF\xBF\xBD\xEF\xBF\xBD"));
  EXPECT_EQ(Join(deltas), *tokenizer->Decode(ids, true));
}

TEST(IncrementalDetokenizerTest, Llama2KeepsTheLeadingSpaceAfterAPrompt) {
  auto tokenizer = Load("llama2");
  ASSERT_NE(tokenizer, nullptr);
  auto prompt = tokenizer->Encode("Hello", /*add_special_tokens=*/true);
  auto generated = tokenizer->Encode("world, how are you?", /*add_special_tokens=*/false);
  ASSERT_TRUE(prompt.ok() && generated.ok());
  const std::vector<std::string> deltas = Stream(*tokenizer, *prompt, *generated, {});
  EXPECT_EQ(deltas.front(), " world");
  EXPECT_EQ(Join(deltas), " world, how are you?");
  // Without a prompt the first token starts the text, and Llama 2's decoder strips its space.
  EXPECT_EQ(Join(Stream(*tokenizer, {}, *generated, {})), "world, how are you?");
}

TEST(IncrementalDetokenizerTest, PromptContextIsNotEmitted) {
  auto tokenizer = Load("qwen3");
  ASSERT_NE(tokenizer, nullptr);
  auto prompt = tokenizer->Encode("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", false);
  auto generated = tokenizer->Encode("你好！😀 How can I help?<|im_end|>", false);
  ASSERT_TRUE(prompt.ok() && generated.ok());
  EXPECT_EQ(Join(Stream(*tokenizer, *prompt, *generated, {})), "你好！😀 How can I help?");
  DetokenizerOptions keep;
  keep.skip_special_tokens = false;
  EXPECT_EQ(Join(Stream(*tokenizer, *prompt, *generated, keep)), "你好！😀 How can I help?<|im_end|>");
}

TEST(IncrementalDetokenizerTest, LongGenerationMatchesDecode) {
  auto tokenizer = Load("llama3");
  ASSERT_NE(tokenizer, nullptr);
  std::string text;
  for (int i = 0; i < 400; ++i) text += "Line " + std::to_string(i) + ": naïve café 日本語 😀\n";
  auto ids = tokenizer->Encode(text, false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GT(ids->size(), 2000u);  // long enough for the history to be trimmed
  EXPECT_EQ(Join(Stream(*tokenizer, {}, *ids, {})), text);
}

TEST(IncrementalDetokenizerTest, UnknownIdsProduceNoText) {
  auto tokenizer = Load("qwen3");
  ASSERT_NE(tokenizer, nullptr);
  const std::vector<int32_t> ids = {9707, 999999, -5, 1879};
  EXPECT_EQ(Join(Stream(*tokenizer, {}, ids, {})), "Hello world");
}

// A tokenizer without a decoder joins tokens with spaces, which is where spaces_between_special_tokens shows.
constexpr char kNoDecoderTokenizer[] = R"({
  "added_tokens": [
    {"id": 3, "content": "<a>", "special": true, "normalized": false},
    {"id": 4, "content": "<b>", "special": true, "normalized": false}
  ],
  "normalizer": null, "pre_tokenizer": null, "post_processor": null, "decoder": null,
  "model": {"type": "BPE", "vocab": {"x": 0, "y": 1, "z": 2}, "merges": []}
})";

TEST(IncrementalDetokenizerTest, SpacesBetweenSpecialTokens) {
  auto tokenizer = Tokenizer::FromJson(kNoDecoderTokenizer);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const std::vector<int32_t> ids = {0, 3, 4, 1};
  DetokenizerOptions spaced;
  spaced.skip_special_tokens = false;
  EXPECT_EQ(Join(Stream(**tokenizer, {}, ids, spaced)), "x <a> <b> y");
  DetokenizerOptions tight = spaced;
  tight.spaces_between_special_tokens = false;
  EXPECT_EQ(Join(Stream(**tokenizer, {}, ids, tight)), "x <a><b> y");
  DetokenizerOptions skipped;
  EXPECT_EQ(Join(Stream(**tokenizer, {}, ids, skipped)), "x y");
}

}  // namespace
}  // namespace tessera
