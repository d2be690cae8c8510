#include "common/model_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/generation_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using nlohmann::json;

std::string FixtureModel(const std::string& name) { return std::string(TESSERA_FIXTURES_DIR) + "/models/" + name; }

ModelConfig LoadFixture(const std::string& name) {
  absl::StatusOr<ModelConfig> config = LoadModelConfig(FixtureModel(name));
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : ModelConfig{};
}

json Minimal() {
  return json{{"vocab_size", 1000},       {"hidden_size", 64},       {"intermediate_size", 128},
              {"num_hidden_layers", 2},   {"num_attention_heads", 8}};
}

std::string ErrorOf(const json& j) {
  absl::StatusOr<ModelConfig> config = ModelConfig::FromJson(j, "my/config.json");
  EXPECT_FALSE(config.ok()) << j.dump();
  if (config.ok()) return "";
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("my/config.json"));
  return std::string(config.status().message());
}

void ExpectSameConfig(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.architecture, b.architecture);
  EXPECT_EQ(a.model_type, b.model_type);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.hidden_size, b.hidden_size);
  EXPECT_EQ(a.intermediate_size, b.intermediate_size);
  EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers);
  EXPECT_EQ(a.num_attention_heads, b.num_attention_heads);
  EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads);
  EXPECT_EQ(a.head_dim, b.head_dim);
  EXPECT_EQ(a.max_position_embeddings, b.max_position_embeddings);
  EXPECT_EQ(a.rms_norm_eps, b.rms_norm_eps);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  ASSERT_EQ(a.rope_scaling.has_value(), b.rope_scaling.has_value());
  if (a.rope_scaling) {
    EXPECT_EQ(a.rope_scaling->rope_type, b.rope_scaling->rope_type);
    EXPECT_EQ(a.rope_scaling->factor, b.rope_scaling->factor);
    EXPECT_EQ(a.rope_scaling->low_freq_factor, b.rope_scaling->low_freq_factor);
    EXPECT_EQ(a.rope_scaling->high_freq_factor, b.rope_scaling->high_freq_factor);
    EXPECT_EQ(a.rope_scaling->original_max_position_embeddings, b.rope_scaling->original_max_position_embeddings);
  }
  EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings);
  EXPECT_EQ(a.attention_bias, b.attention_bias);
  EXPECT_EQ(a.sliding_window, b.sliding_window);
  EXPECT_EQ(a.hidden_act, b.hidden_act);
  EXPECT_EQ(a.torch_dtype, b.torch_dtype);
  EXPECT_EQ(a.bos_token_id, b.bos_token_id);
  EXPECT_EQ(a.eos_token_ids, b.eos_token_ids);
}

TEST(ModelConfigFixtureTest, TinyLlama) {
  ModelConfig c = LoadFixture("tiny-llama");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.vocab_size, 1024);
  EXPECT_EQ(c.hidden_size, 128);
  EXPECT_EQ(c.intermediate_size, 384);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_FALSE(c.rope_scaling.has_value());
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.sliding_window.has_value());
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_EQ(c.torch_dtype, DType::kF32);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_THAT(c.eos_token_ids, ElementsAre(2));
  EXPECT_EQ(c.raw["initializer_range"], 0.08);
}

TEST(ModelConfigFixtureTest, TinyLlama31HasLlama3RopeScaling) {
  ModelConfig c = LoadFixture("tiny-llama31");
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  ASSERT_TRUE(c.rope_scaling.has_value());
  EXPECT_EQ(c.rope_scaling->rope_type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling->factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling->low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_scaling->high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling->original_max_position_embeddings, 256);
}

TEST(ModelConfigFixtureTest, TinyQwen2HasTiedEmbeddingsAndBias) {
  ModelConfig c = LoadFixture("tiny-qwen2");
  EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1000000.0);
  EXPECT_FALSE(c.sliding_window.has_value());
}

