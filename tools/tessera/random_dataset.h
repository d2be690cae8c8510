// The synthetic "random" dataset of the benchmarks (`bench throughput`, `bench serve`), as vLLM's: prompts of random
// token ids whose lengths are drawn around --random-input-len, and output lengths drawn around --random-output-len,
// both within the --random-range-ratio band, reproducible from --seed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/tokenizer/tokenizer.h"

namespace tessera::cli {

struct RandomDatasetOptions {
  int input_len = 1024;
  int output_len = 128;
  int num_prompts = 1000;
  double range_ratio = 0.0;  // lengths are drawn from [len*(1-r), len*(1+r)]; 0 keeps them fixed
  uint64_t seed = 0;
};

struct RandomRequest {
  std::vector<int32_t> prompt_token_ids;
  int output_len = 0;
};

// The [low, high] band a length is drawn from (floor and ceil of the ratio bounds, at least 1), as vLLM.
struct LengthBand {
  int low = 1;
  int high = 1;
};
LengthBand LengthBandOf(int length, double range_ratio);

// Prompt ids drawn uniformly from `token_pool` (every id in [0, vocab_size) when the pool is empty).
std::vector<RandomRequest> RandomRequests(const RandomDatasetOptions& options, int32_t vocab_size,
                                          const std::vector<int32_t>& token_pool = {});

// A random request turned into text for an HTTP/text API: its ids (drawn from the tokenizer's plain tokens that
// decode to whole characters) are decoded, and the text is re-encoded and trimmed or padded until it encodes to the
// drawn length again, since a string of N random tokens often re-tokenizes to a different count.
struct TextRequest {
  std::string prompt;
  int prompt_len = 0;  // tokens of `prompt` without special tokens, plus those the server's tokenizer adds
  int output_len = 0;
};

// `add_special_tokens_len` is what the tokenizer adds to a prompt (a BOS, say); vLLM subtracts it from the drawn
// length so that the server sees --random-input-len tokens.
absl::StatusOr<std::vector<TextRequest>> RandomTextRequests(const RandomDatasetOptions& options,
                                                            const Tokenizer& tokenizer);

// Ids a random prompt may use: every id of the tokenizer that is neither special nor an added token.
std::vector<int32_t> PlainTokenIds(const Tokenizer& tokenizer);

// How many tokens the tokenizer adds around a text with add_special_tokens (BOS/EOS of its post-processor).
absl::StatusOr<int> SpecialTokensAdded(const Tokenizer& tokenizer);

}  // namespace tessera::cli
