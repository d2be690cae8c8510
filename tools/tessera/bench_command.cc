// `tessera bench throughput`: offline throughput as vLLM's `vllm bench throughput --dataset-name random` measures
// it. Random prompt token ids of --input-len tokens, all --num-prompts requests handed to the engine at once with
// ignore_eos and max_tokens = --output-len, timed from submission to the last finished request.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/command_line.h"
#include "common/progress_bar.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "services/worker/engine/llm.h"
#include "tools/tessera/bench_serve.h"
#include "tools/tessera/commands.h"
#include "tools/tessera/subcommand.h"
#include "tools/tessera/engine_flags.h"
#include "tools/tessera/random_dataset.h"

namespace tessera::cli {
namespace {

std::vector<FlagSpec> ThroughputFlagSpecs() {
  std::vector<FlagSpec> specs = EngineFlagSpecs();
  specs.insert(specs.end(), {
      {"input-len", true, "prompt tokens per request (default 1024)"},
      {"output-len", true, "generated tokens per request, EOS ignored (default 128)"},
      {"num-prompts", true, "requests (default 1000)"},
      {"random-range-ratio", true, "prompt lengths drawn from [input-len*(1-r), input-len*(1+r)] (default 0)"},
      {"n", true, "sequences per prompt (default 1)"},
      {"output-json", true, "also write the results to this JSON file"},
      {"help", false, "show this help"},
  });
  return specs;
}

struct ThroughputOptions {
  int input_len = 1024;
  int output_len = 128;
  int num_prompts = 1000;
  double range_ratio = 0.0;
  int n = 1;
  uint64_t seed = 0;
};

absl::StatusOr<ThroughputOptions> ParseOptions(const CommandLine& flags) {
  ThroughputOptions o;
  ASSIGN_OR_RETURN(int64_t input_len, flags.GetInt("input-len", o.input_len));
  ASSIGN_OR_RETURN(int64_t output_len, flags.GetInt("output-len", o.output_len));
  ASSIGN_OR_RETURN(int64_t num_prompts, flags.GetInt("num-prompts", o.num_prompts));
  ASSIGN_OR_RETURN(o.range_ratio, flags.GetDouble("random-range-ratio", o.range_ratio));
  ASSIGN_OR_RETURN(int64_t n, flags.GetInt("n", o.n));
  ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0));
  if (input_len < 1 || input_len > (1 << 24)) return absl::InvalidArgumentError("--input-len must be at least 1");
  if (output_len < 1 || output_len > (1 << 24)) return absl::InvalidArgumentError("--output-len must be at least 1");
  if (num_prompts < 1 || num_prompts > (1 << 24)) return absl::InvalidArgumentError("--num-prompts must be at least 1");
  if (n < 1 || n > 1024) return absl::InvalidArgumentError("--n must be between 1 and 1024");
  if (!(o.range_ratio >= 0.0 && o.range_ratio < 1.0))
    return absl::InvalidArgumentError("--random-range-ratio must be in [0, 1)");
  o.input_len = static_cast<int>(input_len);
  o.output_len = static_cast<int>(output_len);
  o.num_prompts = static_cast<int>(num_prompts);
  o.n = static_cast<int>(n);
  o.seed = static_cast<uint64_t>(seed);
  return o;
}

// Uniform random token ids over the whole vocabulary, as vLLM's random dataset (which then never decodes them).
std::vector<std::vector<int32_t>> RandomPrompts(const ThroughputOptions& o, int vocab_size) {
  RandomDatasetOptions dataset;
  dataset.input_len = o.input_len;
  dataset.output_len = o.output_len;
  dataset.num_prompts = o.num_prompts;
  dataset.range_ratio = o.range_ratio;
  dataset.seed = o.seed;
  std::vector<std::vector<int32_t>> prompts;
  for (RandomRequest& request : RandomRequests(dataset, vocab_size)) {
    prompts.push_back(std::move(request.prompt_token_ids));
  }
  return prompts;
}

