// Tokenizer behaviour beyond the reference strings: loading errors, the public accessors, adversarial input (invalid
// UTF-8, NUL bytes, 1 MB texts, 200k-character runs), concurrency, and each pipeline component on small hand-written
// tokenizer.json files.
#include "common/tokenizer/tokenizer.h"

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/tokenizer/unicode_normalization.h"
#include "common/tokenizer/utf8.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<Tokenizer> Load(const std::string& name) {
  auto tokenizer = Tokenizer::FromFolder(std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/" + name);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

std::vector<int32_t> MustEncode(const Tokenizer& tokenizer, std::string_view text, bool special = false) {
  auto ids = tokenizer.Encode(text, special);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<int32_t>();
}

std::string MustDecode(const Tokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip = false) {
  auto text = tokenizer.Decode(ids, skip);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

// A small tokenizer.json: one token per character of the alphabet below plus whole words, so that tests can see how
// text was cut (ignore_merges maps a whole piece found in the vocabulary to one id).
nlohmann::json SmallTokenizer() {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (const char* token : {"a", "b", "c", "-", " ", "1", "2", "3", "x", "\xE2\x96\x81"}) vocab[token] = id++;
  for (const char* token : {"ab", "a-", "-b", "abc",
                            "\xE2\x96\x81"
                            "ab",
                            "12", "123"})
    vocab[token] = id++;
  return {
      {"added_tokens", nlohmann::json::array()},
      {"normalizer", nullptr},
      {"pre_tokenizer", nullptr},
      {"post_processor", nullptr},
      {"decoder", nullptr},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}, {"ignore_merges", true}}},
  };
}

std::unique_ptr<Tokenizer> Build(const nlohmann::json& json, const std::string& config = "") {
  auto tokenizer = Tokenizer::FromJson(json.dump(), config);
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? std::move(*tokenizer) : nullptr;
}

std::vector<std::string> Pieces(const Tokenizer& tokenizer, std::string_view text) {
  std::vector<std::string> pieces;
  for (int32_t id : MustEncode(tokenizer, text)) pieces.push_back(*tokenizer.IdToToken(id));
  return pieces;
}

TEST(TokenizerTest, AccessorsFollowTokenizerFiles) {
  auto qwen = Load("qwen3");
  ASSERT_NE(qwen, nullptr);
  EXPECT_EQ(qwen->vocab_size(), 151669);
  EXPECT_EQ(qwen->TokenToId("<|im_end|>"), 151645);
  EXPECT_EQ(qwen->TokenToId("Hello"), 9707);
  EXPECT_EQ(qwen->IdToToken(9707), "Hello");
  EXPECT_EQ(qwen->IdToToken(151645), "<|im_end|>");
  EXPECT_EQ(qwen->IdToToken(10'000'000), std::nullopt);
  EXPECT_EQ(qwen->TokenToId("no such token"), std::nullopt);
  EXPECT_TRUE(qwen->IsSpecial(151645));
  EXPECT_FALSE(qwen->IsSpecial(*qwen->TokenToId("<think>")));  // an added token that is not special
  EXPECT_TRUE(qwen->IsAddedToken(*qwen->TokenToId("<think>")));
  EXPECT_FALSE(qwen->IsSpecial(9707));
  EXPECT_EQ(qwen->bos_token_id(), std::nullopt);
  EXPECT_EQ(qwen->eos_token_id(), 151645);

  auto llama2 = Load("llama2");
  ASSERT_NE(llama2, nullptr);
  EXPECT_EQ(llama2->bos_token_id(), 1);
  EXPECT_EQ(llama2->eos_token_id(), 2);
  EXPECT_EQ(llama2->vocab_size(), 32000);

  auto deepseek = Load("deepseek_v3");
  ASSERT_NE(deepseek, nullptr);
  EXPECT_EQ(deepseek->bos_token_id(), 0);
  EXPECT_EQ(deepseek->eos_token_id(), 1);
}

