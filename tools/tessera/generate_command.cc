// `tessera generate`: the offline path. Reads prompts (token ids, text or chat conversations) from flags or a JSONL
// file, runs them as one batch through the engine with a progress bar, and prints each result as text or as one
// JSON object per prompt.
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
#include "services/worker/engine/reasoning_parser.h"
#include "services/worker/engine/sampling_params_json.h"
#include "tools/tessera/commands.h"
#include "tools/tessera/engine_flags.h"
#include "tools/tessera/subcommand.h"

namespace tessera::cli {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::vector<FlagSpec> GenerateFlagSpecs() {
  std::vector<FlagSpec> specs = EngineFlagSpecs();
  specs.insert(specs.end(), {
      {"prompt", true, "one text prompt"},
      {"prompt-ids", true, "one prompt as comma-separated token ids"},
      {"input", true, "JSONL file: {\"prompt\": TEXT} | {\"prompt_token_ids\": [...]} | {\"messages\": [...]} "
                      "per line, each optionally with \"sampling_params\": {...}"},
      {"chat", true, "JSONL file of {\"messages\": [...]} conversations, rendered with the model's chat template"},
      {"chat-template-kwargs", true, "JSON object passed to the chat template, e.g. {\"enable_thinking\": false}"},
      {"max-tokens", true, "tokens to generate per prompt (default 16)"},
      {"temperature", true, "0 is greedy (default: the model's generation_config, else 1.0)"},
      {"top-p", true, "nucleus sampling mass"},
      {"top-k", true, "sample among the k most likely tokens (0 = off)"},
      {"min-p", true, "drop tokens below min_p times the top probability"},
      {"n", true, "sequences returned per prompt"},
      {"sampling-seed", true, "per-request sampling seed"},
      {"ignore-eos", false, "keep generating after EOS"},
      {"sampling-params", true, "JSON object of vLLM SamplingParams fields applied to every prompt"},
      {"reasoning-parser", true, "split <think> output into reasoning_content/content: deepseek_r1 or qwen3"},
      {"json", false, "print one JSON object per prompt"},
      {"help", false, "show this help"},
  });
  return specs;
}

struct PromptLine {
  engine::Prompt prompt;
  std::optional<json> sampling_params;
};

absl::StatusOr<PromptLine> ParsePromptLine(const std::string& where, const std::string& line, bool chat_only) {
  ordered_json j = ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError(absl::StrFormat("%s: not a JSON object", where));
  PromptLine out;
  int kinds = 0;
  if (auto it = j.find("messages"); it != j.end()) {
    if (!it->is_array()) return absl::InvalidArgumentError(absl::StrFormat("%s: \"messages\" must be a list", where));
    out.prompt = engine::Prompt::Chat(*it);
    ++kinds;
  }
  if (!chat_only) {
    if (auto it = j.find("prompt"); it != j.end()) {
      if (!it->is_string()) return absl::InvalidArgumentError(absl::StrFormat("%s: \"prompt\" must be a string", where));
      out.prompt = engine::Prompt::Text(it->get<std::string>());
      ++kinds;
    }
    if (auto it = j.find("prompt_token_ids"); it != j.end()) {
      if (!it->is_array())
        return absl::InvalidArgumentError(absl::StrFormat("%s: expected \"prompt_token_ids\": [integers]", where));
      std::vector<int32_t> ids;
      for (const auto& v : *it) {
        if (!v.is_number_integer())
          return absl::InvalidArgumentError(absl::StrFormat("%s: prompt_token_ids holds a non-integer", where));
        ids.push_back(v.get<int32_t>());
      }
      out.prompt = engine::Prompt::Ids(std::move(ids));
      ++kinds;
    }
  }
  if (kinds != 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        chat_only ? "%s: expected {\"messages\": [...]}"
                  : "%s: expected exactly one of \"prompt\", \"prompt_token_ids\" or \"messages\"",
        where));
  }
  if (auto it = j.find("sampling_params"); it != j.end()) out.sampling_params = json::parse(it->dump());
  return out;
}

