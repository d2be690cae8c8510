// `tessera make-model`: writes a complete Hugging Face model folder with random weights (config.json,
// generation_config.json, model.safetensors) for a chosen architecture and size, so that quickstarts, tests and
// benchmarks need no downloads. `--config-only` writes just the configs, for `--load-format dummy` at real sizes.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/command_line.h"
#include "common/generation_config.h"
#include "common/model_config.h"
#include "common/safetensors.h"
#include "common/status_macros.h"
#include "common/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"
#include "services/worker/engine/models/llama.h"
#include "services/worker/engine/weight_source.h"
#include "tools/tessera/commands.h"
#include "tools/tessera/subcommand.h"

namespace tessera::cli {
namespace {

using nlohmann::json;

// Presets mirror the shapes of real checkpoints; the tiny ones match the test fixtures' sizes.
json Preset(const std::string& name) {
  json tiny = {{"vocab_size", 1024},         {"hidden_size", 128},         {"intermediate_size", 384},
               {"num_hidden_layers", 2},     {"num_attention_heads", 4},   {"num_key_value_heads", 2},
               {"max_position_embeddings", 4096}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
               {"hidden_act", "silu"},       {"initializer_range", 0.08},  {"tie_word_embeddings", false},
               {"bos_token_id", 0},          {"eos_token_id", 2},          {"torch_dtype", "float32"},
               {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}};
  if (name == "tiny-llama") return tiny;
  if (name == "tiny-mistral") {
    tiny["architectures"] = {"MistralForCausalLM"};
    tiny["model_type"] = "mistral";
    tiny["sliding_window"] = nullptr;
    return tiny;
  }
  if (name == "tiny-qwen2") {
    tiny["architectures"] = {"Qwen2ForCausalLM"};
    tiny["model_type"] = "qwen2";
    tiny["num_key_value_heads"] = 1;
    tiny["tie_word_embeddings"] = true;
    tiny["rope_theta"] = 1000000.0;
    return tiny;
  }
  if (name == "tiny-qwen3") {
    tiny["architectures"] = {"Qwen3ForCausalLM"};
    tiny["model_type"] = "qwen3";
    tiny["head_dim"] = 64;
    tiny["attention_bias"] = false;
    tiny["rope_theta"] = 1000000.0;
    return tiny;
  }
  if (name == "llama-3.1-8b") {
    return {{"vocab_size", 128256},      {"hidden_size", 4096},        {"intermediate_size", 14336},
            {"num_hidden_layers", 32},   {"num_attention_heads", 32},  {"num_key_value_heads", 8},
            {"max_position_embeddings", 131072}, {"rms_norm_eps", 1e-5}, {"rope_theta", 500000.0},
            {"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                              {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}}},
            {"hidden_act", "silu"},      {"initializer_range", 0.02},  {"tie_word_embeddings", false},
            {"bos_token_id", 128000},    {"eos_token_id", json::array({128001, 128008, 128009})},
            {"torch_dtype", "bfloat16"}, {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}};
  }
  if (name == "llama-3.1-70b") {
    json c = Preset("llama-3.1-8b");
    c["hidden_size"] = 8192;
    c["intermediate_size"] = 28672;
    c["num_hidden_layers"] = 80;
    c["num_attention_heads"] = 64;
    return c;
  }
  if (name == "qwen3-8b") {
    return {{"vocab_size", 151936},      {"hidden_size", 4096},        {"intermediate_size", 12288},
            {"num_hidden_layers", 36},   {"num_attention_heads", 32},  {"num_key_value_heads", 8},
            {"head_dim", 128},           {"max_position_embeddings", 40960}, {"rms_norm_eps", 1e-6},
            {"rope_theta", 1000000.0},   {"hidden_act", "silu"},       {"initializer_range", 0.02},
            {"tie_word_embeddings", false}, {"attention_bias", false}, {"bos_token_id", 151643},
            {"eos_token_id", 151645},    {"torch_dtype", "bfloat16"},  {"architectures", {"Qwen3ForCausalLM"}},
            {"model_type", "qwen3"}};
  }
  return nullptr;
}

const std::vector<std::string> kPresets = {"tiny-llama", "tiny-mistral", "tiny-qwen2", "tiny-qwen3",
                                           "llama-3.1-8b", "llama-3.1-70b", "qwen3-8b"};

std::vector<FlagSpec> MakeModelFlagSpecs() {
  return {
      {"out", true, "folder to write (created; existing model files are replaced)"},
      {"preset", true, absl::StrCat("starting shape: ", absl::StrJoin(kPresets, ", "), " (default tiny-llama)")},
      {"hidden-size", true, "override hidden_size"},
      {"intermediate-size", true, "override intermediate_size"},
      {"num-layers", true, "override num_hidden_layers"},
      {"num-heads", true, "override num_attention_heads"},
      {"num-kv-heads", true, "override num_key_value_heads"},
      {"head-dim", true, "override head_dim"},
      {"vocab-size", true, "override vocab_size"},
      {"max-position-embeddings", true, "override max_position_embeddings"},
      {"dtype", true, "weight type written: float32 (default for tiny presets), bfloat16, float16"},
      {"seed", true, "random seed (default 0)"},
      {"config-only", false, "write config.json and generation_config.json only (for --load-format dummy)"},
      {"tokenizer-from", true, "copy tokenizer.json, tokenizer_config.json (and chat_template.jinja) from this folder"},
      {"help", false, "show this help"},
  };
}

absl::Status WriteJson(const std::filesystem::path& path, const json& j) {
  std::ofstream out(path);
  out << j.dump(2) << "\n";
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

// Copies a tokenizer into the model folder, after checking that every token id it can produce exists in the model.
absl::Status CopyTokenizer(const std::string& from, const std::filesystem::path& dir, const ModelConfig& config) {
  ASSIGN_OR_RETURN(auto tokenizer, Tokenizer::FromFolder(from));
  if (tokenizer->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat("the tokenizer in ", from, " has ", tokenizer->vocab_size(),
                                                   " tokens but the model's vocab_size is ", config.vocab_size,
                                                   "; pass --vocab-size ", tokenizer->vocab_size(), " or more"));
  }
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}) {
    const std::filesystem::path source = std::filesystem::path(from) / name;
    if (!std::filesystem::exists(source)) continue;
    std::error_code ec;
    std::filesystem::copy_file(source, dir / name, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return absl::InternalError(absl::StrCat("cannot copy ", source.string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status MakeModel(const CommandLine& flags) {
  const std::string out_dir = flags.GetString("out");
  if (out_dir.empty()) return absl::InvalidArgumentError("--out DIR is required");
  const std::string preset = flags.GetString("preset", "tiny-llama");
  json config = Preset(preset);
  if (config.is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown --preset '", preset, "'; choose one of ", absl::StrJoin(kPresets, ", ")));
  }
  const std::pair<const char*, const char*> overrides[] = {
      {"hidden-size", "hidden_size"},   {"intermediate-size", "intermediate_size"},
      {"num-layers", "num_hidden_layers"}, {"num-heads", "num_attention_heads"},
      {"num-kv-heads", "num_key_value_heads"}, {"head-dim", "head_dim"},
      {"vocab-size", "vocab_size"},     {"max-position-embeddings", "max_position_embeddings"}};
  for (const auto& [flag, key] : overrides) {
    ASSIGN_OR_RETURN(auto value, flags.GetOptionalInt(flag));
    if (value) config[key] = *value;
  }
  if (flags.Has("dtype")) {
    const std::string dtype = flags.GetString("dtype");
    const auto parsed = DTypeFromTorchName(dtype);
    if (!parsed || !IsFloatingPoint(*parsed) || *parsed == DType::kF64)
      return absl::InvalidArgumentError(absl::StrCat("--dtype '", dtype, "' is not float32, bfloat16 or float16"));
    config["torch_dtype"] = dtype;
  }
  // Validate through the same parser the engine uses, so that a bad override fails here and not at load time.
  ASSIGN_OR_RETURN(ModelConfig model_config, ModelConfig::FromJson(config, "--preset/overrides"));
  ASSIGN_OR_RETURN(int64_t seed, flags.GetInt("seed", 0));

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", out_dir, ": ", ec.message()));
  const std::filesystem::path dir(out_dir);
  RETURN_IF_ERROR(WriteJson(dir / "config.json", config));
  json generation = {{"bos_token_id", config["bos_token_id"]}, {"eos_token_id", config["eos_token_id"]},
                     {"do_sample", false}};
  RETURN_IF_ERROR(WriteJson(dir / "generation_config.json", generation));
  if (flags.Has("tokenizer-from")) RETURN_IF_ERROR(CopyTokenizer(flags.GetString("tokenizer-from"), dir, model_config));
  if (flags.Has("config-only")) {
    std::printf("%s\n", out_dir.c_str());
    return absl::OkStatus();
  }

  // Weights are generated in float32 and converted to the checkpoint dtype before writing.
  engine::DummyWeightSource source(model_config, static_cast<uint64_t>(seed));
  const DType dtype = model_config.torch_dtype;
  std::vector<engine::HostWeight> weights;
  std::vector<std::vector<std::byte>> converted;
  std::vector<TensorToWrite> tensors;
  const auto specs = engine::ListWeights(model_config);
  weights.reserve(specs.size());
  converted.reserve(specs.size());
  for (const engine::WeightSpec& spec : specs) {
    ASSIGN_OR_RETURN(engine::HostWeight w, source.Load(spec.name, spec.shape));
    const void* data = w.data;
    if (dtype != DType::kF32) {
      converted.emplace_back(static_cast<size_t>(w.numel()) * DTypeSize(dtype));
      ConvertFromFloat(static_cast<const float*>(w.data), dtype, converted.back().data(), w.numel());
      data = converted.back().data();
    }
    tensors.push_back({spec.name, dtype, spec.shape, data});
    weights.push_back(std::move(w));
  }
  RETURN_IF_ERROR(WriteSafetensors((dir / "model.safetensors").string(), tensors, {{"format", "pt"}}));
  std::printf("%s\n", out_dir.c_str());
  return absl::OkStatus();
}

}  // namespace

int RunMakeModel(int argc, char** argv, int first) {
  return RunSubcommand(argc, argv, first, "make-model", "--out DIR [flags]", MakeModelFlagSpecs(), MakeModel);
}

}  // namespace tessera::cli
