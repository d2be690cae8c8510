// The worker service end to end in one process: a WorkerServer on 127.0.0.1 with an ephemeral port around the
// tiny-qwen3 fixture, called through real gRPC channels. Streams are checked against the offline LLM; cancellation
// and deadlines must free the engine's KV blocks (observed through GetLoad); the health service must answer.
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/worker/async_engine.h"
#include "services/worker/engine/llm.h"
#include "services/worker/engine/reasoning_parser.h"
#include "services/worker/worker_server.h"
#include "tessera/v1/generation.grpc.pb.h"
#include "tessera/v1/worker.grpc.pb.h"

namespace tessera::worker {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr char kModelName[] = "tiny-qwen3";

engine::EngineConfig Config() {
  engine::EngineConfig config;
  config.model = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-qwen3";
  // Long enough that a request asked for thousands of tokens is surely still running when the test cancels it.
  config.max_model_len = 4096;
  config.kv_cache_memory_bytes = 16ll << 20;
  return config;
}

struct Collected {
  std::vector<v1::GenerateResponse> responses;
  grpc::Status status;

  // Tokens and text of sequence `index`, concatenated over the stream.
  std::vector<int32_t> Tokens(int index = 0) const {
    std::vector<int32_t> ids;
    for (const auto& r : responses)
      for (const auto& d : r.deltas())
        if (d.index() == index) ids.insert(ids.end(), d.token_ids().begin(), d.token_ids().end());
    return ids;
  }
  std::string Text(int index = 0) const {
    std::string text;
    for (const auto& r : responses)
      for (const auto& d : r.deltas())
        if (d.index() == index) text += d.text();
    return text;
  }
  std::string Reasoning(int index = 0) const {
    std::string text;
    for (const auto& r : responses)
      for (const auto& d : r.deltas())
        if (d.index() == index) text += d.reasoning_text();
    return text;
  }
};

class GenerationServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto engine = AsyncEngine::Create(Config());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = engine->release();
    WorkerServerOptions options;
    options.host = "127.0.0.1";
    options.served_model_name = kModelName;
    auto server = WorkerServer::Start(engine_, options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = server->release();
    auto llm = engine::LLM::Create(Config());
    ASSERT_TRUE(llm.ok()) << llm.status();
    llm_ = llm->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete engine_;
    delete llm_;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    generation_ = v1::Generation::NewStub(channel_);
    control_ = v1::WorkerControl::NewStub(channel_);
  }

  Collected Generate(const v1::GenerateRequest& request,
                     std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    grpc::ClientContext context;
    if (timeout) context.set_deadline(std::chrono::system_clock::now() + *timeout);
    Collected out;
    auto reader = generation_->Generate(&context, request);
    v1::GenerateResponse response;
    while (reader->Read(&response)) out.responses.push_back(response);
    out.status = reader->Finish();
    return out;
  }

  v1::LoadReport Load() {
    grpc::ClientContext context;
    v1::LoadReport report;
    EXPECT_TRUE(control_->GetLoad(&context, v1::GetLoadRequest(), &report).ok());
    return report;
  }

