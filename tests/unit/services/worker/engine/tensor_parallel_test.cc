// Tensor parallelism on the CPU: threads of this process stand in for the worker processes of one group, each
// rank with its own engine, backend and TCP link to the leader, as separate processes would have. Every fixture
// model split over 2 and 4 ranks must give the logits of the whole model (within float32 tolerance) and the same
// greedy tokens.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "services/worker/engine/llm_engine.h"
#include "services/worker/parallel/tcp_group.h"
#include "tests/unit/services/worker/engine/fixture_models.h"
#ifdef TESSERA_HAVE_NCCL
#include "services/worker/parallel/nccl_communicator.h"
#endif

namespace tessera::engine {
namespace {

using std::chrono::seconds;
using std::chrono::steady_clock;

EngineConfig Config(const std::string& model, int tp_size) {
  EngineConfig config;
  config.model = fixtures::FixtureModelDir(model);
  config.max_model_len = 256;
  config.kv_cache_memory_bytes = 16ll << 20;
  config.tensor_parallel_size = tp_size;
  return config;
}

// A leader engine whose followers run on threads until the group stops.
class TensorParallelGroupUnderTest {
 public:
  absl::Status Start(const EngineConfig& config) {
    const int size = config.tensor_parallel_size;
    auto leader_links = parallel::TcpGroup::Listen("127.0.0.1", 0, size, std::chrono::seconds(30));
    if (!leader_links.ok()) return leader_links.status();
    leader_links_ = std::move(*leader_links);
    const std::string address = leader_links_->address();
    std::string nccl_id;
#ifdef TESSERA_HAVE_NCCL
    if (config.device == "cuda") {
      auto id = parallel::CreateNcclUniqueId();
      if (!id.ok()) return id.status();
      nccl_id = *id;
    }
#endif
    follower_status_.assign(size, absl::OkStatus());
    for (int rank = 1; rank < size; ++rank) {
      followers_.emplace_back([this, base_config = config, address, rank, size, nccl_id] {
        // One GPU per rank, as the worker's launcher assigns them.
        EngineConfig config = base_config;
        if (config.device == "cuda") config.device = absl::StrCat("cuda:", rank);
        auto links = parallel::TcpGroup::Connect(address, rank, size, steady_clock::now() + seconds(60));
        if (!links.ok()) {
          follower_status_[rank] = links.status();
          return;
        }
        TensorParallelGroup group{links->get(), nccl_id};
        auto engine = LLMEngine::Create(config, &group);
        if (!engine.ok()) {
          follower_status_[rank] = engine.status();
          (*links)->Close();
          return;
        }
        follower_status_[rank] = (*engine)->ServeFollower();
      });
    }
    if (absl::Status s = leader_links_->AcceptFollowers(steady_clock::now() + seconds(60)); !s.ok()) return s;
    TensorParallelGroup group{leader_links_.get(), nccl_id};
    auto engine = LLMEngine::Create(config, &group);
    if (!engine.ok()) return engine.status();
    leader_ = std::move(*engine);
    return absl::OkStatus();
  }

  ~TensorParallelGroupUnderTest() { Stop(); }

  // Destroying the leader engine stops the followers; returns what they ended with.
  std::vector<absl::Status> Stop() {
    leader_.reset();
    if (leader_links_ && !leader_) leader_links_->Close();
    for (auto& t : followers_) t.join();
    followers_.clear();
    return follower_status_;
  }

  LLMEngine& leader() { return *leader_; }
  parallel::TcpGroup& leader_links() { return *leader_links_; }