TEST(TokenizerTest, LoadsTinyTokenizerFromFileAndFolder) {
  const std::string dir = std::string(TESSERA_FIXTURES_DIR) + "/tiny-tokenizer";
  auto from_file = Tokenizer::FromFile(dir + "/tokenizer.json", dir + "/tokenizer_config.json");
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  auto from_folder = Tokenizer::FromFolder(std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-qwen3");
  ASSERT_TRUE(from_folder.ok()) << from_folder.status();
  const std::string text = "<|im_start|>user\nHello, tiny model! 你好<|im_end|>";
  const auto ids = MustEncode(**from_file, text);
  EXPECT_EQ(ids, MustEncode(**from_folder, text));
  EXPECT_EQ(ids.front(), 1);  // <|im_start|>
  EXPECT_EQ(ids.back(), 2);   // <|im_end|>
  EXPECT_EQ(MustDecode(**from_file, ids), text);
  EXPECT_EQ((*from_file)->eos_token_id(), 2);
  EXPECT_EQ((*from_file)->bos_token_id(), std::nullopt);
  // Without tokenizer_config.json there is no bos/eos information, but encoding is the same.
  auto bare = Tokenizer::FromFile(dir + "/tokenizer.json");
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_EQ((*bare)->eos_token_id(), std::nullopt);
  EXPECT_EQ(MustEncode(**bare, text), ids);
}

TEST(TokenizerTest, LoadErrorsAreClear) {
  auto missing = Tokenizer::FromFolder("/nonexistent/model");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/model"));

  auto bad_json = Tokenizer::FromJson("{not json", "", "broken.json");
  EXPECT_EQ(bad_json.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_json.status().message(), HasSubstr("broken.json"));

  auto bad_config = Tokenizer::FromJson(SmallTokenizer().dump(), "[1, 2");
  EXPECT_THAT(bad_config.status().message(), HasSubstr("tokenizer_config.json"));

  const std::vector<std::pair<std::string, nlohmann::json>> unsupported = {
      {"model", {{"type", "WordPiece"}, {"vocab", nlohmann::json::object()}}},
      {"normalizer", {{"type", "BertNormalizer"}}},
      {"pre_tokenizer", {{"type", "UnicodeScripts"}}},
      {"decoder", {{"type", "CTC"}}},
      {"post_processor", {{"type", "FancyProcessing"}}},
  };
  for (const auto& [field, component] : unsupported) {
    nlohmann::json json = SmallTokenizer();
    json[field] = component;
    auto tokenizer = Tokenizer::FromJson(json.dump());
    ASSERT_FALSE(tokenizer.ok()) << field;
    EXPECT_EQ(tokenizer.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(tokenizer.status().message(), HasSubstr(component["type"].get<std::string>()));
  }

  nlohmann::json bad_merge = SmallTokenizer();
  bad_merge["model"]["merges"] = {"a zz"};
  EXPECT_THAT(Tokenizer::FromJson(bad_merge.dump()).status().message(), HasSubstr("merges[0]"));

  for (const nlohmann::json& merges : {nlohmann::json{{1, 2}}, nlohmann::json{"a b c"}, nlohmann::json{"ab"}}) {
    nlohmann::json malformed = SmallTokenizer();
    malformed["model"]["merges"] = merges;
    EXPECT_THAT(Tokenizer::FromJson(malformed.dump()).status().message(), HasSubstr("merges")) << merges.dump();
  }
  nlohmann::json bad_id = SmallTokenizer();
  bad_id["model"]["vocab"]["q"] = "seven";
  EXPECT_THAT(Tokenizer::FromJson(bad_id.dump()).status().message(), HasSubstr("vocab"));

  nlohmann::json bad_regex = SmallTokenizer();
  bad_regex["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  EXPECT_THAT(Tokenizer::FromJson(bad_regex.dump()).status().message(), HasSubstr("(unclosed"));

  nlohmann::json wrong_type = SmallTokenizer();
  wrong_type["added_tokens"] = {{{"id", "seven"}, {"content", "<x>"}}};
  EXPECT_EQ(Tokenizer::FromJson(wrong_type.dump()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenizerTest, InvalidUtf8IsReplacedLikeRustFromUtf8Lossy) {
  EXPECT_EQ(tok::RepairUtf8("a\xFF"
                            "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(tok::RepairUtf8("\xE4\xBD"), "\xEF\xBF\xBD");                              // truncated: one replacement
  EXPECT_EQ(tok::RepairUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: one per byte
  EXPECT_EQ(tok::RepairUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(tok::RepairUtf8("\xF0\x9F\x98"), "\xEF\xBF\xBD");
  EXPECT_EQ(tok::RepairUtf8("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");

  for (const std::string name : {"qwen3", "llama2"}) {
    auto tokenizer = Load(name);
    ASSERT_NE(tokenizer, nullptr);
    const std::string invalid = "caf\xC3 \xFF\xFE text \xE4\xBD";
    EXPECT_EQ(MustEncode(*tokenizer, invalid), MustEncode(*tokenizer, tok::RepairUtf8(invalid))) << name;
    EXPECT_EQ(MustDecode(*tokenizer, MustEncode(*tokenizer, invalid)),
              "caf\xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD text \xEF\xBF\xBD")
        << name;
  }
}

TEST(TokenizerTest, NulBytesRoundTrip) {
  for (const std::string name : {"qwen3", "llama3", "deepseek_v3", "llama2"}) {
    auto tokenizer = Load(name);
    ASSERT_NE(tokenizer, nullptr);
    const std::string text("a\0b \0\0 <|im_end|>\0", 19);
    const auto ids = MustEncode(*tokenizer, text);
    EXPECT_FALSE(ids.empty());
    EXPECT_EQ(MustDecode(*tokenizer, ids), text) << name;
  }
}

TEST(TokenizerTest, MegabyteInputsRoundTrip) {
  for (const std::string name : {"qwen3", "llama3", "deepseek_v3", "llama2"}) {
    auto tokenizer = Load(name);
    ASSERT_NE(tokenizer, nullptr);
    std::string text;
    uint32_t state = 12345;
    const char* words[] = {"the ", "tokenizer ", "你好", "，",    "世界 ",    "naïve ", "😀",
                           "\n",   "  ",         "42",   "x=y; ", "Ünïcödé ", "\t",     "<think>"};
    while (text.size() < (1 << 20)) {
      state = state * 1103515245 + 12345;
      text += words[(state >> 16) % 14];
    }
    const auto ids = MustEncode(*tokenizer, text);
    EXPECT_GT(ids.size(), 100000u);
    EXPECT_EQ(MustDecode(*tokenizer, ids), text) << name;
  }
}

TEST(TokenizerTest, LongRunsOfOneCharacterFinishAndRoundTrip) {
  // A quadratic merge would take minutes on these; the priority-queue merge takes milliseconds.
  for (const std::string name : {"qwen3", "llama3", "llama2"}) {
    auto tokenizer = Load(name);
    ASSERT_NE(tokenizer, nullptr);
    for (const std::string unit : {"a", " ", "\xE4\xBD\xA0", "7", "!"}) {
      std::string text;
      for (int i = 0; i < 200000; ++i) text += unit;
      const auto ids = MustEncode(*tokenizer, text);
      EXPECT_LE(ids.size(), text.size() + 1) << name;  // digits stay single in Qwen 3; Llama 2 adds "▁"
      EXPECT_EQ(MustDecode(*tokenizer, ids), text) << name << " run of '" << unit << "'";
    }
  }
}

TEST(TokenizerTest, ConcurrentEncodeAndDecodeGiveSerialResults) {
  auto tokenizer = Load("qwen3");
  ASSERT_NE(tokenizer, nullptr);
  std::vector<std::string> texts;
  for (int i = 0; i < 64; ++i) {
    texts.push_back("request " + std::to_string(i) + ": 你好，世界! naïve café <|im_end|> " + std::string(i, 'z'));
  }
  std::vector<std::vector<int32_t>> expected;
  for (const auto& text : texts) expected.push_back(MustEncode(*tokenizer, text));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          auto ids = tokenizer->Encode(texts[i], false);
          auto text = tokenizer->Decode(expected[i], false);
          if (!ids.ok() || *ids != expected[i] || !text.ok() || *text != texts[i]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

TEST(TokenizerTest, DecodeSkipsUnknownIds) {
  auto tokenizer = Load("qwen3");
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_EQ(MustDecode(*tokenizer, {9707, -1, 151900, 1879}), "Hello world");
}

TEST(TokenizerTest, AddedTokensHonorStripAndSingleWord) {
  nlohmann::json json = SmallTokenizer();
  json["added_tokens"] = {
      {{"id", 100}, {"content", "<L>"}, {"lstrip", true}, {"special", true}, {"normalized", false}},
      {{"id", 101}, {"content", "<R>"}, {"rstrip", true}, {"special", true}, {"normalized", false}},
      {{"id", 102}, {"content", "cab"}, {"single_word", true}, {"special", false}, {"normalized", false}},
      {{"id", 103}, {"content", "<R><R>"}, {"special", true}, {"normalized", false}},
  };
  auto tokenizer = Build(json);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(MustEncode(*tokenizer, "a  <L>b"), ElementsAre(0, 100, 1));
  EXPECT_THAT(MustEncode(*tokenizer, "a<R>  b"), ElementsAre(0, 101, 1));
  EXPECT_THAT(MustEncode(*tokenizer, "a cab b"), ElementsAre(0, 4, 102, 4, 1));
  // Inside a word a single_word token is not matched.
  EXPECT_THAT(MustEncode(*tokenizer, "acab"), ElementsAre(0, 2, 0, 1));
  // Leftmost-longest: "<R><R>" wins over two "<R>".
  EXPECT_THAT(MustEncode(*tokenizer, "<R><R>"), ElementsAre(103));
  EXPECT_EQ(MustDecode(*tokenizer, {0, 100, 1}, /*skip=*/true), "a b");
}

TEST(TokenizerTest, SplitBehaviors) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"Isolated", {"a", "-", "b"}},   {"Removed", {"a", "b"}},         {"MergedWithPrevious", {"a-", "b"}},
      {"MergedWithNext", {"a", "-b"}}, {"Contiguous", {"a", "-", "b"}},
  };
  for (const auto& [behavior, pieces] : cases) {
    nlohmann::json json = SmallTokenizer();
    json["pre_tokenizer"] = {
        {"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}};
    auto tokenizer = Build(json);
    ASSERT_NE(tokenizer, nullptr);
    EXPECT_EQ(Pieces(*tokenizer, "a-b"), pieces) << behavior;
  }
  // invert keeps the matches as the pieces and treats the rest as delimiters.
  nlohmann::json json = SmallTokenizer();
  json["pre_tokenizer"] = {
      {"type", "Split"}, {"pattern", {{"Regex", "[ab]+"}}}, {"behavior", "Removed"}, {"invert", true}};
  auto inverted = Build(json);
  ASSERT_NE(inverted, nullptr);
  EXPECT_EQ(Pieces(*inverted, "ab--ab-c"), (std::vector<std::string>{"ab", "ab"}));
}

TEST(TokenizerTest, DigitsAndMetaspacePreTokenizers) {
  nlohmann::json json = SmallTokenizer();
  json["pre_tokenizer"] = {{"type", "Digits"}, {"individual_digits", false}};
  auto grouped = Build(json);
  ASSERT_NE(grouped, nullptr);
  EXPECT_EQ(Pieces(*grouped, "ab123"), (std::vector<std::string>{"ab", "123"}));
  json["pre_tokenizer"]["individual_digits"] = true;
  auto individual = Build(json);
  ASSERT_NE(individual, nullptr);
  EXPECT_EQ(Pieces(*individual, "ab123"), (std::vector<std::string>{"ab", "1", "2", "3"}));

  const std::string meta = "\xE2\x96\x81";
  json["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", meta}, {"prepend_scheme", "always"}, {"split", true}};
  json["decoder"] = {{"type", "Metaspace"}, {"replacement", meta}, {"prepend_scheme", "always"}, {"split", true}};
  auto metaspace = Build(json);
  ASSERT_NE(metaspace, nullptr);
  EXPECT_EQ(Pieces(*metaspace, "ab ab"), (std::vector<std::string>{meta + "ab", meta + "ab"}));
  EXPECT_EQ(MustDecode(*metaspace, MustEncode(*metaspace, "ab ab")), "ab ab");
  // prepend_scheme "first" adds the replacement only at the start of the input, not after an added token.
  json["pre_tokenizer"]["prepend_scheme"] = "first";
  json["added_tokens"] = {{{"id", 50}, {"content", "<s>"}, {"special", true}, {"normalized", false}}};
  auto first = Build(json);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(Pieces(*first, "ab<s>ab"), (std::vector<std::string>{meta + "ab", "<s>", "ab"}));
}

TEST(TokenizerTest, NormalizersAndDecoders) {
  nlohmann::json json = SmallTokenizer();
  json["normalizer"] = {{"type", "Sequence"},
                        {"normalizers",
                         {{{"type", "Lowercase"}},
                          {{"type", "Replace"}, {"pattern", {{"Regex", "x+"}}}, {"content", "c"}},
                          {{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
                          {{"type", "Prepend"}, {"prepend", "a"}}}}};
  json["decoder"] = {{"type", "Sequence"},
                     {"decoders",
                      {{{"type", "Replace"}, {"pattern", {{"String", "c"}}}, {"content", "C"}},
                       {{"type", "Fuse"}},
                       {{"type", "Strip"}, {"content", "a"}, {"start", 1}, {"stop", 1}}}}};
  auto tokenizer = Build(json);
  ASSERT_NE(tokenizer, nullptr);
  // " AbXX " -> lowercase "  abxx " -> "abc" after replace and strip -> "aabc" after prepend.
  EXPECT_EQ(Pieces(*tokenizer, " AbXX "), (std::vector<std::string>{"a", "a", "b", "c"}));
  EXPECT_EQ(MustDecode(*tokenizer, MustEncode(*tokenizer, " AbXX ")), "abC");
}

TEST(TokenizerTest, ByteFallbackDecodesInvalidBytesAsReplacementPerByte) {
  auto tokenizer = Load("llama2");
  ASSERT_NE(tokenizer, nullptr);
  const int32_t f0 = *tokenizer->TokenToId("<0xF0>");
  const int32_t hi = *tokenizer->TokenToId("\xE2\x96\x81Hi");
  EXPECT_EQ(MustDecode(*tokenizer, {hi, f0, f0, hi}), "Hi\xEF\xBF\xBD\xEF\xBF\xBD Hi");
  // Characters missing from the vocabulary are encoded as their bytes.
  const auto ids = MustEncode(*tokenizer, "\xF0\x9F\xA6\x80");  // U+1F980
  EXPECT_GE(ids.size(), 4u);
  EXPECT_EQ(MustDecode(*tokenizer, ids), "\xF0\x9F\xA6\x80");
}

TEST(TokenizerTest, ConfigBosEosApplyWithoutPostProcessor) {
  nlohmann::json json = SmallTokenizer();
  json["added_tokens"] = {{{"id", 50}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
                          {{"id", 51}, {"content", "</s>"}, {"special", true}, {"normalized", false}}};
  const std::string config = R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>", "add_bos_token": true,
                                 "add_eos_token": true})";
  auto tokenizer = Build(json, config);
  ASSERT_NE(tokenizer, nullptr);
  EXPECT_THAT(MustEncode(*tokenizer, "ab", true), ElementsAre(50, 10, 51));
  EXPECT_THAT(MustEncode(*tokenizer, "ab", false), ElementsAre(10));
  // A post-processor in tokenizer.json takes precedence over the config flags.
  json["post_processor"] = {{"type", "RobertaProcessing"}, {"sep", {"</s>", 51}}, {"cls", {"<s>", 50}}};
  auto roberta = Build(json, R"({"bos_token": "<s>", "add_bos_token": false})");
  ASSERT_NE(roberta, nullptr);
  EXPECT_THAT(MustEncode(*roberta, "ab", true), ElementsAre(50, 10, 51));
}

TEST(UnicodeNormalizationTest, ComposesDecomposesAndOrders) {
  using tok::NormalizationForm;
  EXPECT_EQ(tok::NormalizeUnicode("e\xCC\x81", NormalizationForm::kNFC), "\xC3\xA9");  // e + acute -> é
  EXPECT_EQ(tok::NormalizeUnicode("\xC3\xA9", NormalizationForm::kNFD), "e\xCC\x81");
  EXPECT_EQ(tok::NormalizeUnicode("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8", NormalizationForm::kNFC),
            "\xEA\xB0\x81");  // Hangul jamo -> 각
  EXPECT_EQ(tok::NormalizeUnicode("\xEA\xB0\x81", NormalizationForm::kNFD), "\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8");
  // Marks are put in canonical order: dot below (220) before dot above (230), then composed where possible.
  EXPECT_EQ(tok::NormalizeUnicode("q\xCC\x87\xCC\xA3", NormalizationForm::kNFC), "q\xCC\xA3\xCC\x87");
  EXPECT_EQ(tok::NormalizeUnicode("s\xCC\x87\xCC\xA3", NormalizationForm::kNFC), "\xE1\xB9\xA9");  // ṩ
  EXPECT_EQ(tok::NormalizeUnicode("\xEF\xBD\x86\xEF\xBD\x95\xEF\xAC\x81", NormalizationForm::kNFKC), "fufi");
  EXPECT_EQ(tok::NormalizeUnicode("\xEF\xAC\x81", NormalizationForm::kNFC), "\xEF\xAC\x81");  // ﬁ is NFC-stable
  EXPECT_EQ(tok::NormalizeUnicode("\xE2\x84\xAB", NormalizationForm::kNFC), "\xC3\x85");      // Angstrom sign -> Å
  EXPECT_EQ(tok::NormalizeUnicode("\xCC\x81x", NormalizationForm::kNFC), "\xCC\x81x");        // leading mark stays
  EXPECT_TRUE(tok::IsQuickNormalized("plain ascii and 你好", NormalizationForm::kNFC));
  EXPECT_EQ(tok::ToLowercase("\xC3\x84"
                             "BC \xC4\xB0"),
            "\xC3\xA4"
            "bc i\xCC\x87");
}

}  // namespace
}  // namespace tessera
