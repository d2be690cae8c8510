#include "services/worker/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::engine {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Chi-square critical values at p = 1e-4, so a correct sampler fails a fixed-seed test with odds of 1 in 10,000
// at most (and, seeded, never flakes).
constexpr double kChiSquareCritical1e4[] = {0, 15.137, 18.421, 21.108, 23.513, 25.745, 27.856, 29.877};

SamplingParams Random(float temperature = 1.0f) {
  SamplingParams p;
  p.temperature = temperature;
  return p;
}

std::vector<double> Softmax(const std::vector<float>& logits, double temperature = 1.0) {
  const double max = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) total += p[i] = std::exp((logits[i] - max) / temperature);
  for (double& v : p) v /= total;
  return p;
}

std::vector<float> LogOf(const std::vector<double>& probs) {
  std::vector<float> out;
  for (double p : probs) out.push_back(static_cast<float>(std::log(p)));
  return out;
}

// Draws `draws` tokens from one fixed row and counts them.
std::vector<int> Histogram(const std::vector<float>& logits, const SamplingParams& params, int draws, uint64_t seed,
                           const SequenceSamplingState& state = {}) {
  Sampler sampler;
  std::mt19937_64 rng(seed);
  std::vector<int> counts(logits.size(), 0);
  for (int i = 0; i < draws; ++i) ++counts[sampler.Sample(logits, params, state, rng).token_id];
  return counts;
}

double ChiSquare(const std::vector<int>& counts, const std::vector<double>& probs, int draws) {
  double chi2 = 0.0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (probs[i] == 0.0) continue;
    const double expected = probs[i] * draws;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  return chi2;
}

// The set of tokens with a finite processed logprob, i.e. those the draw could pick.
std::set<int32_t> Survivors(const std::vector<float>& logits, SamplingParams params) {
  params.logprobs = -1;
  Sampler sampler({}, LogprobsMode::kProcessedLogprobs);
  std::mt19937_64 rng(0);
  SampledToken t = sampler.Sample(logits, params, {}, rng);
  std::set<int32_t> alive;
  for (const TopLogprob& e : t.logprobs->top)
    if (e.logprob > kNegInf) alive.insert(e.token_id);
  return alive;
}

TEST(SamplerTest, ArgMaxTakesTheLowestIndexOnTies) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  EXPECT_EQ(ArgMax(logits.data(), 4), 1);
}

TEST(SamplerTest, GreedyTakesArgMaxAndLeavesTheGeneratorAlone) {
  const std::vector<float> logits = {0.1f, 2.0f, 1.9f, -4.0f};
  std::mt19937_64 rng(5), untouched(5);
  Sampler sampler;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sampler.Sample(logits, SamplingParams{}, {}, rng).token_id, 1);
  EXPECT_EQ(rng, untouched);
  SamplingParams almost_zero = Random(1e-6f);  // below vLLM's _SAMPLING_EPS
  EXPECT_EQ(sampler.Sample(logits, almost_zero, {}, rng).token_id, 1);
  EXPECT_EQ(SampleToken(logits.data(), 4, SamplingParams{}, rng), 1);
}

TEST(SamplerTest, TopKOneEqualsGreedy) {
  std::mt19937_64 gen(42);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  Sampler sampler;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<float> logits(257);
    for (float& v : logits) v = normal(gen);
    SamplingParams p = Random(1.7f);
    p.top_k = 1;
    std::mt19937_64 rng(trial);
    EXPECT_EQ(sampler.Sample(logits, p, {}, rng).token_id, ArgMax(logits.data(), 257)) << "trial " << trial;
  }
}

TEST(SamplerTest, TopKKeepsTheKMostLikelyAndTies) {
  const std::vector<float> logits = {0.0f, 5.0f, 3.0f, 3.0f, 4.0f, 1.0f};
  SamplingParams p = Random();
  p.top_k = 2;
  EXPECT_EQ(Survivors(logits, p), (std::set<int32_t>{1, 4}));
  p.top_k = 3;  // token 2 and token 3 tie for third place: vLLM keeps both
  EXPECT_EQ(Survivors(logits, p), (std::set<int32_t>{1, 2, 3, 4}));
  p.top_k = -1;
  EXPECT_EQ(Survivors(logits, p).size(), logits.size());
}

