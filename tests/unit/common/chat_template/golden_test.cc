// Exact parity with transformers' apply_chat_template on the real Qwen3, Llama 3 and DeepSeek-V3 templates.
#include <fstream>
#include <sstream>
#include <string>

#include "common/chat_template/chat_template.h"
#include "common/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessera {
namespace {

nlohmann::ordered_json ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return nlohmann::ordered_json::parse(buffer.str());
}

TEST(ChatTemplateGoldenTest, RendersEveryGoldenConversationExactly) {
  const nlohmann::ordered_json goldens = ReadJson(std::string(TESSERA_FIXTURES_DIR) + "/golden_text.json");
  ASSERT_TRUE(goldens.contains("chat_templates"));
  int checked = 0;
  for (const auto& [name, cases] : goldens["chat_templates"].items()) {
    const std::string dir = std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/" + name;
    auto model = LoadModelChatTemplate(dir);
    ASSERT_TRUE(model.ok()) << name << ": " << model.status();
    auto chat_template = ChatTemplate::Parse(model->source);
    ASSERT_TRUE(chat_template.ok()) << name << ": " << chat_template.status();
    auto tokenizer = Tokenizer::FromFile(dir + "/tokenizer.json", dir + "/tokenizer_config.json");
    ASSERT_TRUE(tokenizer.ok()) << name << ": " << tokenizer.status();
    for (const auto& golden : cases) {
      ChatTemplateOptions options;
      options.add_generation_prompt = golden["add_generation_prompt"].get<bool>();
      options.kwargs = golden["kwargs"];
      auto text = chat_template->Render(BuildChatTemplateContext(*model, golden["messages"], options));
      ASSERT_TRUE(text.ok()) << name << ": " << text.status();
      EXPECT_EQ(*text, golden["text"].get<std::string>())
          << name << " messages=" << golden["messages"].dump() << " kwargs=" << golden["kwargs"].dump();
      ++checked;
      // The fixture's deepseek_v3 chat ids drop the text between special tokens (e.g. {0, 128803, 128804} for a
      // Chinese user turn) and disagree with its own `tokenizers.deepseek_v3` ids for the same strings, so only
      // the text is compared there.
      if (name == "deepseek_v3") continue;
      // The rendered prompt is tokenized without adding special tokens: the template already placed them.
      auto ids = (*tokenizer)->Encode(*text, /*add_special_tokens=*/false);
      ASSERT_TRUE(ids.ok()) << name << ": " << ids.status();
      EXPECT_EQ(*ids, golden["ids"].get<std::vector<int32_t>>()) << name << " text=" << *text;
    }
  }
  EXPECT_EQ(checked, 32);
}

TEST(ChatTemplateGoldenTest, ApplyChatTemplateReadsTheModelFolder) {
  const std::string dir = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-qwen3";
  nlohmann::json messages = {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}};
  ChatTemplateOptions options;
  options.kwargs = {{"enable_thinking", false}};
  auto text = ApplyChatTemplate(dir, messages, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

TEST(ChatTemplateGoldenTest, SpecialTokensComeFromTheConfig) {
  auto llama = LoadModelChatTemplate(std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/llama3");
  ASSERT_TRUE(llama.ok()) << llama.status();
  EXPECT_EQ(llama->special_tokens["bos_token"], "<|begin_of_text|>");
  EXPECT_EQ(llama->special_tokens["eos_token"], "<|end_of_text|>");
  // DeepSeek-V3 writes its special tokens as AddedToken objects.
  auto deepseek = LoadModelChatTemplate(std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/deepseek_v3");
  ASSERT_TRUE(deepseek.ok()) << deepseek.status();
  EXPECT_EQ(deepseek->special_tokens["bos_token"], "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>");
  // Qwen3 sets no BOS token: the template sees it undefined.
  auto qwen = LoadModelChatTemplate(std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/qwen3");
  ASSERT_TRUE(qwen.ok()) << qwen.status();
  EXPECT_FALSE(qwen->special_tokens.contains("bos_token"));
  // Llama 2's config has no template at all.
  auto llama2 = LoadModelChatTemplate(std::string(TESSERA_GENERATED_FIXTURES_DIR) + "/tokenizers/llama2");
  EXPECT_EQ(llama2.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera
