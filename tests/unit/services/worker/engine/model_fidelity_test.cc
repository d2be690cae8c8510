// Checks every fixture model against the reference implementation's golden outputs: prefill logits at every
// position, the teacher-forced logits of 24 decode steps, and the greedy continuation; for prompts run alone and
// all together in one batch, with block sizes 16 and 1, in float32 and with weights rounded to bfloat16.
// TESSERA_TEST_DEVICE=cuda runs the same checks on the GPU backend (bfloat16 weights and activations only).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/safetensors.h"
#include "gtest/gtest.h"
#include "tests/unit/services/worker/engine/fixture_models.h"
#include "services/worker/engine/llm.h"

namespace tessera::engine {
namespace {

constexpr int kNumPrompts = 8;
constexpr int kNumSteps = 24;
// bfloat16 weights and activations on a GPU (see ModelFidelityTest::tolerance).
constexpr float kGpuRelativeTolerance = 4e-2f;

struct Golden {
  std::vector<int32_t> input_ids;
  std::vector<float> prefill_logits;  // [L, V]
  std::vector<int32_t> greedy_ids;    // [24]
  std::vector<float> step_logits;     // [24, V]
};

std::string ModelDir(const std::string& name) { return fixtures::FixtureModelDir(name); }

// The backend under test: "cpu" unless TESSERA_TEST_DEVICE names another.
std::string TestDevice() {
  const char* device = std::getenv("TESSERA_TEST_DEVICE");
  return device != nullptr && *device != '\0' ? device : "cpu";
}

std::vector<Golden> LoadGoldens(const std::string& model) {
  auto file = SafetensorsFile::Open(ModelDir(model) + "/golden.safetensors");
  EXPECT_TRUE(file.ok()) << file.status();
  std::vector<Golden> goldens(kNumPrompts);
  for (int i = 0; i < kNumPrompts; ++i) {
    auto ints = [&](const std::string& name) {
      auto t = (*file)->Get(absl::StrCat("p", i, ".", name));
      EXPECT_TRUE(t.ok()) << t.status();
      const auto* v = reinterpret_cast<const int64_t*>(t->data);
      return std::vector<int32_t>(v, v + t->numel());
    };
    auto floats = [&](const std::string& name) {
      auto t = (*file)->Get(absl::StrCat("p", i, ".", name));
      EXPECT_TRUE(t.ok()) << t.status();
      const auto* v = reinterpret_cast<const float*>(t->data);
      return std::vector<float>(v, v + t->numel());
    };
    goldens[i] = {ints("input_ids"), floats("prefill_logits"), ints("greedy_ids"), floats("step_logits")};
  }
  return goldens;
}

struct Tolerance {
  // Passes when |got - want| <= abs + rel * max|want row|.
  float abs;
  float rel;
};

// The step whose golden top-1/top-2 margin first falls below `min_margin(row max)`: greedy ids are only comparable
// before it.
template <typename MarginFn>
int FirstAmbiguousStep(const Golden& g, int vocab, MarginFn min_margin) {
  for (int s = 0; s < kNumSteps; ++s) {
    std::vector<float> row(g.step_logits.begin() + s * vocab, g.step_logits.begin() + (s + 1) * vocab);
    std::partial_sort(row.begin(), row.begin() + 2, row.end(), std::greater<float>());
    float scale = 0.0f;
    for (float v : row) scale = std::max(scale, std::fabs(v));
    if (row[0] - row[1] < min_margin(scale)) return s;
  }
  return kNumSteps;
}

// Largest violation ratio (error / allowed) of one logits row; <= 1 passes. `worst_relative` keeps the largest
// error seen relative to the row's largest |logit|, for the report.
float Violation(const float* got, const float* want, int vocab, Tolerance tol, float* worst_relative) {
  float scale = 0.0f;
  for (int v = 0; v < vocab; ++v) scale = std::max(scale, std::fabs(want[v]));
  const float allowed = tol.abs + tol.rel * scale;
  float worst = 0.0f, worst_error = 0.0f;
  for (int v = 0; v < vocab; ++v) {
    const float error = std::fabs(got[v] - want[v]);
    worst = std::max(worst, error / allowed);
    worst_error = std::max(worst_error, error);
  }
  if (scale > 0.0f) *worst_relative = std::max(*worst_relative, worst_error / scale);
  return worst;
}

struct FidelityCase {
  std::string model;
  int block_size;
  std::string dtype;
};

class ModelFidelityTest : public ::testing::TestWithParam<FidelityCase> {
 protected:
  void SetUp() override {
    EngineConfig config;
    config.model = ModelDir(GetParam().model);
    config.block_size = GetParam().block_size;
    config.dtype = GetParam().dtype;
    config.device = TestDevice();
    config.max_model_len = 1024;
    config.kv_cache_memory_bytes = 64ll << 20;
    auto engine = LLMEngine::Create(config);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    goldens_ = LoadGoldens(GetParam().model);
    vocab_ = engine_->model_config().vocab_size;
  }