TEST(SamplerTest, TopPKeepsExactlyTheNucleusIncludingTheBoundaryToken) {
  // Probabilities 0.4, 0.1, 0.3, 0.2. Sorted: 0.4 (mass before 0), 0.3 (0.4), 0.2 (0.7), 0.1 (0.9).
  const std::vector<float> logits = LogOf({0.4, 0.1, 0.3, 0.2});
  SamplingParams p = Random();
  p.top_p = 0.6f;  // token 2 crosses 0.6 and is kept, token 3 starts at 0.7 and is not
  EXPECT_EQ(Survivors(logits, p), (std::set<int32_t>{0, 2}));
  p.top_p = 0.35f;
  EXPECT_EQ(Survivors(logits, p), (std::set<int32_t>{0}));
  p.top_p = 0.85f;
  EXPECT_EQ(Survivors(logits, p), (std::set<int32_t>{0, 2, 3}));

  p.top_p = 0.6f;
  constexpr int kDraws = 10000;
  const std::vector<int> counts = Histogram(logits, p, kDraws, /*seed=*/7);
  EXPECT_EQ(counts[1], 0);
  EXPECT_EQ(counts[3], 0);
  // Inside the nucleus the draw follows the renormalized distribution (0.4 : 0.3).
  EXPECT_LT(ChiSquare(counts, {4.0 / 7, 0, 3.0 / 7, 0}, kDraws), kChiSquareCritical1e4[1]);
}

TEST(SamplerTest, TopPOnALargeFlatVocabularyMatchesAFullSort) {
  // A nucleus of hundreds of tokens exercises the incremental partial sort past its first block.
  std::mt19937_64 gen(3);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> logits(5000);
  for (float& v : logits) v = uniform(gen);
  for (float top_p : {0.05f, 0.5f, 0.9f, 0.999f}) {
    SamplingParams p = Random(0.8f);
    p.top_p = top_p;
    std::vector<int32_t> order(logits.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
    const std::vector<double> probs = Softmax(logits, 0.8);
    std::set<int32_t> expected;
    double before = 0.0;
    for (int32_t id : order) {
      if (before >= top_p) break;
      expected.insert(id);
      before += probs[id];
    }
    EXPECT_GT(expected.size(), top_p > 0.1f ? 64u : 1u);
    EXPECT_EQ(Survivors(logits, p), expected) << "top_p " << top_p;
  }
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheTopProbability) {
  const std::vector<float> logits = LogOf({0.5, 0.3, 0.15, 0.05});
  SamplingParams p = Random();
  p.min_p = 0.2f;  // threshold 0.1
  EXPECT_EQ(Survivors(logits, p), (std::set<int32_t>{0, 1, 2}));
  p.min_p = 0.5f;  // threshold 0.25
  EXPECT_EQ(Survivors(logits, p), (std::set<int32_t>{0, 1}));
  p.min_p = 1.0f;
  EXPECT_EQ(Survivors(logits, p), (std::set<int32_t>{0}));

  p.min_p = 0.2f;
  constexpr int kDraws = 10000;
  const std::vector<int> counts = Histogram(logits, p, kDraws, /*seed=*/11);
  EXPECT_EQ(counts[3], 0);
  EXPECT_LT(ChiSquare(counts, {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}, kDraws), kChiSquareCritical1e4[2]);
}

TEST(SamplerTest, TemperatureSamplingFollowsSoftmaxOfScaledLogits) {
  const std::vector<float> logits = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f, -1.0f, 1.5f, 0.2f};
  constexpr int kDraws = 10000;
  for (float temperature : {0.7f, 1.0f, 2.5f}) {
    const std::vector<int> counts = Histogram(logits, Random(temperature), kDraws, /*seed=*/1234);
    const double chi2 = ChiSquare(counts, Softmax(logits, temperature), kDraws);
    EXPECT_LT(chi2, kChiSquareCritical1e4[7]) << "temperature " << temperature;
  }
  // The test can tell distributions apart: draws at T=0.7 do not fit softmax at T=1.5.
  const std::vector<int> counts = Histogram(logits, Random(0.7f), kDraws, /*seed=*/1234);
  EXPECT_GT(ChiSquare(counts, Softmax(logits, 1.5), kDraws), kChiSquareCritical1e4[7]);
}