  // Polls GetLoad until nothing runs or waits and the KV cache is empty again.
  bool WaitForEmptyEngine() {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < until) {
      v1::LoadReport load = Load();
      if (load.num_running() == 0 && load.num_waiting() == 0 && load.kv_cache_usage() == 0.0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  static v1::GenerateRequest GreedyIds(std::vector<int32_t> ids, int max_tokens) {
    v1::GenerateRequest request;
    request.mutable_token_ids()->mutable_ids()->Assign(ids.begin(), ids.end());
    request.mutable_sampling()->set_temperature(0.0f);
    request.mutable_sampling()->set_max_tokens(max_tokens);
    request.mutable_sampling()->set_ignore_eos(true);
    return request;
  }

  static engine::SamplingParams OfflineGreedy(int max_tokens) {
    engine::SamplingParams params = engine_->default_sampling_params();
    params.temperature = 0.0f;
    params.max_tokens = max_tokens;
    params.ignore_eos = true;
    return params;
  }

  static AsyncEngine* engine_;
  static WorkerServer* server_;
  static engine::LLM* llm_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Generation::Stub> generation_;
  std::unique_ptr<v1::WorkerControl::Stub> control_;
};

AsyncEngine* GenerationServiceTest::engine_ = nullptr;
WorkerServer* GenerationServiceTest::server_ = nullptr;
engine::LLM* GenerationServiceTest::llm_ = nullptr;

TEST_F(GenerationServiceTest, GreedyTokenIdsMatchTheOfflineLLM) {
  const std::vector<int32_t> prompt = {5, 17, 99, 300, 42};
  Collected got = Generate(GreedyIds(prompt, 12));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  auto offline = llm_->Generate(prompt, OfflineGreedy(12));
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_THAT(got.Tokens(), ElementsAreArray(offline->outputs[0].token_ids));

  ASSERT_FALSE(got.responses.empty());
  EXPECT_THAT(got.responses.front().prompt_token_ids(), ElementsAreArray(prompt));
  for (size_t i = 1; i < got.responses.size(); ++i) EXPECT_EQ(got.responses[i].prompt_token_ids_size(), 0);
  const v1::GenerateResponse& last = got.responses.back();
  EXPECT_TRUE(last.finished());
  EXPECT_EQ(last.usage().prompt_tokens(), 5);
  EXPECT_EQ(last.usage().completion_tokens(), 12);
  ASSERT_EQ(last.deltas_size(), 1);
  EXPECT_EQ(last.deltas(0).finish_reason(), v1::FINISH_REASON_LENGTH);
  for (size_t i = 0; i + 1 < got.responses.size(); ++i) EXPECT_FALSE(got.responses[i].finished());
}

TEST_F(GenerationServiceTest, StreamedTextDeltasConcatenateToTheFinalText) {
  v1::GenerateRequest request;
  request.set_model(kModelName);
  request.set_text("Hello world, this is a test");
  request.mutable_sampling()->set_temperature(0.0f);
  request.mutable_sampling()->set_max_tokens(16);
  request.mutable_sampling()->set_ignore_eos(true);
  request.set_echo_prompt_text(true);
  Collected got = Generate(request);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.responses.front().prompt_text(), "Hello world, this is a test");

  auto offline = llm_->Generate({engine::Prompt::Text("Hello world, this is a test")}, {OfflineGreedy(16)});
  ASSERT_TRUE(offline.ok()) << offline.status();
  EXPECT_EQ(got.Text(), (*offline)[0].outputs[0].text);
  EXPECT_THAT(got.Tokens(), ElementsAreArray((*offline)[0].outputs[0].token_ids));
  EXPECT_THAT(got.responses.front().prompt_token_ids(), ElementsAreArray((*offline)[0].prompt_token_ids));
}

TEST_F(GenerationServiceTest, StopStringEndsTheSequenceAndIsNotShown) {
  auto offline = llm_->Generate({engine::Prompt::Text("Once upon a time")}, {OfflineGreedy(24)});
  ASSERT_TRUE(offline.ok()) << offline.status();
  const std::string full = (*offline)[0].outputs[0].text;
  // A stop string of two whole characters from the middle of the greedy text (proto strings must be UTF-8).
  std::vector<size_t> char_starts;
  for (size_t i = 0; i < full.size(); ++i)
    if ((static_cast<unsigned char>(full[i]) & 0xc0) != 0x80) char_starts.push_back(i);
  ASSERT_GE(char_starts.size(), 8u) << full;
  const std::string stop = full.substr(char_starts[4], char_starts[6] - char_starts[4]);
  const std::string expected = full.substr(0, full.find(stop));

  v1::GenerateRequest request;
  request.set_text("Once upon a time");
  request.mutable_sampling()->set_temperature(0.0f);
  request.mutable_sampling()->set_max_tokens(24);
  request.mutable_sampling()->set_ignore_eos(true);
  request.mutable_sampling()->add_stop(stop);
  Collected got = Generate(request);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.Text(), expected);
  const v1::GenerateResponse& last = got.responses.back();
  EXPECT_TRUE(last.finished());
  bool stopped = false;
  for (const auto& r : got.responses)
    for (const auto& d : r.deltas())
      if (d.finish_reason() == v1::FINISH_REASON_STOP) {
        stopped = true;
        EXPECT_EQ(d.stop_string(), stop);
      }
  EXPECT_TRUE(stopped);
  EXPECT_TRUE(WaitForEmptyEngine());
}

TEST_F(GenerationServiceTest, ChatPromptIsRenderedWithTheModelTemplate) {
  v1::GenerateRequest request = GreedyIds({}, 6);
  request.clear_token_ids();
  v1::ChatMessage* message = request.mutable_chat()->add_messages();
  message->set_role("user");
  message->set_content("What is two plus two?");
  request.mutable_chat()->set_add_generation_prompt(true);
  Collected got = Generate(request);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();

  nlohmann::ordered_json messages =
      nlohmann::ordered_json::array({{{"role", "user"}, {"content", "What is two plus two?"}}});
  auto expected_ids = llm_->PromptTokenIds(engine::Prompt::Chat(messages), {});
  ASSERT_TRUE(expected_ids.ok()) << expected_ids.status();
  EXPECT_THAT(got.responses.front().prompt_token_ids(), ElementsAreArray(*expected_ids));
  EXPECT_EQ(got.Tokens().size(), 6u);
  EXPECT_TRUE(got.responses.back().finished());
}