  // float32 matches the reference to ~1e-4 (different summation order only); 1e-3 is the bound.
  // bfloat16 weights carry a relative rounding error of up to 2^-9 each; through two layers of 128-wide dot
  // products the logits move by up to ~0.9% of the row's largest logit (measured on all four fixtures), so bf16 is
  // held to 2% of it: loose enough for rounding, tight enough that a wrong op (missing bias, bad RoPE) fails.
  // On a GPU, activations, the residual stream and the KV cache are bfloat16 too: every op's output is rounded by
  // up to 2^-9 relative, on top of the weight rounding (0.9% above). Measured on an H100 (2026-11-25) the logits
  // move by at most 2.6-2.7% of the row's largest |logit| on all four fixtures and both block sizes, so the GPU is
  // held to 4% (about 1.5x the largest measured deviation, leaving room for other GPUs' summation orders); the
  // greedy ids are still compared wherever the golden margin exceeds twice that.
  Tolerance tolerance() const {
    if (TestDevice() != "cpu") return Tolerance{1e-3f, kGpuRelativeTolerance};
    return GetParam().dtype == "bfloat16" ? Tolerance{1e-3f, 2e-2f} : Tolerance{1e-3f, 0};
  }

  void TearDown() override {
    if (worst_relative_ > 0.0f) {
      std::cout << "[ fidelity ] " << GetParam().model << " block " << GetParam().block_size << " "
                << GetParam().dtype << " on " << TestDevice() << ": largest logit deviation " << worst_relative_
                << " of the row's largest |logit|\n";
    }
  }

  // Runs prompts `which` together: one prefill step, then 23 teacher-forced decode steps, all batched.
  void CheckTeacherForced(const std::vector<int>& which) {
    std::vector<std::unique_ptr<Request>> requests;
    for (int p : which) {
      auto r = std::make_unique<Request>();
      r->id = absl::StrCat("p", p);
      r->prompt_token_ids = goldens_[p].input_ids;
      r->keep_all_logits = true;
      requests.push_back(std::move(r));
    }
    BlockManager& blocks = engine_->block_manager();
    for (int step = 0; step < kNumSteps; ++step) {
      std::vector<ScheduledChunk> chunks;
      for (auto& r : requests) {
        const int n = r->num_tokens() - r->num_computed_tokens;
        ASSERT_TRUE(blocks.AllocateSlots(*r, r->num_tokens()));
        chunks.push_back({r.get(), n});
      }
      auto logits = engine_->runner().Execute(chunks, blocks);
      ASSERT_TRUE(logits.ok()) << logits.status();
      for (size_t i = 0; i < requests.size(); ++i) {
        const Golden& g = goldens_[which[i]];
        Request& r = *requests[i];
        const int rows = (*logits)->num_rows[i];
        for (int row = 0; row < rows; ++row) {
          const float* got = (*logits)->row((*logits)->first_row[i] + row);
          if (step == 0) {
            const float v = Violation(got, g.prefill_logits.data() + static_cast<size_t>(row) * vocab_, vocab_,
                                      tolerance(), &worst_relative_);
            ASSERT_LE(v, 1.0f) << "prompt " << which[i] << " prefill position " << row;
          }
        }
        const float* last = (*logits)->row((*logits)->first_row[i] + rows - 1);
        const float v = Violation(last, g.step_logits.data() + static_cast<size_t>(step) * vocab_, vocab_, tolerance(),
                                  &worst_relative_);
        ASSERT_LE(v, 1.0f) << "prompt " << which[i] << " step " << step;
        r.num_computed_tokens = r.num_tokens();
        r.output_token_ids.push_back(g.greedy_ids[step]);  // teacher forcing keeps the steps comparable
      }
    }
    for (auto& r : requests) blocks.Free(*r);
  }

