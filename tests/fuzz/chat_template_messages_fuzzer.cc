// Fuzzes the real chat templates of Qwen3, Llama 3 and DeepSeek-V3 with arbitrary request JSON, then tokenizes the
// rendered prompt as the engine does. Input: one selector byte (selector % 3: model, bit 2: add_generation_prompt),
// then JSON: an object {"messages": ..., "tools": ..., other keys become template kwargs}, or a bare messages value.
// Malformed conversations must fail with a Status (or render), never crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/chat_template/chat_template.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_inputs.h"

namespace {

struct LoadedTemplate {
  tessera::ModelChatTemplate model;
  tessera::ChatTemplate parsed;
};

const LoadedTemplate& Template(size_t index) {
  static const auto* templates = [] {
    auto* loaded = new std::vector<LoadedTemplate>();
    for (std::string_view name : tessera::fuzz::kTemplateModels) {
      auto model = tessera::LoadModelChatTemplate(tessera::fuzz::TokenizerDir(name));
      FUZZ_CHECK(model.ok(), std::string(model.status().message()).c_str());
      auto parsed = tessera::ChatTemplate::Parse(model->source);
      FUZZ_CHECK(parsed.ok(), std::string(parsed.status().message()).c_str());
      loaded->push_back({std::move(*model), std::move(*parsed)});
    }
    return loaded;
  }();
  return (*templates)[index % templates->size()];
}

// Tokenizer index of kTemplateModels[i] in kTokenizerNames: the first three coincide.
static_assert(tessera::fuzz::kTemplateModels[0] == tessera::fuzz::kTokenizerNames[0] &&
              tessera::fuzz::kTemplateModels[1] == tessera::fuzz::kTokenizerNames[1] &&
              tessera::fuzz::kTemplateModels[2] == tessera::fuzz::kTokenizerNames[2]);

}  // namespace

// Loading the tokenizers and templates takes seconds under ASan; doing it here keeps it out of the per-input -timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (size_t i = 0; i < tessera::fuzz::kTemplateModels.size(); ++i) {
    Template(i);
    tessera::fuzz::LoadedTokenizer(i);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using nlohmann::ordered_json;
  if (size < 1) return 0;
  const size_t model_index = data[0] % tessera::fuzz::kTemplateModels.size();
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  ordered_json request = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) return 0;

  tessera::ChatTemplateOptions options;
  options.add_generation_prompt = (data[0] & 4) != 0;
  ordered_json messages = request;
  if (request.is_object() && request.contains("messages")) {
    messages = request["messages"];
    for (auto& [key, value] : request.items()) {
      if (key == "tools") {
        options.tools = value;
      } else if (key != "messages") {
        options.kwargs[key] = value;
      }
    }
  }
  const LoadedTemplate& loaded = Template(model_index);
  auto rendered = loaded.parsed.Render(tessera::BuildChatTemplateContext(loaded.model, messages, options));
  if (!rendered.ok()) return 0;
  auto ids = tessera::fuzz::LoadedTokenizer(model_index).Encode(*rendered, /*add_special_tokens=*/false);
  FUZZ_CHECK(ids.ok(), std::string(ids.status().message()).c_str());
  return 0;
}
