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
#include "nlohmann/json.hpp"
#include "services/worker/engine/engine_config.h"
#include "services/worker/engine/llm_engine.h"
#include "services/worker/engine/sampling_params.h"

namespace tessera::engine {
namespace {

constexpr int kPrefillPromptLen = 256;
constexpr int kDecodeContextLen = 128;  // prompt length before the timed decode steps
constexpr int kDecodeSteps = 32;        // timed decode steps per benchmark iteration

enum class ModelKind { kTinyLlamaFixture, kDummyLlama1024x8 };

// A Llama shape big enough that GEMMs, not per-step overheads, dominate: hidden 1024, 8 layers, 16 heads (4 KV),
// 32000 vocab, ~170M parameters in fp32.
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

EngineConfig ConfigFor(ModelKind kind) {
  EngineConfig config;
  if (kind == ModelKind::kTinyLlamaFixture) {
    config.model = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-llama";
  } else {
    config.model = DummyModelDir();
    config.load_format = "dummy";
  }
  config.max_model_len = 1024;
  config.max_num_seqs = 16;
  // Every request of a batch-16 prefill fits in one step, as a real server would schedule it.
  config.max_num_batched_tokens = 16 * kPrefillPromptLen;
  config.kv_cache_memory_bytes = int64_t{512} << 20;
  return config;
}

// Engines are built once per model and reused across benchmarks: loading (and for dummy weights, generating ~170M
// random values) is not what is being measured.
LLMEngine* GetEngine(ModelKind kind, benchmark::State& state) {
  static std::unique_ptr<LLMEngine> engines[2];
  std::unique_ptr<LLMEngine>& slot = engines[static_cast<int>(kind)];
  if (!slot) {
    absl::StatusOr<std::unique_ptr<LLMEngine>> engine = LLMEngine::Create(ConfigFor(kind));
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

void ReportCpuRate(benchmark::State& state, int64_t tokens, double cpu_seconds) {
  state.counters["tokens_per_cpu_s"] = cpu_seconds > 0 ? static_cast<double>(tokens) / cpu_seconds : 0.0;
}

// Prompts differ in every request and iteration so that no prompt token is ever served from a prefix cache.
class PromptSource {
 public:
  explicit PromptSource(int vocab_size) : token_(3, vocab_size - 1) {}
  std::vector<int32_t> Next(int length) {
    std::vector<int32_t> ids(length);
    for (int32_t& id : ids) id = token_(rng_);
    return ids;
  }

 private:
  std::mt19937 rng_{1234};
  std::uniform_int_distribution<int32_t> token_;
};

// Runs steps until no request is unfinished; returns tokens produced, or an error message.
absl::StatusOr<int64_t> DrainSteps(LLMEngine& engine) {
  int64_t tokens = 0;
  while (engine.HasUnfinishedRequests()) {
    absl::StatusOr<std::vector<RequestOutput>> outputs = engine.Step();
    if (!outputs.ok()) return outputs.status();
    for (const RequestOutput& out : *outputs) tokens += out.num_new_tokens;
  }
  return tokens;
}

// Each iteration prefills `batch` fresh prompts of kPrefillPromptLen tokens and samples one token for each.
void BM_Prefill(benchmark::State& state, ModelKind kind) {
  const int batch = static_cast<int>(state.range(0));
  LLMEngine* engine = GetEngine(kind, state);
  if (engine == nullptr) return;
  PromptSource prompts(engine->model_config().vocab_size);
  SamplingParams params;
  params.max_tokens = 1;
  params.ignore_eos = true;
  int64_t prompt_tokens = 0;
  int64_t request_counter = 0;
  double cpu_seconds = 0.0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < batch; ++i) {
      absl::Status added =
          engine->AddRequest(absl::StrCat("prefill-", request_counter++), prompts.Next(kPrefillPromptLen), params);
      if (!added.ok()) {
        state.SkipWithError(std::string(added.message()).c_str());
        return;
      }
    }
    state.ResumeTiming();
    const double cpu_start = ProcessCpuSeconds();
    absl::StatusOr<int64_t> generated = DrainSteps(*engine);
    cpu_seconds += ProcessCpuSeconds() - cpu_start;
    if (!generated.ok()) {
      state.SkipWithError(std::string(generated.status().message()).c_str());
      return;
    }
    prompt_tokens += int64_t{batch} * kPrefillPromptLen;
  }
  state.SetItemsProcessed(prompt_tokens);
  ReportCpuRate(state, prompt_tokens, cpu_seconds);
  state.counters["batch"] = batch;
  state.counters["prompt_len"] = kPrefillPromptLen;
}

// Each iteration: (untimed) admit `batch` requests with kDecodeContextLen-token prompts and run their prefill, then
// (timed) kDecodeSteps decode steps, every running request gaining one token per step.
void BM_Decode(benchmark::State& state, ModelKind kind) {
  const int batch = static_cast<int>(state.range(0));
  LLMEngine* engine = GetEngine(kind, state);
  if (engine == nullptr) return;
  PromptSource prompts(engine->model_config().vocab_size);
  SamplingParams params;
  params.max_tokens = 1 + kDecodeSteps;  // the prefill step samples the first token
  params.ignore_eos = true;
  int64_t decode_tokens = 0;
  int64_t decode_steps = 0;
  int64_t request_counter = 0;
  double cpu_seconds = 0.0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < batch; ++i) {
      absl::Status added =
          engine->AddRequest(absl::StrCat("decode-", request_counter++), prompts.Next(kDecodeContextLen), params);
      if (!added.ok()) {
        state.SkipWithError(std::string(added.message()).c_str());
        return;
      }
    }
    // Prefill until every request holds its first token, so the timed steps are decode-only.
    int prefilled = 0;
    while (prefilled < batch) {
      absl::StatusOr<std::vector<RequestOutput>> outputs = engine->Step();
      if (!outputs.ok()) {
        state.SkipWithError(std::string(outputs.status().message()).c_str());
        return;
      }
      for (const RequestOutput& out : *outputs)
        if (out.num_new_tokens > 0 && out.token_ids.size() == 1) ++prefilled;
    }
    state.ResumeTiming();
    const double cpu_start = ProcessCpuSeconds();
    while (engine->HasUnfinishedRequests()) {
      absl::StatusOr<std::vector<RequestOutput>> outputs = engine->Step();
      if (!outputs.ok()) {
        state.SkipWithError(std::string(outputs.status().message()).c_str());
        return;
      }
      for (const RequestOutput& out : *outputs) decode_tokens += out.num_new_tokens;
      ++decode_steps;
    }
    cpu_seconds += ProcessCpuSeconds() - cpu_start;
  }
  state.SetItemsProcessed(decode_tokens);
  ReportCpuRate(state, decode_tokens, cpu_seconds);
  state.counters["batch"] = batch;
  state.counters["tokens_per_step"] = decode_steps > 0 ? static_cast<double>(decode_tokens) / decode_steps : 0.0;
  // Wall time of one decode step (the inter-token latency every request in the batch sees).
  state.counters["ms_per_step"] =
      benchmark::Counter(static_cast<double>(decode_steps) * 1e-3, benchmark::Counter::kIsRate |
                                                                       benchmark::Counter::kInvert);
}

// The engine runs its kernels on OpenMP threads, so CPU time of the calling thread would overstate throughput:
// every benchmark reports wall-clock rates.
BENCHMARK_CAPTURE(BM_Prefill, tiny_llama, ModelKind::kTinyLlamaFixture)->Arg(1)->Arg(16)->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, tiny_llama, ModelKind::kTinyLlamaFixture)->Arg(1)->Arg(16)->UseRealTime()
    ->Unit(benchmark::kMillisecond);
// Batch-16 prefill of the larger model (4096 prompt tokens, ~1.4 TFLOP) takes tens of seconds on two cores; batch 1
// already measures GEMM throughput at 256 rows.
BENCHMARK_CAPTURE(BM_Prefill, dummy_llama_1024x8, ModelKind::kDummyLlama1024x8)->Arg(1)->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, dummy_llama_1024x8, ModelKind::kDummyLlama1024x8)->Arg(1)->Arg(16)->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tessera::engine

BENCHMARK_MAIN();