absl::Status ReadJsonl(const std::string& path, bool chat_only, std::vector<PromptLine>& lines) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrFormat("cannot open %s", path));
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    ASSIGN_OR_RETURN(PromptLine parsed, ParsePromptLine(absl::StrFormat("%s:%d", path, line_no), line, chat_only));
    lines.push_back(std::move(parsed));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PromptLine>> ReadPrompts(const CommandLine& flags) {
  std::vector<PromptLine> lines;
  if (flags.Has("prompt")) lines.push_back({engine::Prompt::Text(flags.GetString("prompt")), std::nullopt});
  if (flags.Has("prompt-ids")) {
    ASSIGN_OR_RETURN(auto ids, ParseIntList(flags.GetString("prompt-ids"), "--prompt-ids"));
    lines.push_back({engine::Prompt::Ids(std::move(ids)), std::nullopt});
  }
  if (flags.Has("input")) RETURN_IF_ERROR(ReadJsonl(flags.GetString("input"), /*chat_only=*/false, lines));
  if (flags.Has("chat")) RETURN_IF_ERROR(ReadJsonl(flags.GetString("chat"), /*chat_only=*/true, lines));
  if (lines.empty()) return absl::InvalidArgumentError("give --prompt, --prompt-ids, --input FILE.jsonl or --chat FILE.jsonl");
  return lines;
}