absl::Status Throughput(const CommandLine& flags) {
  ASSIGN_OR_RETURN(engine::EngineConfig config, EngineConfigFromFlags(flags));
  ASSIGN_OR_RETURN(ThroughputOptions options, ParseOptions(flags));
  ASSIGN_OR_RETURN(auto llm, engine::LLM::Create(config));
  LogEngineInfo(llm->engine());

  const auto prompts = RandomPrompts(options, llm->engine().model_config().vocab_size);
  // vLLM's throughput benchmark samples (temperature 1, top_p 1) and ignores EOS so every request runs full length.
  engine::SamplingParams params;
  params.n = options.n;
  params.temperature = 1.0f;
  params.top_p = 1.0f;
  params.ignore_eos = true;
  params.max_tokens = options.output_len;

  ProgressBar bar("Processed prompts", options.num_prompts);
  auto rates = [](const engine::GenerationProgress& p) {
    const double secs = p.elapsed_seconds > 0 ? p.elapsed_seconds : 1e-9;
    return absl::StrFormat("est. speed input: %.2f toks/s, output: %.2f toks/s", p.prompt_tokens / secs,
                           p.generated_tokens / secs);
  };
  engine::GenerationProgress last;
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(auto outputs, llm->Generate(prompts, {params}, [&](const engine::GenerationProgress& p) {
    last = p;
    bar.Update(p.completed, rates(p));
  }));
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bar.Finish(rates(last));

  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  for (const engine::RequestOutput& out : outputs) {
    prompt_tokens += static_cast<int64_t>(out.prompt_token_ids.size());
    for (const engine::CompletionOutput& c : out.outputs) output_tokens += static_cast<int64_t>(c.token_ids.size());
  }
  const int64_t total_tokens = prompt_tokens + output_tokens;
  const double secs = elapsed > 0 ? elapsed : 1e-9;
  const double requests_per_second = static_cast<double>(outputs.size()) / secs;
  std::printf("Throughput: %.2f requests/s, %.2f total tokens/s, %.2f output tokens/s\n", requests_per_second,
              total_tokens / secs, output_tokens / secs);
  std::printf("Total num prompt tokens:  %lld\n", static_cast<long long>(prompt_tokens));
  std::printf("Total num output tokens:  %lld\n", static_cast<long long>(output_tokens));
  std::printf("Elapsed time: %.3f s\n", elapsed);
  std::fflush(stdout);

  if (flags.Has("output-json")) {
    const std::string path = flags.GetString("output-json");
    // vLLM's keys first, then the split it prints but does not save.
    nlohmann::ordered_json j = {
        {"elapsed_time", elapsed},
        {"num_requests", static_cast<int64_t>(outputs.size())},
        {"total_num_tokens", total_tokens},
        {"requests_per_second", requests_per_second},
        {"tokens_per_second", total_tokens / secs},
        {"output_tokens_per_second", output_tokens / secs},
        {"total_prompt_tokens", prompt_tokens},
        {"total_output_tokens", output_tokens},
        {"input_len", options.input_len},
        {"output_len", options.output_len},
        {"n", options.n},
        {"seed", options.seed},
        {"model", config.model},
        {"backend", llm->engine().info().backend},
        {"max_num_seqs", config.max_num_seqs},
        {"max_num_batched_tokens", config.max_num_batched_tokens},
        {"enable_prefix_caching", config.enable_prefix_caching},
    };
    std::ofstream out(path);
    if (!out) return absl::PermissionDeniedError(absl::StrFormat("--output-json: cannot write %s", path));
    out << j.dump(2) << "\n";
    if (!out.flush()) return absl::DataLossError(absl::StrFormat("--output-json: writing %s failed", path));
  }
  return absl::OkStatus();
}

void PrintBenchUsage(std::FILE* out) {
  std::fprintf(out,
               "usage: tessera bench {throughput|serve} [flags]\n\n"
               "subcommands:\n  throughput   offline throughput on random prompts (vLLM's bench throughput)\n"
               "  serve        online serving latency and throughput against a running server (vLLM's bench serve)\n");
}

}  // namespace

int RunBench(int argc, char** argv, int first) {
  if (first >= argc || std::string(argv[first]) == "--help" || std::string(argv[first]) == "-h") {
    PrintBenchUsage(first >= argc ? stderr : stdout);
    return first >= argc ? 2 : 0;
  }
  const std::string sub = argv[first];
  if (sub == "serve") return RunBenchServe(argc, argv, first + 1);
  if (sub != "throughput") {
    std::fprintf(stderr, "tessera bench: unknown subcommand '%s'\n", sub.c_str());
    PrintBenchUsage(stderr);
    return 2;
  }
  return RunSubcommand(argc, argv, first + 1, "bench throughput", "--model DIR [flags]", ThroughputFlagSpecs(),
                       Throughput);
}

}  // namespace tessera::cli
