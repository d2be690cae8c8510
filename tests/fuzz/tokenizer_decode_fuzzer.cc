// Fuzzes decoding arbitrary id sequences (in range, at the vocabulary's end, negative, huge) with Decode and with
// the streaming IncrementalDetokenizer on the real tokenizers.
// Input: selector byte (bits 0-1: tokenizer, bit 2: skip_special_tokens, bit 3: stream instead of Decode,
// bit 4: spaces_between_special_tokens), a byte giving how many leading ids are the prompt, then 4-byte id words
// (see fuzz::IdFromWord). Invariants: no error, every delta and every decoded text is valid UTF-8, and the
// detokenizer's text() is the concatenation of its deltas.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/tokenizer/incremental_detokenizer.h"
#include "common/tokenizer/utf8.h"
#include "tests/fuzz/fuzz_inputs.h"

// Loading the tokenizers takes seconds under ASan; doing it here keeps it out of the per-input -timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (size_t i = 0; i < tessera::fuzz::kTokenizerNames.size(); ++i) tessera::fuzz::LoadedTokenizer(i);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tessera;
  if (size < 2) return 0;
  const Tokenizer& tokenizer = fuzz::LoadedTokenizer(data[0] & 3);
  const bool skip_special_tokens = (data[0] & 4) != 0;
  const bool stream = (data[0] & 8) != 0;
  std::vector<int32_t> ids;
  for (size_t pos = 2; pos + 4 <= size; pos += 4)
    ids.push_back(fuzz::IdFromWord(fuzz::ReadWord(data + pos), tokenizer.vocab_size()));

  if (!stream) {
    auto decoded = tokenizer.Decode(ids, skip_special_tokens);
    FUZZ_CHECK(decoded.ok(), std::string(decoded.status().message()).c_str());
    FUZZ_CHECK(tok::IsValidUtf8(*decoded), "Decode returned invalid UTF-8");
    return 0;
  }

  const size_t prompt_length = std::min<size_t>(data[1], ids.size());
  DetokenizerOptions options;
  options.skip_special_tokens = skip_special_tokens;
  options.spaces_between_special_tokens = (data[0] & 16) != 0;
  IncrementalDetokenizer detokenizer(tokenizer, absl::MakeConstSpan(ids.data(), prompt_length), options);
  std::string joined;
  for (size_t i = prompt_length; i < ids.size(); ++i) {
    auto delta = detokenizer.Step(ids[i]);
    FUZZ_CHECK(delta.ok(), std::string(delta.status().message()).c_str());
    FUZZ_CHECK(tok::IsValidUtf8(*delta), "a streamed delta splits a UTF-8 character");
    joined += *delta;
  }
  auto rest = detokenizer.Flush();
  FUZZ_CHECK(rest.ok(), std::string(rest.status().message()).c_str());
  FUZZ_CHECK(tok::IsValidUtf8(*rest), "the flushed rest is not valid UTF-8");
  joined += *rest;
  FUZZ_CHECK(joined == detokenizer.text(), "text() differs from the concatenated deltas");
  return 0;
}
