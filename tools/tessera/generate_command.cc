// `tessera generate`: the offline path. Reads prompts from flags or a JSONL file, runs them as one batch through
// the engine with a progress bar, and prints each result as text or one JSON object per prompt.
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
#include "tools/tessera/commands.h"
#include "tools/tessera/engine_flags.h"

namespace tessera::cli {
namespace {

std::vector<FlagSpec> GenerateFlagSpecs() {
  std::vector<FlagSpec> specs = EngineFlagSpecs();
  specs.insert(specs.end(), {
                                {"prompt-ids", true, "one prompt as comma-separated token ids"},
                                {"input", true, "JSONL file, one {\"prompt_token_ids\": [...]} per line"},
                                {"max-tokens", true, "tokens to generate per prompt (default 16)"},
                                {"temperature", true, "0 (default) is greedy"},
                                {"ignore-eos", false, "keep generating after EOS"},
                                {"json", false, "print one JSON object per prompt"},
                                {"help", false, "show this help"},
                            });
  return specs;
}

absl::StatusOr<std::vector<std::vector<int32_t>>> ReadPrompts(const CommandLine& flags) {
  std::vector<std::vector<int32_t>> prompts;
  if (flags.Has("prompt-ids")) {
    ASSIGN_OR_RETURN(auto ids, ParseIntList(flags.GetString("prompt-ids"), "--prompt-ids"));
    prompts.push_back(std::move(ids));
  }
  if (flags.Has("input")) {
    const std::string path = flags.GetString("input");
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrFormat("cannot open --input %s", path));
    std::string line;
    for (int line_no = 1; std::getline(in, line); ++line_no) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object())
        return absl::InvalidArgumentError(absl::StrFormat("%s:%d: not a JSON object", path, line_no));
      auto it = j.find("prompt_token_ids");
      if (it == j.end() || !it->is_array())
        return absl::InvalidArgumentError(
            absl::StrFormat("%s:%d: expected \"prompt_token_ids\": [integers]", path, line_no));
      std::vector<int32_t> ids;
      for (const auto& v : *it) {
        if (!v.is_number_integer())
          return absl::InvalidArgumentError(absl::StrFormat("%s:%d: prompt_token_ids holds a non-integer", path, line_no));
        ids.push_back(v.get<int32_t>());
      }
      prompts.push_back(std::move(ids));
    }
  }
  if (prompts.empty()) return absl::InvalidArgumentError("give --prompt-ids or --input FILE.jsonl");
  return prompts;
}

absl::Status Generate(const CommandLine& flags) {
  ASSIGN_OR_RETURN(engine::EngineConfig config, EngineConfigFromFlags(flags));
  ASSIGN_OR_RETURN(auto prompts, ReadPrompts(flags));
  engine::SamplingParams params;
  ASSIGN_OR_RETURN(int64_t max_tokens, flags.GetInt("max-tokens", params.max_tokens));
  ASSIGN_OR_RETURN(double temperature, flags.GetDouble("temperature", params.temperature));
  params.max_tokens = static_cast<int>(max_tokens);
  params.temperature = static_cast<float>(temperature);
  params.ignore_eos = flags.Has("ignore-eos");
  RETURN_IF_ERROR(params.Validate());

  ASSIGN_OR_RETURN(auto llm, engine::LLM::Create(config));
  LogEngineInfo(llm->engine());
  ProgressBar bar("Processed prompts", static_cast<int64_t>(prompts.size()));
  auto rates = [](const engine::GenerationProgress& p) {
    const double secs = p.elapsed_seconds > 0 ? p.elapsed_seconds : 1e-9;
    return absl::StrFormat("est. speed input: %.2f toks/s, output: %.2f toks/s", p.prompt_tokens / secs,
                           p.generated_tokens / secs);
  };
  engine::GenerationProgress last;
  ASSIGN_OR_RETURN(auto outputs, llm->Generate(prompts, {params}, [&](const engine::GenerationProgress& p) {
                     last = p;
                     bar.Update(p.completed, rates(p));
                   }));
  bar.Finish(rates(last));

  const bool as_json = flags.Has("json");
  for (size_t i = 0; i < outputs.size(); ++i) {
    const engine::RequestOutput& out = outputs[i];
    if (as_json) {
      nlohmann::json j = {{"prompt_token_ids", out.prompt_token_ids},
                          {"token_ids", out.token_ids},
                          {"finish_reason", std::string(engine::FinishReasonName(out.finish_reason))}};
      std::cout << j.dump() << "\n";
    } else {
      std::cout << "prompt " << i << " (" << out.prompt_token_ids.size() << " tokens) -> "
                << nlohmann::json(out.token_ids).dump() << " [" << engine::FinishReasonName(out.finish_reason)
                << "]\n";
    }
  }
  return absl::OkStatus();
}

}  // namespace

int RunGenerate(int argc, char** argv, int first) {
  const auto specs = GenerateFlagSpecs();
  absl::StatusOr<CommandLine> flags = CommandLine::Parse(argc, argv, first, specs);
  if (flags.ok() && flags->Has("help")) {
    std::fprintf(stdout, "usage: tessera generate --model DIR [flags]\n%s", CommandLine::Usage(specs).c_str());
    return 0;
  }
  absl::Status status = flags.ok() ? Generate(*flags) : flags.status();
  if (!status.ok()) {
    std::fprintf(stderr, "tessera generate: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace tessera::cli