  std::unique_ptr<LLMEngine> engine_;
  std::vector<Golden> goldens_;
  int vocab_ = 0;
  float worst_relative_ = 0.0f;
};

TEST_P(ModelFidelityTest, LogitsMatchWhenEachPromptRunsAlone) {
  for (int p = 0; p < kNumPrompts; ++p) CheckTeacherForced({p});
}

TEST_P(ModelFidelityTest, LogitsMatchWhenAllPromptsShareOneBatch) {
  CheckTeacherForced({0, 1, 2, 3, 4, 5, 6, 7});
}

TEST_P(ModelFidelityTest, GreedyIdsMatchUpToFirstAmbiguousStep) {
  // Ids are compared until the golden margin falls below what this precision can resolve: 1e-3 in float32 (the
  // issue's bound), and twice the logit tolerance in bfloat16, where each of the top two may move by that much.
  const bool bf16 = GetParam().dtype == "bfloat16" || TestDevice() != "cpu";
  const Tolerance tol = tolerance();
  auto min_margin = [&](float scale) { return bf16 ? 2 * (tol.abs + tol.rel * scale) : 1e-3f; };
  std::vector<std::vector<int32_t>> prompts;
  for (const Golden& g : goldens_) prompts.push_back(g.input_ids);
  SamplingParams params;
  params.max_tokens = kNumSteps;
  params.ignore_eos = true;
  std::vector<std::string> ids;
  for (int p = 0; p < kNumPrompts; ++p) {
    ids.push_back(absl::StrCat("greedy", p));
    ASSERT_TRUE(engine_->AddRequest(ids.back(), prompts[p], params).ok());
  }
  std::vector<std::vector<int32_t>> generated(kNumPrompts);
  while (engine_->HasUnfinishedRequests()) {
    auto outputs = engine_->Step();
    ASSERT_TRUE(outputs.ok()) << outputs.status();
    for (const RequestOutput& out : *outputs) {
      const int p = std::stoi(out.request_id.substr(6));
      generated[p] = out.outputs[0].token_ids;
    }
  }
  int compared = 0;
  for (int p = 0; p < kNumPrompts; ++p) {
    const int limit = FirstAmbiguousStep(goldens_[p], vocab_, min_margin);
    ASSERT_EQ(generated[p].size(), static_cast<size_t>(kNumSteps));
    for (int s = 0; s < limit; ++s) {
      ASSERT_EQ(generated[p][s], goldens_[p].greedy_ids[s]) << "prompt " << p << " step " << s;
      ++compared;
    }
  }
  EXPECT_GE(compared, bf16 ? 1 : kNumPrompts * 4) << "too few steps were unambiguous to be a meaningful check";
}

std::vector<FidelityCase> AllCases() {
  std::vector<FidelityCase> cases;
  const bool gpu = TestDevice() != "cpu";
  for (const char* model : {"tiny-llama", "tiny-llama31", "tiny-qwen2", "tiny-qwen3"}) {
    if (gpu) {  // GPU matrix products take bfloat16 weights only
      for (int block_size : {16, 1}) cases.push_back({model, block_size, "bfloat16"});
      continue;
    }
    for (int block_size : {16, 1}) cases.push_back({model, block_size, "float32"});
    cases.push_back({model, 16, "bfloat16"});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelFidelityTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<FidelityCase>& info) {
                           std::string name = info.param.model + "_block" + std::to_string(info.param.block_size) +
                                              "_" + info.param.dtype;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace tessera::engine
