// A small tessera.v1.Generation client for the router's integration scripts (no grpcurl here): with
// TESSERA_CALL_TARGET set it sends requests to a router or a worker and writes one result line per request; without
// it the test is skipped, so that a plain ctest run passes it by.
//
// Environment:
//   TESSERA_CALL_TARGET        host:port to call (required)
//   TESSERA_CALL_MODE          generate (default), list-models or health
//   TESSERA_CALL_OUTPUT        file for the results (required)
//   TESSERA_CALL_PROMPTS       file, one request per line: "text" for a text prompt, "system<TAB>user" for chat
//   TESSERA_CALL_MODEL         GenerateRequest.model (default empty: the only model)
//   TESSERA_CALL_MAX_TOKENS    default 8
//   TESSERA_CALL_TEMPERATURE   default 0 (greedy)
//   TESSERA_CALL_IGNORE_EOS    1 to generate max_tokens tokens whatever comes
//   TESSERA_CALL_N             sequences per request (default 1; more makes a request run longer; needs a
//                              temperature above 0)
//   TESSERA_CALL_CONCURRENCY   requests in flight at once (default 1)
//   TESSERA_CALL_FIRST_RESPONSE_FILE  created when any request receives its first response
//   TESSERA_CALL_TIMEOUT_S     deadline of each call (default 120)
// Result lines (tab-separated): index, status code name, number of responses, text of sequence 0 (\n and \t
// escaped), message.
// list-models writes one model id per line; health writes SERVING, NOT_SERVING or FAILED.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "services/router/router_metrics.h"
#include "tests/unit/services/router/router_test_support.h"
#include "tessera/v1/generation.grpc.pb.h"

namespace tessera::router {
namespace {

std::string Env(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : std::string(value);
}

int EnvInt(const char* name, int fallback) {
  int value = fallback;
  const std::string text = Env(name);
  if (!text.empty() && !absl::SimpleAtoi(text, &value)) ADD_FAILURE() << name << " is not an integer: " << text;
  return value;
}

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\\') {
      out += "\\\\";
    } else {
      out += c;
    }
  }
  return out;
}

v1::GenerateRequest MakeRequest(const std::string& line, int index) {
  v1::GenerateRequest request;
  request.set_request_id(absl::StrCat("call-", index, "-", ::getpid()));
  request.set_model(Env("TESSERA_CALL_MODEL"));
  const size_t tab = line.find('\t');
  if (tab == std::string::npos) {
    request.set_text(line);
  } else {
    v1::ChatPrompt* chat = request.mutable_chat();
    chat->set_add_generation_prompt(true);
    v1::ChatMessage* system = chat->add_messages();
    system->set_role("system");
    system->set_content(line.substr(0, tab));
    v1::ChatMessage* user = chat->add_messages();
    user->set_role("user");
    user->set_content(line.substr(tab + 1));
  }
  v1::SamplingParameters* sampling = request.mutable_sampling();
  double temperature = 0;
  const std::string temperature_text = Env("TESSERA_CALL_TEMPERATURE");
  if (!temperature_text.empty() && !absl::SimpleAtod(temperature_text, &temperature)) {
    ADD_FAILURE() << "TESSERA_CALL_TEMPERATURE is not a number: " << temperature_text;
  }
  sampling->set_temperature(static_cast<float>(temperature));
  sampling->set_max_tokens(EnvInt("TESSERA_CALL_MAX_TOKENS", 8));
  if (Env("TESSERA_CALL_IGNORE_EOS") == "1") sampling->set_ignore_eos(true);
  if (const int n = EnvInt("TESSERA_CALL_N", 1); n > 1) sampling->set_n(n);
  return request;
}

TEST(GenerationCallTool, Run) {
  const std::string target = Env("TESSERA_CALL_TARGET");
  if (target.empty()) GTEST_SKIP() << "a tool for the integration scripts; set TESSERA_CALL_TARGET to use it";
  const std::string output_path = Env("TESSERA_CALL_OUTPUT");
  ASSERT_FALSE(output_path.empty()) << "set TESSERA_CALL_OUTPUT";
  std::ofstream output(output_path);
  ASSERT_TRUE(output) << "cannot write " << output_path;
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channel);
  const std::string mode = Env("TESSERA_CALL_MODE", "generate");

  if (mode == "health") {
    const testing::Health health = testing::CheckHealth(channel);
    output << (health == testing::Health::kServing      ? "SERVING"
               : health == testing::Health::kNotServing ? "NOT_SERVING"
                                                        : "FAILED")
           << "\n";
    return;
  }
  if (mode == "list-models") {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ListModelsResponse models;
    const grpc::Status status = stub->ListModels(&context, {}, &models);
    ASSERT_TRUE(status.ok()) << status.error_message();
    for (const v1::ModelCard& card : models.models()) output << card.id() << "\n";
    return;
  }
  ASSERT_EQ(mode, "generate");

  std::vector<std::string> lines;
  {
    std::ifstream prompts(Env("TESSERA_CALL_PROMPTS"));
    ASSERT_TRUE(prompts) << "set TESSERA_CALL_PROMPTS to a readable file";
    std::string line;
    while (std::getline(prompts, line)) {
      if (!line.empty()) lines.push_back(line);
    }
  }
  const int concurrency = std::max(1, EnvInt("TESSERA_CALL_CONCURRENCY", 1));
  const int timeout_s = EnvInt("TESSERA_CALL_TIMEOUT_S", 120);
  const std::string first_response_file = Env("TESSERA_CALL_FIRST_RESPONSE_FILE");
  std::vector<std::string> results(lines.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> first_seen{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < lines.size(); i = next++) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
        std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
            stub->Generate(&context, MakeRequest(lines[i], static_cast<int>(i)));
        v1::GenerateResponse response;
        std::string text;
        int count = 0;
        while (reader->Read(&response)) {
          if (count++ == 0 && !first_response_file.empty() && !first_seen.exchange(true)) {
            std::ofstream(first_response_file) << i << "\n";
          }
          for (const v1::SequenceDelta& delta : response.deltas()) {
            if (delta.index() == 0) text += delta.text();
          }
        }
        const grpc::Status status = reader->Finish();
        results[i] = absl::StrCat(i, "\t", std::string(GrpcCodeName(status.error_code())), "\t", count, "\t",
                                  Escape(text), "\t", Escape(status.error_message()));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& result : results) output << result << "\n";
}

}  // namespace
}  // namespace tessera::router