TEST(SamplerTest, SameSeedGivesTheSameTokensWhateverElseIsSampled) {
  std::mt19937_64 gen(9);
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::vector<std::vector<float>> rows(50, std::vector<float>(64));
  for (auto& row : rows)
    for (float& v : row) v = normal(gen);
  SamplingParams p = Random(1.0f);
  p.top_p = 0.9f;
  Sampler sampler;

  auto run = [&](uint64_t seed, bool with_neighbours) {
    std::mt19937_64 rng(seed), neighbour(seed + 1);
    SequenceSamplingState state, neighbour_state;
    std::vector<int32_t> tokens;
    for (const auto& row : rows) {
      if (with_neighbours) neighbour_state.Append(sampler.Sample(rows[0], p, neighbour_state, neighbour).token_id);
      SampledToken t = sampler.Sample(row, p, state, rng);
      state.Append(t.token_id);
      tokens.push_back(t.token_id);
    }
    return tokens;
  };
  EXPECT_EQ(run(77, false), run(77, false));
  EXPECT_EQ(run(77, false), run(77, true));
  EXPECT_NE(run(77, false), run(78, false));
}

TEST(SamplerTest, EachSampledStepConsumesExactlyOneDrawWhateverTheLogits) {
  Sampler sampler;
  std::mt19937_64 peaked(21), flat(21);
  SamplingParams p = Random(0.9f);
  p.top_k = 3;
  p.min_p = 0.1f;
  sampler.Sample(std::vector<float>{10.0f, 0.0f, 0.0f, 0.0f}, p, {}, peaked);
  sampler.Sample(std::vector<float>{0.0f, 0.0f, 0.0f, 0.0f}, p, {}, flat);
  EXPECT_EQ(peaked, flat);
  std::mt19937_64 reference(21);
  reference.discard(1);
  EXPECT_EQ(peaked, reference);
}

TEST(SamplerTest, PenaltiesGiveExactValues) {
  const std::vector<int32_t> prompt = {0, 1, 1};
  SequenceSamplingState state(prompt);
  for (int32_t t : {2, 2, 3}) state.Append(t);
  SamplingParams p = Random();
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  std::vector<float> logits = {2.0f, -2.0f, 1.0f, -1.0f, 0.5f};
  ProcessLogits(logits, p, state, {});
  EXPECT_FLOAT_EQ(logits[0], 1.0f);                 // prompt token, positive: divided
  EXPECT_FLOAT_EQ(logits[1], -4.0f);                // prompt token, negative: multiplied (once, though twice seen)
  EXPECT_FLOAT_EQ(logits[2], 0.5f - 1.0f - 0.25f);  // output twice: 1/2, then -0.5*2 - 0.25
  EXPECT_FLOAT_EQ(logits[3], -2.0f - 0.5f - 0.25f); // output once: -1*2, then -0.5 - 0.25
  EXPECT_FLOAT_EQ(logits[4], 0.5f);                 // never seen
  EXPECT_EQ(state.OutputCount(2), 2);
  EXPECT_TRUE(state.PromptContains(1));
  EXPECT_FALSE(state.PromptContains(2));

  // Negative presence/frequency penalties encourage repetition.
  p = Random();
  p.presence_penalty = -1.0f;
  logits = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  ProcessLogits(logits, p, state, {});
  EXPECT_THAT(logits, ::testing::ElementsAre(0.0f, 0.0f, 1.0f, 1.0f, 0.0f));
}

TEST(SamplerTest, PenaltiesChangeTheGreedyChoice) {
  SequenceSamplingState state(std::vector<int32_t>{7});
  state.Append(1);
  SamplingParams p;
  p.frequency_penalty = 1.0f;
  Sampler sampler;
  std::mt19937_64 rng(0);
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.0f, 1.5f, 1.0f}, p, state, rng).token_id, 2);
}

TEST(SamplerTest, LogitBiasIsAddedAndClamped) {
  SamplingParams p;
  p.logit_bias = {{0, 3.0f}, {1, 1000.0f}, {2, -1000.0f}, {99, 5.0f}};  // 99 is outside the row: ignored
  std::vector<float> logits = {0.0f, 0.0f, 0.0f, 1.0f};
  ProcessLogits(logits, p, {}, {});
  EXPECT_THAT(logits, ::testing::ElementsAre(3.0f, 100.0f, -100.0f, 1.0f));

  Sampler sampler;
  std::mt19937_64 rng(0);
  p.logit_bias = {{0, 2.0f}};
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.0f, 1.5f}, p, {}, rng).token_id, 0);
  p.logit_bias = {{1, -100.0f}};
  p.temperature = 1.0f;
  const std::vector<int> counts = Histogram({0.0f, 5.0f, 0.0f}, p, 2000, 1);
  EXPECT_EQ(counts[1], 0);
}