TEST(ModelConfigFixtureTest, TinyQwen3HasExplicitHeadDim) {
  ModelConfig c = LoadFixture("tiny-qwen3");
  EXPECT_EQ(c.architecture, "Qwen3ForCausalLM");
  EXPECT_EQ(c.model_type, "qwen3");
  EXPECT_EQ(c.head_dim, 64);  // not hidden_size / heads (32)
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(ModelConfigFixtureTest, EveryFixtureRoundTripsThroughToJson) {
  for (const char* name : {"tiny-llama", "tiny-llama31", "tiny-qwen2", "tiny-qwen3"}) {
    SCOPED_TRACE(name);
    ModelConfig c = LoadFixture(name);
    absl::StatusOr<ModelConfig> again = ModelConfig::FromJson(c.ToJson(), "round trip");
    ASSERT_TRUE(again.ok()) << again.status();
    ExpectSameConfig(c, *again);
    EXPECT_EQ(again->raw["initializer_range"], 0.08);  // unknown keys survive
  }
}

TEST(ModelConfigTest, ModifiedConfigRoundTrips) {
  absl::StatusOr<ModelConfig> parsed = ModelConfig::FromJson(Minimal(), "m");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ModelConfig c = *parsed;
  c.architecture = "MistralForCausalLM";
  c.model_type = "mistral";
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.sliding_window = 4096;
  c.torch_dtype = DType::kBF16;
  c.rope_scaling = RopeScaling{"linear", 2.0, 1.0, 4.0, 0};
  c.eos_token_ids = {5, 7};
  c.bos_token_id = std::nullopt;
  c.tie_word_embeddings = true;
  json j = c.ToJson();
  EXPECT_EQ(j["torch_dtype"], "bfloat16");
  EXPECT_EQ(j["eos_token_id"], json::array({5, 7}));
  EXPECT_EQ(j["architectures"], json::array({"MistralForCausalLM"}));
  absl::StatusOr<ModelConfig> again = ModelConfig::FromJson(j, "round trip");
  ASSERT_TRUE(again.ok()) << again.status();
  ExpectSameConfig(c, *again);

  // A default-constructed config (as `tessera make-model` builds one) serializes too.
  ModelConfig fresh;
  fresh.vocab_size = 10;
  fresh.hidden_size = 8;
  fresh.intermediate_size = 16;
  fresh.num_hidden_layers = 1;
  fresh.num_attention_heads = 2;
  fresh.num_key_value_heads = 1;
  fresh.head_dim = 4;
  absl::StatusOr<ModelConfig> fresh_again = ModelConfig::FromJson(fresh.ToJson(), "fresh");
  ASSERT_TRUE(fresh_again.ok()) << fresh_again.status();
  ExpectSameConfig(fresh, *fresh_again);
}

TEST(ModelConfigTest, AppliesTransformersDefaults) {
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(Minimal(), "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope_theta, 10000.0);
  EXPECT_EQ(c->max_position_embeddings, 2048);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_FALSE(c->attention_bias);
  EXPECT_EQ(c->hidden_act, "silu");
  EXPECT_EQ(c->torch_dtype, DType::kF32);
  EXPECT_FALSE(c->rope_scaling.has_value());
  EXPECT_FALSE(c->sliding_window.has_value());
  EXPECT_FALSE(c->bos_token_id.has_value());
  EXPECT_TRUE(c->eos_token_ids.empty());
  EXPECT_TRUE(c->architecture.empty());
}

TEST(ModelConfigTest, Qwen2AlwaysHasAttentionBias) {
  json j = Minimal();
  j["model_type"] = "qwen2";
  j["attention_bias"] = false;
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->attention_bias);
}

TEST(ModelConfigTest, RopeScalingAcceptsOldTypeKeyAndNull) {
  json j = Minimal();
  j["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2}};
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(c->rope_scaling->rope_type, "dynamic");
  EXPECT_DOUBLE_EQ(c->rope_scaling->factor, 2.0);

  j["rope_scaling"] = nullptr;
  c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->rope_scaling.has_value());
}

TEST(ModelConfigTest, YarnParameters) {
  json j = Minimal();
  j["rope_scaling"] = {{"rope_type", "yarn"},
                       {"factor", 4.0},
                       {"original_max_position_embeddings", 32768},
                       {"beta_fast", 16},
                       {"attention_factor", 1.2}};
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->rope_scaling->rope_type, "yarn");
  EXPECT_DOUBLE_EQ(c->rope_scaling->beta_fast, 16.0);
  EXPECT_DOUBLE_EQ(c->rope_scaling->beta_slow, 1.0);
  EXPECT_EQ(c->rope_scaling->attention_factor, 1.2);
  absl::StatusOr<ModelConfig> again = ModelConfig::FromJson(c->ToJson(), "again");
  ASSERT_TRUE(again.ok());
  EXPECT_DOUBLE_EQ(again->rope_scaling->beta_fast, 16.0);
  EXPECT_EQ(again->rope_scaling->attention_factor, 1.2);
}