// Flags override the model's defaults; a JSON object (--sampling-params, then a line's own) overrides the flags.
absl::StatusOr<engine::SamplingParams> BaseSamplingParams(const CommandLine& flags, engine::SamplingParams p) {
  ASSIGN_OR_RETURN(int64_t max_tokens, flags.GetInt("max-tokens", 16));
  p.max_tokens = static_cast<int>(max_tokens);
  ASSIGN_OR_RETURN(double temperature, flags.GetDouble("temperature", p.temperature));
  ASSIGN_OR_RETURN(double top_p, flags.GetDouble("top-p", p.top_p));
  ASSIGN_OR_RETURN(int64_t top_k, flags.GetInt("top-k", p.top_k));
  ASSIGN_OR_RETURN(double min_p, flags.GetDouble("min-p", p.min_p));
  ASSIGN_OR_RETURN(int64_t n, flags.GetInt("n", p.n));
  ASSIGN_OR_RETURN(auto seed, flags.GetOptionalInt("sampling-seed"));
  p.temperature = static_cast<float>(temperature);
  p.top_p = static_cast<float>(top_p);
  p.top_k = static_cast<int>(top_k);
  p.min_p = static_cast<float>(min_p);
  p.n = static_cast<int>(n);
  if (seed) p.seed = static_cast<uint64_t>(*seed);
  if (flags.Has("ignore-eos")) p.ignore_eos = true;
  if (flags.Has("sampling-params")) {
    json j = json::parse(flags.GetString("sampling-params"), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return absl::InvalidArgumentError("--sampling-params is not valid JSON");
    ASSIGN_OR_RETURN(p, engine::SamplingParamsFromJson(j, p));
  }
  return p;
}

json LogprobsJson(const engine::TokenLogprobs& lp) {
  json top = json::array();
  for (const auto& t : lp.top) top.push_back({{"token_id", t.token_id}, {"logprob", t.logprob}});
  return {{"token_id", lp.token_id}, {"logprob", lp.logprob}, {"rank", lp.rank}, {"top_logprobs", top}};
}

json CompletionJson(const engine::CompletionOutput& c, const std::string& reasoning_parser, bool has_text) {
  json j = {{"index", c.index}, {"token_ids", c.token_ids},
            {"finish_reason", std::string(engine::FinishReasonName(c.finish_reason))}};
  if (has_text) j["text"] = c.text;
  if (!c.stop_string.empty()) {
    j["stop_reason"] = c.stop_string;
  } else if (c.stop_token) {
    j["stop_reason"] = *c.stop_token;
  } else {
    j["stop_reason"] = nullptr;
  }
  if (c.cumulative_logprob) {
    j["cumulative_logprob"] = *c.cumulative_logprob;
    json lps = json::array();
    for (const auto& lp : c.logprobs) lps.push_back(LogprobsJson(lp));
    j["logprobs"] = lps;
  }
  if (!reasoning_parser.empty() && has_text) {
    engine::ReasoningSplit split = engine::SplitReasoning(reasoning_parser, c.text);
    j["reasoning_content"] = split.reasoning_content ? json(*split.reasoning_content) : json(nullptr);
    j["content"] = split.content ? json(*split.content) : json(nullptr);
  }
  return j;
}

json RequestJson(const engine::RequestOutput& out, const std::string& reasoning_parser, bool has_text) {
  json j = {{"prompt_token_ids", out.prompt_token_ids}, {"num_cached_tokens", out.num_cached_tokens}};
  // The first sequence's fields sit at the top level, as most callers want exactly one.
  json first = CompletionJson(out.outputs.at(0), reasoning_parser, has_text);
  for (auto& [key, value] : first.items())
    if (key != "index") j[key] = value;
  if (out.outputs.size() > 1) {
    json all = json::array();
    for (const auto& c : out.outputs) all.push_back(CompletionJson(c, reasoning_parser, has_text));
    j["outputs"] = all;
  }
  if (out.prompt_logprobs) {
    json lps = json::array();
    for (const auto& lp : *out.prompt_logprobs) lps.push_back(lp ? LogprobsJson(*lp) : json(nullptr));
    j["prompt_logprobs"] = lps;
  }
  return j;
}

absl::Status Generate(const CommandLine& flags) {
  ASSIGN_OR_RETURN(engine::EngineConfig config, EngineConfigFromFlags(flags));
  ASSIGN_OR_RETURN(std::vector<PromptLine> lines, ReadPrompts(flags));
  const std::string reasoning_parser = flags.GetString("reasoning-parser");
  if (!reasoning_parser.empty()) RETURN_IF_ERROR(engine::ValidateReasoningParser(reasoning_parser));
  ChatTemplateOptions chat_options;
  if (flags.Has("chat-template-kwargs")) {
    chat_options.kwargs = ordered_json::parse(flags.GetString("chat-template-kwargs"), nullptr, false);
    if (chat_options.kwargs.is_discarded() || !chat_options.kwargs.is_object())
      return absl::InvalidArgumentError("--chat-template-kwargs must be a JSON object");
  }

  ASSIGN_OR_RETURN(auto llm, engine::LLM::Create(config));
  LogEngineInfo(llm->engine());
  ASSIGN_OR_RETURN(engine::SamplingParams base, BaseSamplingParams(flags, llm->DefaultSamplingParams()));
  std::vector<engine::Prompt> prompts;
  std::vector<engine::SamplingParams> params;
  for (size_t i = 0; i < lines.size(); ++i) {
    engine::SamplingParams p = base;
    if (lines[i].sampling_params) {
      absl::StatusOr<engine::SamplingParams> own = engine::SamplingParamsFromJson(*lines[i].sampling_params, base);
      if (!own.ok()) return absl::Status(own.status().code(), absl::StrFormat("prompt %d: %s", i, own.status().message()));
      p = *own;
    }
    prompts.push_back(std::move(lines[i].prompt));
    params.push_back(std::move(p));
  }

  ProgressBar bar("Processed prompts", static_cast<int64_t>(prompts.size()));
  auto rates = [](const engine::GenerationProgress& p) {
    const double secs = p.elapsed_seconds > 0 ? p.elapsed_seconds : 1e-9;
    return absl::StrFormat("est. speed input: %.2f toks/s, output: %.2f toks/s", p.prompt_tokens / secs,
                           p.generated_tokens / secs);
  };
  engine::GenerationProgress last;
  ASSIGN_OR_RETURN(auto outputs, llm->Generate(
                                     prompts, params,
                                     [&](const engine::GenerationProgress& p) {
                                       last = p;
                                       bar.Update(p.completed, rates(p));
                                     },
                                     chat_options));
  bar.Finish(rates(last));

  const bool has_text = llm->tokenizer() != nullptr;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const engine::RequestOutput& out = outputs[i];
    if (flags.Has("json")) {
      json j = RequestJson(out, reasoning_parser, has_text);
      if (prompts[i].text) j["prompt"] = *prompts[i].text;
      std::cout << j.dump() << "\n";
      continue;
    }
    for (const engine::CompletionOutput& c : out.outputs) {
      std::cout << "prompt " << i;
      if (out.outputs.size() > 1) std::cout << " #" << c.index;
      std::cout << " (" << out.prompt_token_ids.size() << " tokens) [" << engine::FinishReasonName(c.finish_reason)
                << "]: ";
      if (has_text) {
        std::cout << json(c.text).dump() << "\n";
      } else {
        std::cout << json(c.token_ids).dump() << "\n";
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

int RunGenerate(int argc, char** argv, int first) {
  return RunSubcommand(argc, argv, first, "generate", "--model DIR [flags]", GenerateFlagSpecs(), Generate);
}

}  // namespace tessera::cli
