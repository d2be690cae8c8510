// Fuzzes the Jinja2 interpreter with arbitrary template source rendered against a fixed chat context (messages
// with every role, tool calls, tools, special tokens and kwargs). Any outcome is fine except a crash, a sanitizer
// report or a hang: syntax and runtime errors must come back as Status values.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/chat_template/chat_template.h"
#include "nlohmann/json.hpp"

namespace {

const nlohmann::ordered_json& FixedContext() {
  static const auto* context = new nlohmann::ordered_json(nlohmann::ordered_json::parse(R"json({
    "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": null,
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi <think>x</think> 你好"},
      {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHello!",
       "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
      {"role": "tool", "content": "{\"temp\": 21}"},
      {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
    "documents": null,
    "add_generation_prompt": true,
    "enable_thinking": false,
    "numbers": [3, 1.5, -2, 0], "flag": true, "nested": {"a": {"b": [1, {"c": "d"}]}}
  })json"));
  return *context;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  auto parsed = tessera::ChatTemplate::Parse(source);
  if (!parsed.ok()) return 0;
  (void)parsed->Render(FixedContext());
  return 0;
}