TEST(SamplerTest, AllowedTokenIdsRestrictEveryDraw) {
  const std::vector<float> logits = {5.0f, 0.0f, 1.0f, 0.5f, 4.0f};
  SamplingParams p = Random(2.0f);
  p.allowed_token_ids = std::vector<int32_t>{1, 3};
  const std::vector<int> counts = Histogram(logits, p, 5000, 3);
  EXPECT_EQ(counts[0] + counts[2] + counts[4], 0);
  EXPECT_GT(counts[1], 0);
  EXPECT_GT(counts[3], 0);
  p.temperature = 0.0f;
  Sampler sampler;
  std::mt19937_64 rng(0);
  EXPECT_EQ(sampler.Sample(logits, p, {}, rng).token_id, 3);

  std::vector<float> row = logits;
  ProcessLogits(row, p, {}, {});
  EXPECT_THAT(row, ::testing::ElementsAre(kNegInf, 0.0f, kNegInf, 0.5f, kNegInf));
}

TEST(SamplerTest, BadWordsBanTheTokenThatWouldCompleteThem) {
  SamplingParams p;
  p.bad_words_token_ids = {{4}, {5, 6}, {1, 2, 3}, {9, 9, 9, 9, 9}};
  const std::vector<float> flat(10, 0.0f);

  SequenceSamplingState state(std::vector<int32_t>{5});  // prompt tokens do not count as the prefix
  std::vector<float> row = flat;
  ProcessLogits(row, p, state, {});
  EXPECT_EQ(row[4], kNegInf);  // a one-token bad word is always banned
  EXPECT_EQ(row[6], 0.0f);
  EXPECT_EQ(row[3], 0.0f);

  state.Append(5);
  row = flat;
  ProcessLogits(row, p, state, {});
  EXPECT_EQ(row[6], kNegInf);
  EXPECT_EQ(row[3], 0.0f);

  state.Append(1);
  state.Append(2);
  row = flat;
  ProcessLogits(row, p, state, {});
  EXPECT_EQ(row[6], 0.0f);  // the output no longer ends with 5
  EXPECT_EQ(row[3], kNegInf);
  EXPECT_EQ(row[9], 0.0f);  // longer than the output + 1: cannot complete yet

  // Greedy falls to the next best token.
  Sampler sampler;
  std::mt19937_64 rng(0);
  std::vector<float> logits(10, 0.0f);
  logits[3] = 9.0f;
  logits[7] = 8.0f;
  EXPECT_EQ(sampler.Sample(logits, p, state, rng).token_id, 7);
}

TEST(SamplerTest, MinTokensMasksEosAndStopIdsUntilReached) {
  SamplingParams p;
  p.min_tokens = 2;
  p.stop_token_ids = {3};
  p.ignore_eos = true;  // EOS stays masked during min_tokens anyway, as in vLLM
  const std::vector<float> logits = {0.0f, 1.0f, 9.0f, 8.0f, 7.0f};
  Sampler sampler(/*eos_token_ids=*/{2});
  std::mt19937_64 rng(0);
  SequenceSamplingState state;
  EXPECT_EQ(sampler.Sample(logits, p, state, rng).token_id, 4);
  state.Append(4);
  EXPECT_EQ(sampler.Sample(logits, p, state, rng).token_id, 4);
  state.Append(4);
  EXPECT_EQ(sampler.Sample(logits, p, state, rng).token_id, 2);

  std::vector<float> row = logits;
  ProcessLogits(row, p, SequenceSamplingState{}, std::vector<int32_t>{2});
  EXPECT_THAT(row, ::testing::ElementsAre(0.0f, 1.0f, kNegInf, kNegInf, 7.0f));
}

