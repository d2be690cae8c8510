// Shared pieces of the libFuzzer targets: the real tokenizers and chat templates they exercise (loaded once per
// process) and the layout of their inputs, which make_fuzz_seeds.cc writes seeds for.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/tokenizer/tokenizer.h"

namespace tessera::fuzz {

// Tokenizers in the order an input's selector byte picks them (selector & 3).
inline constexpr std::array<std::string_view, 4> kTokenizerNames = {"qwen3", "llama3", "deepseek_v3", "llama2"};
// Models whose tokenizer_config.json carries a chat template (llama2's has none); selector % 3 picks one.
inline constexpr std::array<std::string_view, 3> kTemplateModels = {"qwen3", "llama3", "deepseek_v3"};

inline std::string TokenizerDir(std::string_view name) {
  return std::string(TESSERA_FUZZ_TOKENIZERS_DIR) + "/" + std::string(name);
}

// A fuzzer without its tokenizers cannot test anything, so a load failure stops the run loudly.
inline const Tokenizer& LoadedTokenizer(size_t index) {
  static const auto* tokenizers = [] {
    auto* loaded = new std::array<std::unique_ptr<Tokenizer>, kTokenizerNames.size()>();
    for (size_t i = 0; i < kTokenizerNames.size(); ++i) {
      auto tokenizer = Tokenizer::FromFolder(TokenizerDir(kTokenizerNames[i]));
      if (!tokenizer.ok()) {
        std::fprintf(stderr, "fuzz: cannot load tokenizer %s: %s\n", std::string(kTokenizerNames[i]).c_str(),
                     std::string(tokenizer.status().message()).c_str());
        std::abort();
      }
      (*loaded)[i] = std::move(*tokenizer);
    }
    return loaded;
  }();
  return *(*tokenizers)[index % kTokenizerNames.size()];
}

// Reports a broken invariant as a crash, with the reason, so libFuzzer saves the input.
#define FUZZ_CHECK(condition, message)                                                 \
  do {                                                                                 \
    if (!(condition)) {                                                                \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s)\n", #condition, (message)); \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

// Decode inputs carry ids as 4-byte little-endian words. The top two bits choose how a word becomes an id, so
// that in-vocabulary ids (the common case), ids around the end of the vocabulary and any int32 (negative, huge)
// all occur: 0 or 1 -> word % vocab_size, 2 -> vocab_size - 128 + (word & 0xff), 3 -> the word as int32.
inline int32_t IdFromWord(uint32_t word, int32_t vocab_size) {
  switch (word >> 30) {
    case 0:
    case 1:
      return static_cast<int32_t>((word & 0x7fffffffu) % static_cast<uint32_t>(vocab_size));
    case 2:
      return vocab_size - 128 + static_cast<int32_t>(word & 0xff);
    default:
      return static_cast<int32_t>(word);
  }
}

inline uint32_t ReadWord(const uint8_t* bytes) {
  return static_cast<uint32_t>(bytes[0]) | static_cast<uint32_t>(bytes[1]) << 8 |
         static_cast<uint32_t>(bytes[2]) << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

}  // namespace tessera::fuzz
