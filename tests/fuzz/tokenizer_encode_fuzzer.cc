// Fuzzes Tokenizer::Encode with arbitrary bytes (invalid UTF-8, NULs, special-token fragments) on the real
// tokenizers. Input: one selector byte (bits 0-1: tokenizer, bit 2: add_special_tokens), then the text.
// Invariants: encoding never fails, every id is in the vocabulary, and the ids decode to valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/tokenizer/utf8.h"
#include "tests/fuzz/fuzz_inputs.h"

// Loading the tokenizers takes seconds under ASan; doing it here keeps it out of the per-input -timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (size_t i = 0; i < tessera::fuzz::kTokenizerNames.size(); ++i) tessera::fuzz::LoadedTokenizer(i);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera;
  if (size < 1) return 0;
  const Tokenizer& tokenizer = fuzz::LoadedTokenizer(data[0] & 3);
  const bool add_special_tokens = (data[0] & 4) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);

  auto ids = tokenizer.Encode(text, add_special_tokens);
  FUZZ_CHECK(ids.ok(), std::string(ids.status().message()).c_str());
  for (int32_t id : *ids) FUZZ_CHECK(id >= 0 && id < tokenizer.vocab_size(), "id outside the vocabulary");

  for (bool skip_special_tokens : {false, true}) {
    auto decoded = tokenizer.Decode(*ids, skip_special_tokens);
    FUZZ_CHECK(decoded.ok(), std::string(decoded.status().message()).c_str());
    FUZZ_CHECK(tok::IsValidUtf8(*decoded), "decoded text is not valid UTF-8");
  }
  return 0;
}
