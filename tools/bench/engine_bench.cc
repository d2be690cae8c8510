// Engine throughput on the CPU backend: prefill tokens/s (long prompts, one output token) and steady decode
// tokens/s (one token per running request per step, after their prompts are cached), at batch 1 and 16, through the
// public LLMEngine API (AddRequest + Step loop). items_per_second is tokens per wall-clock second.
//
// Models: the tiny-llama test fixture, and a larger Llama shape with dummy weights built from a config.json that the
// benchmark writes into a temporary folder (no checkpoint needed).
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "common/model_config.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/llm_engine.h"
#include "services/worker/engine/sampling_params.h"

namespace tessera::engine {
namespace {

constexpr int kPrefillPromptLen = 256;
constexpr int kDecodeContextLen = 128;  // prompt length before the timed decode steps
constexpr int kDecodeSteps = 32;        // timed decode steps per benchmark iteration
constexpr int kMaxBatch = 16;
// Enough blocks for the largest batch (16 x 257 tokens in 16-token blocks is 272 blocks) and no more: a cache of
// hundreds of MiB would hand each iteration blocks whose pages were never touched, timing page faults, not kernels.
constexpr int kBlockSize = 16;
constexpr int kKvBlocks = 384;

enum class ModelKind { kTinyLlamaFixture, kDummyLlama1024x8 };

// A Llama shape big enough that GEMMs, not per-step overheads, dominate: hidden 1024, 8 layers, 16 heads (4 KV),
// 32000 vocab, ~155M parameters (590 MiB) in fp32.
nlohmann::json DummyLlamaConfig() {
  return {{"vocab_size", 32000},        {"hidden_size", 1024},          {"intermediate_size", 2816},
          {"num_hidden_layers", 8},     {"num_attention_heads", 16},    {"num_key_value_heads", 4},
          {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-5},   {"rope_theta", 500000.0},
          {"hidden_act", "silu"},       {"initializer_range", 0.02},    {"tie_word_embeddings", false},
          {"bos_token_id", 1},          {"eos_token_id", 2},            {"torch_dtype", "float32"},
          {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}};
}

// Writes the config-only folder for the dummy model once per process; the folder is removed at exit.
const std::string& DummyModelDir() {
  struct Folder {
    std::filesystem::path path;
    Folder() {
      std::error_code ec;
      path = std::filesystem::temp_directory_path(ec) / absl::StrCat("tessera_engine_bench_", ::getpid());
      std::filesystem::create_directories(path, ec);
      std::ofstream(path / "config.json") << DummyLlamaConfig().dump(2) << "\n";
      std::ofstream(path / "generation_config.json")
          << nlohmann::json{{"bos_token_id", 1}, {"eos_token_id", 2}, {"do_sample", false}}.dump(2) << "\n";
    }
    ~Folder() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Folder folder;
  static const std::string dir = folder.path.string();
  return dir;
}

absl::StatusOr<EngineConfig> ConfigFor(ModelKind kind) {
  EngineConfig config;
  if (kind == ModelKind::kTinyLlamaFixture) {
    config.model = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-llama";
  } else {
    config.model = DummyModelDir();
    config.load_format = "dummy";
  }
  absl::StatusOr<ModelConfig> model = LoadModelConfig(config.model);
  if (!model.ok()) return model.status();
  const int head_dim = model->head_dim > 0 ? model->head_dim : model->hidden_size / model->num_attention_heads;
  // K and V of every layer, fp32: the widest KV type the CPU backend keeps.
  const int64_t block_bytes = int64_t{2} * model->num_hidden_layers * model->num_key_value_heads * head_dim *
                              kBlockSize * static_cast<int64_t>(sizeof(float));
  config.block_size = kBlockSize;
  config.max_model_len = 512;
  config.max_num_seqs = kMaxBatch;
  // Every request of a batch-16 prefill fits in one step, as a real server would schedule it.
  config.max_num_batched_tokens = kMaxBatch * kPrefillPromptLen;
  config.kv_cache_memory_bytes = kKvBlocks * block_bytes;
  return config;
}

// Engines are built once per model and reused across benchmarks: loading (and for dummy weights, generating ~155M
// random values) is not what is being measured.
LLMEngine* GetEngine(ModelKind kind, benchmark::State& state) {
  static std::unique_ptr<LLMEngine> engines[2];
  std::unique_ptr<LLMEngine>& slot = engines[static_cast<int>(kind)];
  if (!slot) {
    absl::StatusOr<EngineConfig> config = ConfigFor(kind);
    if (!config.ok()) {
      state.SkipWithError(std::string(config.status().message()).c_str());
      return nullptr;
    }
    absl::StatusOr<std::unique_ptr<LLMEngine>> engine = LLMEngine::Create(*config);
    if (!engine.ok()) {
      state.SkipWithError(std::string(engine.status().message()).c_str());
      return nullptr;
    }
    slot = *std::move(engine);
  }
  return slot.get();
}

// CPU seconds of every thread of the process. Under a shared, oversubscribed machine wall-clock rates swing with the
// neighbours' load; tokens per CPU-second (all threads, including BLAS and OpenMP workers) is the steadier figure.
double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Prompts differ in every request, iteration and repetition so that no prompt token is ever served from a prefix
// cache: the generator is shared by the whole process (Google Benchmark calls a benchmark function once per
// repetition, and a per-call generator would replay the same prompts).
class PromptSource {
 public:
  explicit PromptSource(int vocab_size) : token_(3, vocab_size - 1) {}
  std::vector<int32_t> Next(int length) {
    static std::mt19937 rng(1234);
    std::vector<int32_t> ids(length);
    for (int32_t& id : ids) id = token_(rng);
    return ids;
  }

 private:
  std::uniform_int_distribution<int32_t> token_;
};

absl::Status AddBatch(LLMEngine& engine, PromptSource& prompts, int batch, int prompt_len,
                      const SamplingParams& params) {
  static int64_t request_counter = 0;
  for (int i = 0; i < batch; ++i) {
    absl::Status added = engine.AddRequest(absl::StrCat("bench-", request_counter++), prompts.Next(prompt_len), params);
    if (!added.ok()) return added;
  }
  return absl::OkStatus();
}

// Tokens a step added to one request, over all its sequences.
int64_t NewTokens(const RequestOutput& out) {
  int64_t tokens = 0;
  for (const auto& sequence : out.outputs) tokens += sequence.num_new_tokens;
  return tokens;
}

// Runs one step; adds its new tokens to `tokens`.
absl::Status StepCounting(LLMEngine& engine, int64_t& tokens) {
  absl::StatusOr<std::vector<RequestOutput>> outputs = engine.Step();
  if (!outputs.ok()) return outputs.status();
  for (const RequestOutput& out : *outputs) tokens += NewTokens(out);
  return absl::OkStatus();
}

// What one timed round measured.
struct Round {
  int64_t tokens = 0;  // prompt tokens for prefill, generated tokens for decode
  int64_t steps = 0;
  double cpu_seconds = 0.0;
};

// Prefills `batch` fresh prompts of kPrefillPromptLen tokens, each sampling its one output token. Only the steps are
// timed (between the Resume/Pause calls when `state` is given).
absl::StatusOr<Round> PrefillRound(LLMEngine& engine, PromptSource& prompts, int batch, benchmark::State* state) {
  SamplingParams params;
  params.max_tokens = 1;
  params.ignore_eos = true;
  if (state != nullptr) state->PauseTiming();
  absl::Status added = AddBatch(engine, prompts, batch, kPrefillPromptLen, params);
  if (state != nullptr) state->ResumeTiming();
  if (!added.ok()) return added;
  Round round;
  const double cpu_start = ProcessCpuSeconds();
  int64_t generated = 0;
  while (engine.HasUnfinishedRequests()) {
    RETURN_IF_ERROR(StepCounting(engine, generated));
    ++round.steps;
  }
  round.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  round.tokens = int64_t{batch} * kPrefillPromptLen;
  return round;
}

// Admits `batch` requests with kDecodeContextLen-token prompts and prefills them (untimed), then times kDecodeSteps
// decode steps, every running request gaining one token per step.
absl::StatusOr<Round> DecodeRound(LLMEngine& engine, PromptSource& prompts, int batch, benchmark::State* state) {
  SamplingParams params;
  params.max_tokens = 1 + kDecodeSteps;  // the prefill step samples the first token
  params.ignore_eos = true;
  if (state != nullptr) state->PauseTiming();
  absl::Status ready = AddBatch(engine, prompts, batch, kDecodeContextLen, params);
  // Prefill until every request holds its first token, so that the timed steps are decode-only.
  int64_t first_tokens = 0;
  while (ready.ok() && first_tokens < batch) ready = StepCounting(engine, first_tokens);
  if (state != nullptr) state->ResumeTiming();
  if (!ready.ok()) return ready;
  Round round;
  const double cpu_start = ProcessCpuSeconds();
  while (engine.HasUnfinishedRequests()) {
    RETURN_IF_ERROR(StepCounting(engine, round.tokens));
    ++round.steps;
  }
  round.cpu_seconds = ProcessCpuSeconds() - cpu_start;
  return round;
}

using RoundFn = absl::StatusOr<Round> (*)(LLMEngine&, PromptSource&, int, benchmark::State*);

// One untimed round first: the first use of a batch shape faults in KV blocks, activation buffers and BLAS
// workspaces, which is start-up cost, not throughput.
void RunRounds(benchmark::State& state, ModelKind kind, RoundFn round_fn) {
  const int batch = static_cast<int>(state.range(0));
  LLMEngine* engine = GetEngine(kind, state);
  if (engine == nullptr) return;
  PromptSource prompts(engine->model_config().vocab_size);
  absl::StatusOr<Round> warm_up = round_fn(*engine, prompts, batch, nullptr);
  if (!warm_up.ok()) {
    state.SkipWithError(std::string(warm_up.status().message()).c_str());
    return;
  }
  Round total;
  for (auto _ : state) {
    absl::StatusOr<Round> round = round_fn(*engine, prompts, batch, &state);
    if (!round.ok()) {
      state.SkipWithError(std::string(round.status().message()).c_str());
      return;
    }
    total.tokens += round->tokens;
    total.steps += round->steps;
    total.cpu_seconds += round->cpu_seconds;
  }
  state.SetItemsProcessed(total.tokens);
  state.counters["batch"] = batch;
  state.counters["tokens_per_cpu_s"] = total.cpu_seconds > 0 ? total.tokens / total.cpu_seconds : 0.0;
  // Wall time of one engine step; for decode, the inter-token latency every request in the batch sees.
  state.counters["ms_per_step"] = benchmark::Counter(static_cast<double>(total.steps) * 1e-3,
                                                     benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_Prefill(benchmark::State& state, ModelKind kind) { RunRounds(state, kind, PrefillRound); }
void BM_Decode(benchmark::State& state, ModelKind kind) { RunRounds(state, kind, DecodeRound); }

// The engine runs its kernels on OpenMP threads, so CPU time of the calling thread would overstate throughput:
// every benchmark reports wall-clock rates.
BENCHMARK_CAPTURE(BM_Prefill, tiny_llama, ModelKind::kTinyLlamaFixture)->Arg(1)->Arg(16)->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, tiny_llama, ModelKind::kTinyLlamaFixture)->Arg(1)->Arg(16)->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Prefill, dummy_llama_1024x8, ModelKind::kDummyLlama1024x8)->Arg(1)->Arg(16)->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, dummy_llama_1024x8, ModelKind::kDummyLlama1024x8)->Arg(1)->Arg(16)->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tessera::engine

BENCHMARK_MAIN();