TEST(SamplerTest, RawLogprobsReportValueRankAndTopK) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f};
  const std::vector<double> probs = Softmax(logits);
  SamplingParams p;
  p.logprobs = 3;
  p.logit_bias = {{0, -5.0f}, {2, 0.5f}};  // processing must not show in raw logprobs
  Sampler sampler;
  std::mt19937_64 rng(0);
  SampledToken t = sampler.Sample(logits, p, {}, rng);
  EXPECT_EQ(t.token_id, 1);
  ASSERT_TRUE(t.logprobs.has_value());
  EXPECT_EQ(t.logprobs->token_id, 1);
  EXPECT_NEAR(t.logprobs->logprob, std::log(probs[1]), 1e-6);
  EXPECT_EQ(t.logprobs->rank, 2);  // tokens 1 and 3 tie: vLLM counts every logprob >= the chosen one
  ASSERT_EQ(t.logprobs->top.size(), 3u);
  EXPECT_EQ(t.logprobs->top[0].token_id, 1);
  EXPECT_EQ(t.logprobs->top[1].token_id, 3);
  EXPECT_EQ(t.logprobs->top[2].token_id, 2);
  for (const TopLogprob& e : t.logprobs->top) EXPECT_NEAR(e.logprob, std::log(probs[e.token_id]), 1e-6);
  p.logprobs = 5;
  t = sampler.Sample(logits, p, {}, rng);
  ASSERT_EQ(t.logprobs->top.size(), 5u);
  EXPECT_EQ(t.logprobs->top[3].token_id, 0);
  EXPECT_NEAR(t.logprobs->top[3].logprob, std::log(probs[0]), 1e-6);
  p.logprobs = 0;  // the chosen token only
  t = sampler.Sample(logits, p, {}, rng);
  ASSERT_TRUE(t.logprobs.has_value());
  EXPECT_TRUE(t.logprobs->top.empty());
  EXPECT_NEAR(t.logprobs->logprob, std::log(probs[1]), 1e-6);

  TokenLogprobs prompt = ComputeTokenLogprobs(logits, 4, 0);
  EXPECT_EQ(prompt.rank, 5);
  EXPECT_NEAR(prompt.logprob, std::log(probs[4]), 1e-6);
  EXPECT_TRUE(prompt.top.empty());
  EXPECT_EQ(ComputeTokenLogprobs(logits, 2, -1).top.size(), logits.size());

  p.logprobs.reset();
  EXPECT_FALSE(sampler.Sample(logits, p, {}, rng).logprobs.has_value());
}

TEST(SamplerTest, ProcessedLogprobsDescribeTheDistributionDrawnFrom) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.0f};
  SamplingParams p = Random(2.0f);
  p.top_k = 2;
  p.logprobs = 4;
  Sampler sampler({}, LogprobsMode::kProcessedLogprobs);
  std::mt19937_64 rng(4);
  SampledToken t = sampler.Sample(logits, p, {}, rng);
  ASSERT_TRUE(t.token_id == 1 || t.token_id == 2);
  // Survivors 3/2 and 2/2 renormalized; the rest are impossible.
  const double log_z = std::log(std::exp(1.5) + std::exp(1.0));
  ASSERT_EQ(t.logprobs->top.size(), 4u);
  EXPECT_EQ(t.logprobs->top[0].token_id, 1);
  EXPECT_NEAR(t.logprobs->top[0].logprob, 1.5 - log_z, 1e-6);
  EXPECT_EQ(t.logprobs->top[1].token_id, 2);
  EXPECT_NEAR(t.logprobs->top[1].logprob, 1.0 - log_z, 1e-6);
  EXPECT_EQ(t.logprobs->top[2].logprob, kNegInf);
  EXPECT_EQ(t.logprobs->top[3].logprob, kNegInf);
  EXPECT_EQ(t.logprobs->rank, t.token_id == 1 ? 1 : 2);
}

TEST(SamplerTest, EverythingMaskedFallsBackToTheModelsChoice) {
  SamplingParams p = Random();
  p.allowed_token_ids = std::vector<int32_t>{2};
  p.bad_words_token_ids = {{2}};
  Sampler sampler;
  std::mt19937_64 rng(0);
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.0f, 4.0f, 1.0f}, p, {}, rng).token_id, 1);
  p.temperature = 0.0f;
  EXPECT_EQ(sampler.Sample(std::vector<float>{0.0f, 4.0f, 1.0f}, p, {}, rng).token_id, 1);
}

TEST(SamplerTest, LegacyEntryPointMatchesTheSampler) {
  const std::vector<float> logits = {0.3f, -0.2f, 1.1f, 0.9f, 0.0f};
  SamplingParams p = Random(0.8f);
  std::mt19937_64 a(99), b(99);
  Sampler sampler;
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(SampleToken(logits.data(), 5, p, a), sampler.Sample(logits, p, {}, b).token_id);
}

}  // namespace
}  // namespace tessera::engine