TEST(ModelConfigTest, TransformersFiveRopeParameters) {
  json j = Minimal();
  j["rope_parameters"] = {{"rope_type", "llama3"},        {"rope_theta", 500000.0},
                          {"factor", 8.0},                {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0},      {"original_max_position_embeddings", 8192}};
  j["dtype"] = "bfloat16";
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
  ASSERT_TRUE(c->rope_scaling.has_value());
  EXPECT_EQ(c->rope_scaling->rope_type, "llama3");
  EXPECT_EQ(c->rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_EQ(c->torch_dtype, DType::kBF16);

  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1e6}};
  c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->rope_theta, 1e6);
  EXPECT_FALSE(c->rope_scaling.has_value());
}

TEST(ModelConfigTest, SlidingWindow) {
  json j = Minimal();
  j["sliding_window"] = 4096;  // Mistral: no use_sliding_window key
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->sliding_window, 4096);

  j["use_sliding_window"] = false;  // Qwen2 ships a window but disables it
  c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->sliding_window.has_value());

  j["use_sliding_window"] = true;
  j["sliding_window"] = nullptr;
  c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->sliding_window.has_value());
}

TEST(ModelConfigTest, EosTokenListAndDtypes) {
  json j = Minimal();
  j["eos_token_id"] = {128001, 128008, 128009};
  j["bos_token_id"] = 128000;
  j["torch_dtype"] = "float16";
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->eos_token_ids, ElementsAre(128001, 128008, 128009));
  EXPECT_EQ(c->bos_token_id, 128000);
  EXPECT_EQ(c->torch_dtype, DType::kF16);

  j["torch_dtype"] = "float8_e4m3fn";
  EXPECT_THAT(ErrorOf(j), HasSubstr("torch_dtype"));
}

TEST(ModelConfigTest, MissingRequiredKeyNamesKeyAndFile) {
  for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                          "num_attention_heads"}) {
    json j = Minimal();
    j.erase(key);
    EXPECT_THAT(ErrorOf(j), HasSubstr(key));
  }
}

TEST(ModelConfigTest, NonPositiveValuesAreErrors) {
  json j = Minimal();
  j["hidden_size"] = 0;
  EXPECT_THAT(ErrorOf(j), HasSubstr("hidden_size"));
  j = Minimal();
  j["num_key_value_heads"] = -2;
  EXPECT_THAT(ErrorOf(j), HasSubstr("num_key_value_heads"));
  j = Minimal();
  j["rms_norm_eps"] = 0.0;
  EXPECT_THAT(ErrorOf(j), HasSubstr("rms_norm_eps"));
}

TEST(ModelConfigTest, WrongTypesNameKeyAndFile) {
  json j = Minimal();
  j["hidden_size"] = "64";
  EXPECT_THAT(ErrorOf(j), HasSubstr("hidden_size"));
  j = Minimal();
  j["tie_word_embeddings"] = "yes";
  EXPECT_THAT(ErrorOf(j), HasSubstr("tie_word_embeddings"));
  j = Minimal();
  j["rope_theta"] = "big";
  EXPECT_THAT(ErrorOf(j), HasSubstr("rope_theta"));
  j = Minimal();
  j["eos_token_id"] = {1, "two"};
  EXPECT_THAT(ErrorOf(j), HasSubstr("eos_token_id"));
  j = Minimal();
  j["rope_scaling"] = 3;
  EXPECT_THAT(ErrorOf(j), HasSubstr("rope_scaling"));
  j = Minimal();
  j["architectures"] = "LlamaForCausalLM";
  EXPECT_THAT(ErrorOf(j), HasSubstr("architectures"));
  j = Minimal();
  j["num_hidden_layers"] = 2.5;
  EXPECT_THAT(ErrorOf(j), HasSubstr("num_hidden_layers"));
  EXPECT_THAT(ErrorOf(json::array({1, 2})), HasSubstr("object"));
}

TEST(ModelConfigTest, IntegralFloatsAreAccepted) {
  json j = Minimal();
  j["max_position_embeddings"] = 4096.0;
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_position_embeddings, 4096);
}

TEST(ModelConfigTest, HeadDivisibility) {
  json j = Minimal();
  j["num_key_value_heads"] = 3;
  EXPECT_THAT(ErrorOf(j), HasSubstr("num_key_value_heads"));

  j = Minimal();
  j["num_attention_heads"] = 6;  // 64 % 6 != 0
  EXPECT_THAT(ErrorOf(j), HasSubstr("head_dim"));

  j["head_dim"] = 16;  // an explicit head_dim makes the split irrelevant
  absl::StatusOr<ModelConfig> c = ModelConfig::FromJson(j, "m");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 16);
}

