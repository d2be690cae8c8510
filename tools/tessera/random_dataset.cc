#include "tools/tessera/random_dataset.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/json_util.h"
#include "common/status_macros.h"
#include "common/tokenizer/utf8.h"

namespace tessera::cli {

LengthBand LengthBandOf(int length, double range_ratio) {
  LengthBand band;
  band.low = std::max(1, static_cast<int>(std::floor(length * (1.0 - range_ratio))));
  band.high = std::max(band.low, static_cast<int>(std::ceil(length * (1.0 + range_ratio))));
  return band;
}

std::vector<RandomRequest> RandomRequests(const RandomDatasetOptions& options, int32_t vocab_size,
                                          const std::vector<int32_t>& token_pool) {
  std::mt19937_64 rng(options.seed);
  const int32_t pool_size = token_pool.empty() ? vocab_size : static_cast<int32_t>(token_pool.size());
  std::uniform_int_distribution<int32_t> token(0, std::max(pool_size, 1) - 1);
  const LengthBand input_band = LengthBandOf(options.input_len, options.range_ratio);
  std::uniform_int_distribution<int> input_length(input_band.low, input_band.high);
  std::vector<RandomRequest> requests(static_cast<size_t>(std::max(options.num_prompts, 0)));
  for (RandomRequest& request : requests) {
    // A zero ratio draws no length, so fixed-length prompts stay the same for a seed whatever the band code does.
    request.prompt_token_ids.resize(
        static_cast<size_t>(options.range_ratio > 0.0 ? input_length(rng) : options.input_len));
    for (int32_t& id : request.prompt_token_ids) {
      const int32_t index = token(rng);
      id = token_pool.empty() ? index : token_pool[static_cast<size_t>(index)];
    }
  }
  // Output lengths come after every prompt so that adding them left the prompts of a seed unchanged.
  const LengthBand output_band = LengthBandOf(options.output_len, options.range_ratio);
  std::uniform_int_distribution<int> output_length(output_band.low, output_band.high);
  for (RandomRequest& request : requests) {
    request.output_len = options.range_ratio > 0.0 ? output_length(rng) : options.output_len;
  }
  return requests;
}

std::vector<int32_t> PlainTokenIds(const Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  ids.reserve(static_cast<size_t>(tokenizer.vocab_size()));
  for (int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (tokenizer.IsSpecial(id) || tokenizer.IsAddedToken(id) || tokenizer.TokenString(id) == nullptr) continue;
    ids.push_back(id);
  }
  return ids;
}

absl::StatusOr<int> SpecialTokensAdded(const Tokenizer& tokenizer) {
  ASSIGN_OR_RETURN(std::vector<int32_t> with, tokenizer.Encode("a", /*add_special_tokens=*/true));
  ASSIGN_OR_RETURN(std::vector<int32_t> without, tokenizer.Encode("a", /*add_special_tokens=*/false));
  return static_cast<int>(with.size()) - static_cast<int>(without.size());
}

namespace {

// Plain tokens that stand alone as text: they decode to whole characters (valid UTF-8) and encode back to
// themselves. Prompts drawn from them decode to clean text, and padding with them never splits a character.
absl::StatusOr<std::vector<int32_t>> WholeTokenIds(const Tokenizer& tokenizer) {
  std::vector<int32_t> ids;
  for (int32_t id : PlainTokenIds(tokenizer)) {
    const int32_t single[] = {id};
    ASSIGN_OR_RETURN(std::string text, tokenizer.Decode(single, /*skip_special_tokens=*/false));
    if (text.empty() || !tok::IsValidUtf8(text)) continue;
    ASSIGN_OR_RETURN(std::vector<int32_t> again, tokenizer.Encode(text, /*add_special_tokens=*/false));
    if (again.size() == 1 && again[0] == id) ids.push_back(id);
  }
  return ids;
}

}  // namespace

absl::StatusOr<std::vector<TextRequest>> RandomTextRequests(const RandomDatasetOptions& options,
                                                            const Tokenizer& tokenizer) {
  ASSIGN_OR_RETURN(const std::vector<int32_t> pool, WholeTokenIds(tokenizer));
  if (pool.empty()) return absl::FailedPreconditionError("the tokenizer has no plain tokens that decode to text");
  ASSIGN_OR_RETURN(const int special, SpecialTokensAdded(tokenizer));
  RandomDatasetOptions text_options = options;
  text_options.input_len = options.input_len - special;
  if (text_options.input_len < 1) {
    return absl::InvalidArgumentError(CatMessage("--random-input-len ", options.input_len,
                                                 " is too small: the tokenizer adds ", special,
                                                 " special token(s) to every prompt"));
  }
  const std::vector<RandomRequest> drawn = RandomRequests(text_options, tokenizer.vocab_size(), pool);

  // Padding tokens have their own stream, so that the prompts of a seed do not depend on how the re-encoding went.
  std::mt19937_64 rng(options.seed ^ 0x9e3779b97f4a7c15ULL);
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  std::vector<TextRequest> requests;
  requests.reserve(drawn.size());
  for (const RandomRequest& request : drawn) {
    const size_t target = request.prompt_token_ids.size();
    std::vector<int32_t> ids = request.prompt_token_ids;
    std::string text;
    std::vector<int32_t> encoded;
    // Adjacent tokens may merge or split when the text is encoded again; each round trims the overshoot (never
    // inside a character) or pads the shortfall, and a few rounds settle it.
    for (int round = 0; round < 16; ++round) {
      ASSIGN_OR_RETURN(std::string decoded, tokenizer.Decode(ids, /*skip_special_tokens=*/false));
      // Kept valid UTF-8 as the server's tokenizer (and any JSON or protobuf string) will see it, so that the
      // length measured here is the length the server counts.
      text = tok::RepairUtf8(decoded);
      ASSIGN_OR_RETURN(encoded, tokenizer.Encode(text, /*add_special_tokens=*/false));
      if (encoded.size() == target) break;
      ids = encoded;
      if (ids.size() > target) {
        ids.resize(target);
        while (!ids.empty()) {
          ASSIGN_OR_RETURN(std::string cut, tokenizer.Decode(ids, /*skip_special_tokens=*/false));
          if (tok::IsValidUtf8(cut)) break;
          ids.pop_back();
        }
      }
      while (ids.size() < target) ids.push_back(pool[pick(rng)]);
    }
    requests.push_back({std::move(text), static_cast<int>(encoded.size()) + special, request.output_len});
  }
  return requests;
}

}  // namespace tessera::cli