 private:
  std::unique_ptr<parallel::TcpGroup> leader_links_;
  std::unique_ptr<LLMEngine> leader_;
  std::vector<std::thread> followers_;
  std::vector<absl::Status> follower_status_;
};

struct Case {
  std::string model;
  int tp_size;
};

class TensorParallelTest : public ::testing::TestWithParam<Case> {};

// Prompt logits at every position, then 8 decode steps: the whole model and the split one see the same batch.
std::vector<std::vector<float>> RunTeacherForced(LLMEngine& engine, const std::vector<std::vector<int32_t>>& prompts) {
  std::vector<std::unique_ptr<Request>> requests;
  for (size_t p = 0; p < prompts.size(); ++p) {
    auto r = std::make_unique<Request>();
    r->id = absl::StrCat("p", p);
    r->prompt_token_ids = prompts[p];
    r->keep_all_logits = true;
    requests.push_back(std::move(r));
  }
  std::vector<std::vector<float>> rows;
  BlockManager& blocks = engine.block_manager();
  for (int step = 0; step < 8; ++step) {
    std::vector<ScheduledChunk> chunks;
    for (auto& r : requests) {
      EXPECT_TRUE(blocks.AllocateSlots(*r, r->num_tokens()));
      chunks.push_back({r.get(), r->num_tokens() - r->num_computed_tokens});
    }
    auto logits = engine.runner().Execute(chunks, blocks);
    EXPECT_TRUE(logits.ok()) << logits.status();
    if (!logits.ok()) return rows;
    const int vocab = (*logits)->vocab_size;
    for (size_t i = 0; i < requests.size(); ++i) {
      for (int row = 0; row < (*logits)->num_rows[i]; ++row) {
        const float* values = (*logits)->row((*logits)->first_row[i] + row);
        rows.emplace_back(values, values + vocab);
      }
      Request& r = *requests[i];
      r.num_computed_tokens = r.num_tokens();
      r.output_token_ids.push_back(static_cast<int32_t>((step * 37 + i * 11) % vocab));
    }
  }
  for (auto& r : requests) blocks.Free(*r);
  return rows;
}

std::vector<std::vector<int32_t>> GreedyTokens(LLMEngine& engine, const std::vector<std::vector<int32_t>>& prompts) {
  SamplingParams params;
  params.temperature = 0.0f;
  params.max_tokens = 12;
  params.ignore_eos = true;
  for (size_t p = 0; p < prompts.size(); ++p) EXPECT_TRUE(engine.AddRequest(absl::StrCat("g", p), prompts[p], params).ok());
  std::vector<std::vector<int32_t>> tokens(prompts.size());
  while (engine.HasUnfinishedRequests()) {
    auto outputs = engine.Step();
    EXPECT_TRUE(outputs.ok()) << outputs.status();
    if (!outputs.ok()) break;
    for (const RequestOutput& out : *outputs) {
      if (out.finished) tokens[std::stoi(out.request_id.substr(1))] = out.outputs[0].token_ids;
    }
  }
  return tokens;
}

const std::vector<std::vector<int32_t>> kPrompts = {
    {1, 15, 300, 27, 99, 512, 3}, {1, 1000, 2, 17}, {1, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60}};

TEST_P(TensorParallelTest, LogitsAndGreedyTokensMatchTheWholeModel) {
  auto whole = LLMEngine::Create(Config(GetParam().model, 1));
  ASSERT_TRUE(whole.ok()) << whole.status();
  const auto expected_logits = RunTeacherForced(**whole, kPrompts);
  const auto expected_tokens = GreedyTokens(**whole, kPrompts);

  TensorParallelGroupUnderTest group;
  ASSERT_TRUE(group.Start(Config(GetParam().model, GetParam().tp_size)).ok());
  const auto logits = RunTeacherForced(group.leader(), kPrompts);
  ASSERT_EQ(logits.size(), expected_logits.size());
  float worst = 0.0f;
  for (size_t r = 0; r < logits.size(); ++r) {
    ASSERT_EQ(logits[r].size(), expected_logits[r].size());
    for (size_t v = 0; v < logits[r].size(); ++v) worst = std::max(worst, std::fabs(logits[r][v] - expected_logits[r][v]));
  }
  // Only the summation order differs (partial sums per rank, then the all-reduce): float32 rounding.
  EXPECT_LE(worst, 1e-4f);
  EXPECT_EQ(GreedyTokens(group.leader(), kPrompts), expected_tokens);
  for (const absl::Status& s : group.Stop()) EXPECT_TRUE(s.ok()) << s;
}

INSTANTIATE_TEST_SUITE_P(FixtureModels, TensorParallelTest,
                         ::testing::Values(Case{"tiny-llama", 2}, Case{"tiny-llama", 4}, Case{"tiny-llama31", 2},
                                           Case{"tiny-qwen2", 2}, Case{"tiny-qwen2", 4}, Case{"tiny-qwen3", 2},
                                           Case{"tiny-qwen3", 4}),
                         [](const auto& info) {
                           std::string name = absl::StrCat(info.param.model, "_tp", info.param.tp_size);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(TensorParallelSetupTest, SizeThatDoesNotDivideTheHeadsIsAClearError) {
  TensorParallelGroupUnderTest group;
  const absl::Status status = group.Start(Config("tiny-llama", 3));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), ::testing::HasSubstr("does not divide the model's 4 attention heads"));
  group.Stop();
}

TEST(TensorParallelSetupTest, ConfigSizeMustMatchTheGroup) {
  EXPECT_EQ(LLMEngine::Create(Config("tiny-llama", 2)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TensorParallelFailureTest, LeaderFailsForGoodWhenAFollowerDies) {
  TensorParallelGroupUnderTest group;
  ASSERT_TRUE(group.Start(Config("tiny-llama", 2)).ok());
  // Cut the links, as the death of the follower process would.
  ASSERT_TRUE(group.leader().CheckTensorParallelGroup().ok());
  SamplingParams params;
  params.max_tokens = 4;
  ASSERT_TRUE(group.leader().AddRequest("r", {1, 2, 3}, params).ok());
  group.leader_links().Close();
  auto step = group.leader().Step();
  EXPECT_FALSE(step.ok());
  EXPECT_FALSE(group.leader().fatal_error().ok());
  EXPECT_FALSE(group.leader().Step().ok());  // stays failed
  EXPECT_FALSE(group.leader().CheckTensorParallelGroup().ok());
  for (const absl::Status& s : group.Stop()) (void)s;  // the follower ends with an error: its leader is gone
}

#ifdef TESSERA_HAVE_NCCL

// On one GPU the NCCL path still runs: a group of one rank goes through the same sharded loading and NCCL
// all-reduces as a multi-GPU group, and must give the whole model's logits.
TEST(TensorParallelCudaTest, NcclGroupOfOneMatchesTheWholeModel) {
  EngineConfig config = Config("tiny-llama", 1);
  config.device = "cuda";
  auto whole = LLMEngine::Create(config);
  if (!whole.ok()) GTEST_SKIP() << "no CUDA device: " << whole.status();
  const auto expected = RunTeacherForced(**whole, kPrompts);
  whole->reset();

  auto links = parallel::TcpGroup::Listen("127.0.0.1", 0, 1);
  ASSERT_TRUE(links.ok());
  auto id = parallel::CreateNcclUniqueId();
  ASSERT_TRUE(id.ok()) << id.status();
  TensorParallelGroup group{links->get(), *id};
  auto engine = LLMEngine::Create(config, &group);
  ASSERT_TRUE(engine.ok()) << engine.status();
  const auto logits = RunTeacherForced(**engine, kPrompts);
  ASSERT_EQ(logits.size(), expected.size());
  float worst = 0.0f;
  for (size_t r = 0; r < logits.size(); ++r) {
    for (size_t v = 0; v < logits[r].size(); ++v) worst = std::max(worst, std::fabs(logits[r][v] - expected[r][v]));
  }
  // An all-reduce over one rank is a copy: the same bf16 computation, the same logits.
  EXPECT_EQ(worst, 0.0f);
}

// Two GPUs joined by NCCL against one GPU. Activations are bfloat16, and a split model rounds its partial sums
// before the all-reduce, so logits may differ by bf16 rounding: held to 4% of the row's largest |logit|, the bound
// the GPU fidelity test justifies against the reference.
TEST(TensorParallelCudaTest, TwoGpusMatchOneGpu) {
  EngineConfig config = Config("tiny-llama", 1);
  config.device = "cuda";
  auto whole = LLMEngine::Create(config);
  if (!whole.ok()) GTEST_SKIP() << "no CUDA device: " << whole.status();
  if (!kernels::CreateBackend("cuda:1").ok()) GTEST_SKIP() << "only one GPU";
  const auto expected = RunTeacherForced(**whole, kPrompts);
  whole->reset();

  config.tensor_parallel_size = 2;
  TensorParallelGroupUnderTest group;
  ASSERT_TRUE(group.Start(config).ok());
  const auto logits = RunTeacherForced(group.leader(), kPrompts);
  ASSERT_EQ(logits.size(), expected.size());
  float worst = 0.0f;
  for (size_t r = 0; r < logits.size(); ++r) {
    float largest = 0.0f;
    for (float v : expected[r]) largest = std::max(largest, std::fabs(v));
    for (size_t v = 0; v < logits[r].size(); ++v) {
      worst = std::max(worst, std::fabs(logits[r][v] - expected[r][v]) / largest);
    }
  }
  std::cout << "[ tp ] largest logit deviation, 2 GPUs vs 1: " << worst << " of the row's largest |logit|\n";
  EXPECT_LE(worst, 4e-2f);
  for (const absl::Status& s : group.Stop()) EXPECT_TRUE(s.ok()) << s;
}
#endif

}  // namespace
}  // namespace tessera::engine