TEST_F(GenerationServiceTest, ReasoningParserSplitsLikeTheOfflineParser) {
  v1::GenerateRequest request = GreedyIds({11, 12, 13}, 10);
  request.set_reasoning_parser("deepseek_r1");
  Collected split = Generate(request);
  ASSERT_TRUE(split.status.ok()) << split.status.error_message();
  request.clear_reasoning_parser();
  Collected plain = Generate(request);
  ASSERT_TRUE(plain.status.ok()) << plain.status.error_message();
  const engine::ReasoningSplit whole = engine::SplitReasoning("deepseek_r1", plain.Text());
  EXPECT_EQ(split.Reasoning(), whole.reasoning_content.value_or(""));
  EXPECT_EQ(split.Text(), whole.content.value_or(""));

  request.set_reasoning_parser("nonsense");
  Collected bad = Generate(request);
  EXPECT_EQ(bad.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.status.error_message(), HasSubstr("reasoning parser"));
}

TEST_F(GenerationServiceTest, NTwoStreamsTwoIndexedSequences) {
  v1::GenerateRequest request = GreedyIds({7, 8, 9}, 5);
  request.mutable_sampling()->set_n(2);
  request.mutable_sampling()->set_temperature(1.0f);
  request.mutable_sampling()->set_seed(1234);
  Collected got = Generate(request);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  std::set<int> indices;
  for (const auto& r : got.responses)
    for (const auto& d : r.deltas()) indices.insert(d.index());
  EXPECT_EQ(indices, (std::set<int>{0, 1}));
  EXPECT_EQ(got.Tokens(0).size(), 5u);
  EXPECT_EQ(got.Tokens(1).size(), 5u);
  EXPECT_EQ(got.responses.back().usage().completion_tokens(), 10);
}

TEST_F(GenerationServiceTest, InvalidSamplingIsInvalidArgumentNamingTheField) {
  v1::GenerateRequest request = GreedyIds({1, 2, 3}, 4);
  request.mutable_sampling()->set_top_p(0.0f);
  Collected got = Generate(request);
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(got.status.error_message(), HasSubstr("top_p"));
  EXPECT_TRUE(got.responses.empty());

  v1::GenerateRequest too_long = GreedyIds({1, 2, 3}, 5000);
  EXPECT_EQ(Generate(too_long).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GenerateRequest no_prompt;
  EXPECT_EQ(Generate(no_prompt).status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GenerateRequest other_model = GreedyIds({1, 2, 3}, 4);
  other_model.set_model("some-other-model");
  EXPECT_EQ(Generate(other_model).status.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GenerationServiceTest, ClientCancellationAbortsTheRequestAndFreesItsBlocks) {
  v1::GenerateRequest request = GreedyIds({3, 1, 4, 1, 5, 9, 2, 6}, 4000);
  request.set_request_id("to-be-cancelled");
  grpc::ClientContext context;
  auto reader = generation_->Generate(&context, request);
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_GT(Load().kv_cache_usage(), 0.0);
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitForEmptyEngine()) << "KV usage stayed at " << Load().kv_cache_usage();
  // The id is free again once the request has been aborted.
  EXPECT_TRUE(Generate(GreedyIds({1, 2}, 2)).status.ok());
}

TEST_F(GenerationServiceTest, ShortDeadlineIsDeadlineExceededAndFreesBlocks) {
  Collected got = Generate(GreedyIds({2, 7, 1, 8, 2, 8}, 4000), std::chrono::milliseconds(300));
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitForEmptyEngine()) << "KV usage stayed at " << Load().kv_cache_usage();
}

TEST_F(GenerationServiceTest, TokenizeDetokenizeRoundTrip) {
  grpc::ClientContext tokenize_context;
  v1::TokenizeRequest tokenize;
  tokenize.set_model(kModelName);
  tokenize.set_text("The quick brown fox");
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(generation_->Tokenize(&tokenize_context, tokenize, &tokens).ok());
  EXPECT_GT(tokens.count(), 0);
  EXPECT_EQ(tokens.count(), tokens.token_ids_size());
  EXPECT_EQ(tokens.max_model_len(), 4096);

  grpc::ClientContext detokenize_context;
  v1::DetokenizeRequest detokenize;
  detokenize.mutable_token_ids()->CopyFrom(tokens.token_ids());
  v1::DetokenizeResponse text;
  ASSERT_TRUE(generation_->Detokenize(&detokenize_context, detokenize, &text).ok());
  EXPECT_EQ(text.text(), "The quick brown fox");

  grpc::ClientContext bad_context;
  detokenize.add_token_ids(1 << 20);
  grpc::Status bad = generation_->Detokenize(&bad_context, detokenize, &text);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("token_ids[" + std::to_string(tokens.count()) + "]"));

  grpc::ClientContext chat_context;
  v1::TokenizeRequest chat;
  v1::ChatMessage* message = chat.mutable_chat()->add_messages();
  message->set_role("user");
  message->set_content("hi");
  chat.mutable_chat()->set_add_generation_prompt(true);
  v1::TokenizeResponse chat_tokens;
  ASSERT_TRUE(generation_->Tokenize(&chat_context, chat, &chat_tokens).ok());
  auto expected = llm_->PromptTokenIds(
      engine::Prompt::Chat(nlohmann::ordered_json::array({{{"role", "user"}, {"content", "hi"}}})), {});
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_THAT(chat_tokens.token_ids(), ElementsAreArray(*expected));
}