TEST(ModelConfigTest, Llama3RopeNeedsOriginalContext) {
  json j = Minimal();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  EXPECT_THAT(ErrorOf(j), HasSubstr("original_max_position_embeddings"));
}

class ModelFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("tessera_model_config_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream((dir_ / name).string(), std::ios::binary) << text;
  }
  fs::path dir_;
};

TEST_F(ModelFolderTest, MissingConfigIsNotFoundNamingFolder) {
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir_.string());
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsNotFound(c.status()));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr(dir_.string()));
}

TEST_F(ModelFolderTest, MalformedConfigNamesFile) {
  Write("config.json", "{\"vocab_size\": 12,");
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir_.string());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("config.json"));
}

TEST_F(ModelFolderTest, WrongTypeInFileNamesKeyAndFile) {
  json j = Minimal();
  j["num_attention_heads"] = {8};
  Write("config.json", j.dump());
  absl::StatusOr<ModelConfig> c = LoadModelConfig(dir_.string());
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr((dir_ / "config.json").string()));
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("num_attention_heads"));
}

// ----- GenerationConfig -----

TEST(GenerationConfigTest, FixtureParses) {
  absl::StatusOr<GenerationConfig> g = LoadGenerationConfig(FixtureModel("tiny-llama"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->bos_token_id, 0);
  EXPECT_THAT(g->eos_token_ids, ElementsAre(2));
  EXPECT_EQ(g->do_sample, false);
  EXPECT_FALSE(g->temperature.has_value());
  EXPECT_FALSE(g->pad_token_id.has_value());
}

TEST_F(ModelFolderTest, MissingGenerationConfigGivesDefaults) {
  absl::StatusOr<GenerationConfig> g = LoadGenerationConfig(dir_.string());
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_FALSE(g->bos_token_id.has_value());
  EXPECT_TRUE(g->eos_token_ids.empty());
  EXPECT_FALSE(g->do_sample.has_value());
  EXPECT_TRUE(g->raw.is_object());
}

TEST_F(ModelFolderTest, MalformedGenerationConfigNamesFile) {
  Write("generation_config.json", "not json");
  absl::StatusOr<GenerationConfig> g = LoadGenerationConfig(dir_.string());
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("generation_config.json"));
}

TEST(GenerationConfigTest, AllFieldsAndRoundTrip) {
  json j = {{"bos_token_id", 1},  {"eos_token_id", {7, 8}}, {"pad_token_id", 0},        {"temperature", 0.6},
            {"top_p", 0.9},       {"top_k", 20},            {"repetition_penalty", 1.1}, {"max_new_tokens", 512},
            {"do_sample", true},  {"transformers_version", "4.45.0"}};
  absl::StatusOr<GenerationConfig> g = GenerationConfig::FromJson(j, "gen.json");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->bos_token_id, 1);
  EXPECT_THAT(g->eos_token_ids, ElementsAre(7, 8));
  EXPECT_EQ(g->pad_token_id, 0);
  EXPECT_EQ(g->temperature, 0.6);
  EXPECT_EQ(g->top_p, 0.9);
  EXPECT_EQ(g->top_k, 20);
  EXPECT_EQ(g->repetition_penalty, 1.1);
  EXPECT_EQ(g->max_new_tokens, 512);
  EXPECT_EQ(g->do_sample, true);
  EXPECT_EQ(g->ToJson(), j);

  GenerationConfig changed = *g;
  changed.temperature.reset();
  changed.eos_token_ids = {9};
  json out = changed.ToJson();
  EXPECT_FALSE(out.contains("temperature"));
  EXPECT_EQ(out["eos_token_id"], 9);
  EXPECT_EQ(out["transformers_version"], "4.45.0");
}

TEST(GenerationConfigTest, BadValuesNameKeyAndFile) {
  for (const json& j : {json{{"temperature", "hot"}}, json{{"top_p", 1.5}}, json{{"top_k", -1}},
                        json{{"do_sample", 1}}, json{{"eos_token_id", "2"}}, json{{"max_new_tokens", 0}}}) {
    absl::StatusOr<GenerationConfig> g = GenerationConfig::FromJson(j, "gen.json");
    ASSERT_FALSE(g.ok()) << j.dump();
    EXPECT_THAT(std::string(g.status().message()), HasSubstr("gen.json"));
    EXPECT_THAT(std::string(g.status().message()), HasSubstr(j.begin().key()));
  }
}

}  // namespace
}  // namespace tessera
