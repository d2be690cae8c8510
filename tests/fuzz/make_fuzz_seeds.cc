// Writes the seed corpora of the fuzz targets into OUT_DIR/<target>/: the golden strings and ids of
// tests/fixtures/golden_text.json, the golden conversations, the real chat templates and the Jinja parity cases,
// each in the input layout its target reads (see fuzz_inputs.h).
// Usage: make_fuzz_seeds OUT_DIR
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_inputs.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

bool ReadJson(const fs::path& path, ordered_json* out) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  *out = ordered_json::parse(contents.str(), nullptr, /*allow_exceptions=*/false);
  if (!in || out->is_discarded()) {
    std::fprintf(stderr, "make_fuzz_seeds: cannot read JSON from %s\n", path.c_str());
    return false;
  }
  return true;
}

class SeedWriter {
 public:
  SeedWriter(const fs::path& dir) : dir_(dir) { fs::create_directories(dir_); }
  void Write(const std::string& bytes) {
    char name[32];
    std::snprintf(name, sizeof(name), "seed_%05d", count_++);
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
  }
  int count() const { return count_; }

 private:
  fs::path dir_;
  int count_ = 0;
};

std::string IdWords(const ordered_json& ids) {
  std::string words;
  for (const auto& id : ids) {
    const uint32_t word = static_cast<uint32_t>(id.get<int64_t>());  // < vocab_size, so IdFromWord keeps it
    for (int shift = 0; shift < 32; shift += 8) words.push_back(static_cast<char>((word >> shift) & 0xff));
  }
  return words;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path fixtures = TESSERA_FIXTURES_DIR;
  ordered_json golden;
  if (!ReadJson(fixtures / "golden_text.json", &golden)) return 1;

  SeedWriter encode(out / "tokenizer_encode_fuzzer");
  SeedWriter decode(out / "tokenizer_decode_fuzzer");
  for (size_t t = 0; t < tessera::fuzz::kTokenizerNames.size(); ++t) {
    const ordered_json& cases = golden["tokenizers"][std::string(tessera::fuzz::kTokenizerNames[t])];
    for (size_t i = 0; i < cases.size(); ++i) {
      const char add_special = static_cast<char>(t | ((i & 1) << 2));
      encode.Write(std::string(1, add_special) + cases[i]["text"].get<std::string>());
      // Alternate Decode and streaming, skip_special_tokens and spaces_between_special_tokens; two prompt ids.
      const char selector = static_cast<char>(t | ((i & 1) << 2) | ((i & 2) << 2) | ((i & 4) << 2));
      decode.Write(std::string(1, selector) + std::string(1, '\x02') + IdWords(cases[i]["ids_with_special"]));
    }
  }

  SeedWriter source(out / "chat_template_source_fuzzer");
  SeedWriter messages(out / "chat_template_messages_fuzzer");
  for (size_t m = 0; m < tessera::fuzz::kTemplateModels.size(); ++m) {
    const std::string name(tessera::fuzz::kTemplateModels[m]);
    ordered_json config;
    if (!ReadJson(fs::path(TESSERA_FUZZ_TOKENIZERS_DIR) / name / "tokenizer_config.json", &config)) return 1;
    if (config.contains("chat_template") && config["chat_template"].is_string())
      source.Write(config["chat_template"].get<std::string>());
    for (const auto& conversation : golden["chat_templates"][name]) {
      ordered_json request = {{"messages", conversation["messages"]}};
      for (const auto& [key, value] : conversation["kwargs"].items()) request[key] = value;
      const char selector = static_cast<char>(m | (conversation["add_generation_prompt"].get<bool>() ? 4 : 0));
      messages.Write(std::string(1, selector) + request.dump());
    }
  }
  ordered_json jinja_cases;
  if (!ReadJson(fixtures / "../unit/common/chat_template/jinja_cases.json", &jinja_cases)) return 1;
  for (const auto& jinja_case : jinja_cases) source.Write(jinja_case["template"].get<std::string>());

  std::printf("make_fuzz_seeds: %d encode, %d decode, %d template source, %d template messages seeds in %s\n",
              encode.count(), decode.count(), source.count(), messages.count(), out.c_str());
  return 0;
}