TEST_F(GenerationServiceTest, ListModelsNamesTheServedModel) {
  grpc::ClientContext context;
  v1::ListModelsResponse models;
  ASSERT_TRUE(generation_->ListModels(&context, v1::ListModelsRequest(), &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).id(), kModelName);
  EXPECT_EQ(models.models(0).max_model_len(), 4096);
  EXPECT_GT(models.models(0).created(), 0);
}

// grpc.health.v1.Health/Check through a generic call; the response is HealthCheckResponse{status = 1 (SERVING)}.
std::string HealthCheck(const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &queue);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!queue.Next(&tag, &ok) || !ok || !status.ok()) return "error: " + status.error_message();
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return "error: unreadable response";
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return bytes;
}

TEST_F(GenerationServiceTest, HealthCheckIsServing) { EXPECT_EQ(HealthCheck(channel_), std::string("\x08\x01", 2)); }

TEST_F(GenerationServiceTest, LoadReportDescribesTheEngine) {
  v1::LoadReport load = Load();
  EXPECT_EQ(load.model(), kModelName);
  EXPECT_EQ(load.worker_address(), server_->address());
  EXPECT_GT(load.kv_capacity_tokens(), 0);
  EXPECT_EQ(load.max_num_seqs(), 256);
  EXPECT_FALSE(load.draining());
  // Every request so far started from a fresh prefix; repeating one hits the prefix cache.
  const std::vector<int32_t> prompt(40, 77);
  ASSERT_TRUE(Generate(GreedyIds(prompt, 2)).status.ok());
  Collected again = Generate(GreedyIds(prompt, 2));
  ASSERT_TRUE(again.status.ok());
  EXPECT_GT(again.responses.back().usage().cached_prompt_tokens(), 0);
  EXPECT_GT(Load().prefix_cache_hit_rate(), 0.0);
}

TEST_F(GenerationServiceTest, ConcurrentStreamsAllComplete) {
  constexpr int kStreams = 12;
  std::vector<Collected> results(kStreams);
  std::vector<std::thread> threads;
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] { results[i] = Generate(GreedyIds({100 + i, 200 + i, 300 + i}, 10 + i)); });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kStreams; ++i) {
    SCOPED_TRACE(i);
    ASSERT_TRUE(results[i].status.ok()) << results[i].status.error_message();
    EXPECT_EQ(results[i].Tokens().size(), static_cast<size_t>(10 + i));
    EXPECT_TRUE(results[i].responses.back().finished());
    EXPECT_EQ(results[i].responses.back().usage().completion_tokens(), 10 + i);
  }
  EXPECT_TRUE(WaitForEmptyEngine());
}

TEST(WorkerDrainTest, DrainTurnsHealthNotServingAndRefusesNewRequests) {
  auto engine = AsyncEngine::Create(Config());
  ASSERT_TRUE(engine.ok()) << engine.status();
  WorkerServerOptions options;
  options.host = "127.0.0.1";
  options.served_model_name = kModelName;
  auto server = WorkerServer::Start(engine->get(), options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  EXPECT_EQ(HealthCheck(channel), std::string("\x08\x01", 2));

  auto control = v1::WorkerControl::NewStub(channel);
  grpc::ClientContext drain_context;
  v1::DrainResponse drained;
  ASSERT_TRUE(control->Drain(&drain_context, v1::DrainRequest(), &drained).ok());
  EXPECT_EQ(drained.in_flight(), 0);
  EXPECT_EQ(HealthCheck(channel), std::string("\x08\x02", 2));

  auto generation = v1::Generation::NewStub(channel);
  grpc::ClientContext context;
  v1::GenerateRequest request;
  request.mutable_token_ids()->add_ids(1);
  auto reader = generation->Generate(&context, request);
  v1::GenerateResponse response;
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  grpc::ClientContext load_context;
  v1::LoadReport load;
  ASSERT_TRUE(control->GetLoad(&load_context, v1::GetLoadRequest(), &load).ok());
  EXPECT_TRUE(load.draining());
}

}  // namespace
}  // namespace tessera::worker
