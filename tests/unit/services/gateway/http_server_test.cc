// Drives the gateway over real loopback HTTP against a test double of tessera.v1.Generation (an in-process gRPC
// server that streams fixed deltas), so the gateway is tested in isolation from the router and the workers.
#include "services/gateway/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace tessera::gateway {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// Serves models "tiny", "busy" and "hang". Generate: model "busy": RESOURCE_EXHAUSTED; model "hang": one delta, then
// waits until the call is cancelled; any other model: "Hello" + " world" then a final message with usage.
// Tokenize: one id per byte of the text (chat: of the last message); Detokenize: the bytes back.
class ScriptedGeneration final : public v1::Generation::Service {
 public:
  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_request_ = *request;
    }
    if (request->model() == "busy") return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue is full");
    v1::GenerateResponse response;
    response.set_request_id(request->request_id());
    v1::SequenceDelta* delta = response.add_deltas();
    delta->set_text("Hello");
    delta->add_token_ids(1);
    writer->Write(response);
    if (request->model() == "hang") {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        hang_started_ = true;
      }
      changed_.notify_all();
      while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      {
        std::lock_guard<std::mutex> lock(mutex_);
        hang_cancelled_ = true;
      }
      changed_.notify_all();
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    response.Clear();
    delta = response.add_deltas();
    delta->set_text(" world");
    delta->add_token_ids(2);
    delta->set_finish_reason(v1::FINISH_REASON_STOP);
    response.set_finished(true);
    response.mutable_usage()->set_prompt_tokens(3);
    response.mutable_usage()->set_completion_tokens(2);
    writer->Write(response);
    return grpc::Status::OK;
  }

  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                          v1::ListModelsResponse* response) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++list_models_calls_;
    if (!lists_models_) return grpc::Status::OK;
    for (const char* id : {"tiny", "busy", "hang"}) {
      v1::ModelCard* card = response->add_models();
      card->set_id(id);
      card->set_created(1);
      card->set_max_model_len(128);
    }
    return grpc::Status::OK;
  }

  grpc::Status Tokenize(grpc::ServerContext*, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_tokenize_ = *request;
    }
    const std::string text = request->has_chat() ? request->chat().messages().rbegin()->content() : request->text();
    for (unsigned char byte : text) response->add_token_ids(byte);
    response->set_count(static_cast<int>(text.size()));
    response->set_max_model_len(128);
    return grpc::Status::OK;
  }

  grpc::Status Detokenize(grpc::ServerContext*, const v1::DetokenizeRequest* request,
                          v1::DetokenizeResponse* response) override {
    std::string text;
    for (int32_t id : request->token_ids()) text += static_cast<char>(id);
    response->set_text(text);
    return grpc::Status::OK;
  }

  // Bounded waits, so that a broken gateway fails the test instead of hanging it.
  bool WaitForHangStarted() {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(30), [this] { return hang_started_; });
  }
  bool WaitForHangCancelled() {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(30), [this] { return hang_cancelled_; });
  }
  v1::GenerateRequest last_request() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_request_;
  }
  v1::TokenizeRequest last_tokenize() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_tokenize_;
  }
  int list_models_calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return list_models_calls_;
  }
  // As a router whose workers are all unhealthy: the list is empty.
  void set_lists_models(bool lists_models) {
    std::lock_guard<std::mutex> lock(mutex_);
    lists_models_ = lists_models;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool hang_started_ = false;
  bool hang_cancelled_ = false;
  v1::GenerateRequest last_request_;
  v1::TokenizeRequest last_tokenize_;
  int list_models_calls_ = 0;
  bool lists_models_ = true;
};

struct HttpReply {
  int status = 0;
  std::string headers;
  std::string body;  // de-chunked
};

int Connect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

std::string Dechunk(const std::string& body) {
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t line_end = body.find("\r\n", pos);
    if (line_end == std::string::npos) break;
    const size_t size = std::stoul(body.substr(pos, line_end - pos), nullptr, 16);
    if (size == 0) break;
    out += body.substr(line_end + 2, size);
    pos = line_end + 2 + size + 2;
  }
  return out;
}

// One request on its own connection ("Connection: close"), read until the server closes.
HttpReply Exchange(uint16_t port, const std::string& method, const std::string& path, const std::string& body,
                   const std::string& extra_headers = "") {
  HttpReply reply;
  const int fd = Connect(port);
  if (fd < 0) return reply;
  SendAll(fd, method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: " +
                  "application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers +
                  "\r\n" + body);
  std::string raw;
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t header_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || header_end == std::string::npos) return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  reply.headers = raw.substr(0, header_end);
  reply.body = raw.substr(header_end + 4);
  if (reply.headers.find("Transfer-Encoding: chunked") != std::string::npos) reply.body = Dechunk(reply.body);
  return reply;
}

class GatewayHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int backend_port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &backend_port);
    builder.RegisterService(&backend_);
    backend_server_ = builder.BuildAndStart();
    ASSERT_NE(backend_server_, nullptr);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(backend_port), grpc::InsecureChannelCredentials());
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.api_keys = {"sk-test"};
    options.cors_origins = {"*"};
    options.reasoning_parser = "qwen3";
    options.max_body_bytes = 4096;
    options.model_list_max_age = absl::Minutes(10);
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(options, v1::Generation::NewStub(channel));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    port_ = server_->port();
  }

  void TearDown() override {
    if (server_) server_->Stop();
    if (backend_server_) backend_server_->Shutdown();
  }

  HttpReply Post(const std::string& path, const std::string& body) {
    return Exchange(port_, "POST", path, body, "Authorization: Bearer sk-test\r\n");
  }

  ScriptedGeneration backend_;
  std::unique_ptr<grpc::Server> backend_server_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(GatewayHttpTest, NonStreamingChatCompletion) {
  const HttpReply reply =
      Post("/v1/chat/completions", R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],"seed":7})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_THAT(reply.headers, HasSubstr("Access-Control-Allow-Origin: *"));
  const Json body = Json::parse(reply.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "tiny");
  EXPECT_THAT(body["id"].get<std::string>(), ::testing::StartsWith("chatcmpl-"));
  EXPECT_EQ(body["choices"][0]["message"]["content"], "Hello world");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"]["total_tokens"], 5);
  const v1::GenerateRequest sent = backend_.last_request();
  EXPECT_EQ(sent.request_id(), body["id"].get<std::string>());
  EXPECT_EQ(sent.sampling().seed(), 7u);
  EXPECT_EQ(sent.chat().messages(0).content(), "hi");
}

TEST_F(GatewayHttpTest, MetricsCountEveryRequestWithoutAuthentication) {
  ASSERT_EQ(Post("/v1/chat/completions", R"({"model":"tiny","messages":[{"role":"user","content":"hi"}]})").status,
            200);
  ASSERT_EQ(Exchange(port_, "GET", "/v1/models", "").status, 401);
  ASSERT_EQ(Exchange(port_, "GET", "/no/such/route", "", "Authorization: Bearer sk-test\r\n").status, 404);
  const HttpReply reply = Exchange(port_, "GET", "/metrics", "");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_THAT(reply.headers, HasSubstr("Content-Type: text/plain; version=0.0.4"));
  EXPECT_THAT(reply.body, HasSubstr(
      "http_requests_total{handler=\"/v1/chat/completions\",method=\"POST\",status=\"200\"} 1\n"));
  EXPECT_THAT(reply.body, HasSubstr("http_requests_total{handler=\"/v1/models\",method=\"GET\",status=\"401\"} 1\n"));
  EXPECT_THAT(reply.body, HasSubstr("http_requests_total{handler=\"other\",method=\"GET\",status=\"404\"} 1\n"));
  EXPECT_THAT(reply.body, HasSubstr("http_request_duration_seconds_count{handler=\"/v1/chat/completions\"} 1\n"));
  EXPECT_THAT(reply.body, HasSubstr("process_cpu_seconds_total "));
}

TEST_F(GatewayHttpTest, StreamingChatCompletionAsServerSentEvents) {
  const HttpReply reply = Post("/v1/chat/completions", R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],
                                 "stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  EXPECT_THAT(reply.headers, HasSubstr("Content-Type: text/event-stream"));
  std::vector<std::string> payloads;
  size_t pos = 0;
  while ((pos = reply.body.find("data: ", pos)) != std::string::npos) {
    const size_t end = reply.body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    payloads.push_back(reply.body.substr(pos + 6, end - pos - 6));
    pos = end + 2;
  }
  ASSERT_EQ(payloads.size(), 5u) << reply.body;
  EXPECT_EQ(payloads.back(), "[DONE]");
  std::string content;
  for (size_t i = 0; i + 2 < payloads.size(); ++i) {
    const Json chunk = Json::parse(payloads[i]);
    EXPECT_EQ(chunk["object"], "chat.completion.chunk");
    if (i == 0) EXPECT_EQ(chunk["choices"][0]["delta"]["role"], "assistant");
    content += chunk["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(content, "Hello world");
  EXPECT_EQ(Json::parse(payloads[2])["choices"][0]["finish_reason"], "stop");
  const Json usage = Json::parse(payloads[3]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 2);
}

TEST_F(GatewayHttpTest, CompletionsAndModels) {
  const HttpReply completion = Post("/v1/completions", R"({"model":"tiny","prompt":"x"})");
  ASSERT_EQ(completion.status, 200) << completion.body;
  EXPECT_EQ(Json::parse(completion.body)["choices"][0]["text"], "Hello world");
  EXPECT_EQ(backend_.last_request().sampling().max_tokens(), 16);
  const HttpReply models = Exchange(port_, "GET", "/v1/models", "", "Authorization: Bearer sk-test\r\n");
  ASSERT_EQ(models.status, 200) << models.body;
  EXPECT_EQ(Json::parse(models.body)["data"][0]["id"], "tiny");
}

TEST_F(GatewayHttpTest, MissingOrWrongKeyIs401ButHealthIsOpen) {
  const std::string body = R"({"messages":[{"role":"user","content":"hi"}]})";
  const HttpReply missing = Exchange(port_, "POST", "/v1/chat/completions", body);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(Json::parse(missing.body)["error"]["code"], 401);
  EXPECT_EQ(Exchange(port_, "POST", "/v1/chat/completions", body, "Authorization: Bearer nope\r\n").status, 401);
  EXPECT_EQ(Exchange(port_, "GET", "/health", "").status, 200);
}

TEST_F(GatewayHttpTest, InvalidParameterIs400) {
  const HttpReply reply = Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}],"n":0})");
  ASSERT_EQ(reply.status, 400);
  const Json error = Json::parse(reply.body)["error"];
  EXPECT_EQ(error["param"], "n");
  EXPECT_EQ(error["type"], "BadRequestError");
}

TEST_F(GatewayHttpTest, UnknownRouteIs404AndLoadSheddingIs429) {
  EXPECT_EQ(Exchange(port_, "GET", "/v2/nothing", "", "Authorization: Bearer sk-test\r\n").status, 404);
  const HttpReply busy =
      Post("/v1/chat/completions", R"({"model":"busy","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(busy.status, 429);
  EXPECT_EQ(Json::parse(busy.body)["error"]["message"], "queue is full");
}

TEST_F(GatewayHttpTest, OversizedBodyIs413) {
  const HttpReply reply = Post("/v1/chat/completions", std::string(5000, ' '));
  EXPECT_EQ(reply.status, 413);
}

// Sends raw bytes on a new connection and reads the reply until the server closes it.
HttpReply RawExchange(uint16_t port, const std::string& raw_request) {
  HttpReply reply;
  const int fd = Connect(port);
  if (fd < 0) return reply;
  SendAll(fd, raw_request);
  std::string raw;
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  const size_t header_end = raw.find("\r\n\r\n");
  if (raw.size() < 12 || header_end == std::string::npos) return reply;
  reply.status = std::stoi(raw.substr(9, 3));
  reply.headers = raw.substr(0, header_end);
  reply.body = raw.substr(header_end + 4);
  return reply;
}

TEST_F(GatewayHttpTest, NonJsonContentTypeIs415) {
  const std::string body = R"({"messages":[{"role":"user","content":"hi"}]})";
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "Authorization: Bearer sk-test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  const HttpReply reply = RawExchange(port_, head + "Content-Type: text/plain\r\n\r\n" + body);
  ASSERT_EQ(reply.status, 415) << reply.body;
  EXPECT_EQ(Json::parse(reply.body)["error"]["type"], "UnsupportedMediaTypeError");
  EXPECT_EQ(RawExchange(port_, head + "Content-Type: Application/JSON; charset=utf-8\r\n\r\n" + body).status, 200);
  EXPECT_EQ(RawExchange(port_, head + "\r\n" + body).status, 200);
}

TEST_F(GatewayHttpTest, OversizedHeadersAre431AndMalformedRequestsAre400) {
  const HttpReply big = RawExchange(port_, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70000, 'a') +
                                               "\r\n\r\n");
  ASSERT_EQ(big.status, 431);
  EXPECT_EQ(Json::parse(big.body)["error"]["type"], "RequestHeaderFieldsTooLargeError");
  const HttpReply bad_length =
      RawExchange(port_, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}");
  ASSERT_EQ(bad_length.status, 400);
  EXPECT_EQ(Json::parse(bad_length.body)["error"]["type"], "BadRequestError");
  const HttpReply bad_chunk = RawExchange(
      port_, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
  EXPECT_EQ(bad_chunk.status, 400);
  // The server still answers.
  EXPECT_EQ(Exchange(port_, "GET", "/health", "").status, 200);
}

TEST_F(GatewayHttpTest, CorsPreflightNeedsNoKey) {
  const HttpReply reply = Exchange(port_, "OPTIONS", "/v1/chat/completions", "",
                                   "Origin: http://a\r\nAccess-Control-Request-Method: POST\r\n");
  EXPECT_EQ(reply.status, 204);
  EXPECT_THAT(reply.headers, HasSubstr("Access-Control-Allow-Methods"));
}

TEST_F(GatewayHttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  const int fd = Connect(port_);
  ASSERT_GE(fd, 0);
  const std::string request = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  SendAll(fd, request + request);
  std::string raw;
  char buffer[4096];
  while (raw.find("HTTP/1.1 200", raw.find("HTTP/1.1 200") + 1) == std::string::npos) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    raw.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_NE(raw.find("HTTP/1.1 200", raw.find("HTTP/1.1 200") + 1), std::string::npos) << raw;
}

TEST_F(GatewayHttpTest, ClientDisconnectCancelsTheBackendCall) {
  for (const bool stream : {true, false}) {
    SCOPED_TRACE(stream ? "streaming" : "non-streaming");
    ScriptedGeneration backend;
    grpc::ServerBuilder builder;
    int backend_port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &backend_port);
    builder.RegisterService(&backend);
    std::unique_ptr<grpc::Server> backend_server = builder.BuildAndStart();
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
        options, v1::Generation::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(backend_port),
                                                             grpc::InsecureChannelCredentials())));
    ASSERT_TRUE(server.ok());
    const int fd = Connect((*server)->port());
    ASSERT_GE(fd, 0);
    const std::string body = std::string(R"({"model":"hang","messages":[{"role":"user","content":"hi"}],"stream":)") +
                             (stream ? "true" : "false") + "}";
    SendAll(fd, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n\r\n" + body);
    ASSERT_TRUE(backend.WaitForHangStarted());
    close(fd);
    EXPECT_TRUE(backend.WaitForHangCancelled());
    (*server)->Stop();
    backend_server->Shutdown();
  }
}

TEST_F(GatewayHttpTest, OmittedModelIsTheServedOneInTheRequestAndEveryResponse) {
  const HttpReply chat = Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(Json::parse(chat.body)["model"], "tiny");
  EXPECT_EQ(backend_.last_request().model(), "tiny");
  EXPECT_EQ(backend_.last_request().reasoning_parser(), "qwen3");

  const HttpReply streamed = Post("/v1/completions", R"({"prompt":"x","stream":true})");
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  const size_t first = streamed.body.find("data: ");
  ASSERT_NE(first, std::string::npos) << streamed.body;
  const Json chunk = Json::parse(streamed.body.substr(first + 6, streamed.body.find("\n\n", first) - first - 6));
  EXPECT_EQ(chunk["model"], "tiny");
  EXPECT_EQ(backend_.last_request().model(), "tiny");
  // Completions have no reasoning split, as in vLLM.
  EXPECT_EQ(backend_.last_request().reasoning_parser(), "");
}

TEST_F(GatewayHttpTest, UnknownModelIs404NamingTheParam) {
  for (const std::string path : {"/v1/chat/completions", "/tokenize"}) {
    SCOPED_TRACE(path);
    const HttpReply reply = Post(path, R"({"model":"nope","messages":[{"role":"user","content":"hi"}]})");
    ASSERT_EQ(reply.status, 404) << reply.body;
    const Json error = Json::parse(reply.body)["error"];
    EXPECT_EQ(error["type"], "NotFoundError");
    EXPECT_EQ(error["param"], "model");
    EXPECT_EQ(error["code"], 404);
    EXPECT_THAT(error["message"].get<std::string>(), HasSubstr("nope"));
  }
  EXPECT_EQ(backend_.last_request().request_id(), "") << "the unknown model reached the backend";
}

TEST_F(GatewayHttpTest, HealthIs503WhileNoModelIsListed) {
  backend_.set_lists_models(false);
  const HttpReply reply = Exchange(port_, "GET", "/health", "");
  EXPECT_EQ(reply.status, 503);
  EXPECT_EQ(Json::parse(reply.body)["error"]["type"], "ServiceUnavailableError");
  backend_.set_lists_models(true);
  EXPECT_EQ(Exchange(port_, "GET", "/health", "").status, 200);
}

TEST_F(GatewayHttpTest, ModelListIsAskedOnceWhileFresh) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(Post("/v1/chat/completions", R"({"model":"tiny","messages":[{"role":"user","content":"hi"}]})").status,
              200);
  }
  EXPECT_EQ(backend_.list_models_calls(), 1);
}

TEST_F(GatewayHttpTest, TokenizeAndDetokenizeInVllmShapes) {
  const HttpReply text = Post("/tokenize", R"({"model":"tiny","prompt":"abc"})");
  ASSERT_EQ(text.status, 200) << text.body;
  EXPECT_EQ(text.body, R"({"count":3,"max_model_len":128,"tokens":[97,98,99],"token_strs":null})");
  EXPECT_TRUE(backend_.last_tokenize().add_special_tokens());
  EXPECT_EQ(backend_.last_tokenize().text(), "abc");

  const HttpReply chat = Post("/tokenize", R"({"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(Json::parse(chat.body)["count"], 2);
  const v1::TokenizeRequest sent = backend_.last_tokenize();
  EXPECT_EQ(sent.model(), "tiny");
  ASSERT_TRUE(sent.has_chat());
  EXPECT_TRUE(sent.chat().add_generation_prompt());
  EXPECT_FALSE(sent.add_special_tokens());

  const HttpReply detokenized = Post("/detokenize", R"({"model":"tiny","tokens":[104,105]})");
  ASSERT_EQ(detokenized.status, 200) << detokenized.body;
  EXPECT_EQ(detokenized.body, R"({"prompt":"hi"})");

  const HttpReply missing = Post("/detokenize", R"({"model":"tiny"})");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(Json::parse(missing.body)["error"]["param"], "tokens");
  EXPECT_EQ(Exchange(port_, "POST", "/tokenize", R"({"prompt":"abc"})").status, 401);
  EXPECT_EQ(Exchange(port_, "GET", "/tokenize", "", "Authorization: Bearer sk-test\r\n").status, 405);
}

// A gateway in front of `backend_address`, with `options` on loopback.
std::unique_ptr<HttpServer> StartGateway(HttpServerOptions options, const std::string& backend_address) {
  options.host = "127.0.0.1";
  options.port = 0;
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      options, v1::Generation::NewStub(grpc::CreateChannel(backend_address, grpc::InsecureChannelCredentials())));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

TEST(GatewayCors, OnlyListedOriginsAreEchoed) {
  HttpServerOptions options;
  options.cors_origins = {"http://a.example", "http://b.example"};
  // The backend is never reached by these requests.
  std::unique_ptr<HttpServer> server = StartGateway(options, "127.0.0.1:1");
  ASSERT_NE(server, nullptr);
  const HttpReply allowed = Exchange(server->port(), "GET", "/version", "", "Origin: http://b.example\r\n");
  ASSERT_EQ(allowed.status, 200);
  EXPECT_THAT(allowed.headers, HasSubstr("Access-Control-Allow-Origin: http://b.example"));
  EXPECT_THAT(allowed.headers, HasSubstr("Vary: Origin"));
  const HttpReply other = Exchange(server->port(), "GET", "/version", "", "Origin: http://evil.example\r\n");
  ASSERT_EQ(other.status, 200);
  EXPECT_THAT(other.headers, ::testing::Not(HasSubstr("Access-Control-Allow-Origin")));
  const HttpReply preflight = Exchange(server->port(), "OPTIONS", "/v1/completions", "",
                                       "Origin: http://a.example\r\nAccess-Control-Request-Method: POST\r\n");
  EXPECT_EQ(preflight.status, 204);
  EXPECT_THAT(preflight.headers, HasSubstr("Access-Control-Allow-Methods"));
  server->Stop();
}

TEST(GatewayUnavailableBackend, Is503InTheOpenAIShape) {
  // A port that was free a moment ago: nothing listens there, so every backend call fails as UNAVAILABLE.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int unused_port = ntohs(address.sin_port);
  close(fd);

  std::unique_ptr<HttpServer> server = StartGateway(HttpServerOptions(), "127.0.0.1:" + std::to_string(unused_port));
  ASSERT_NE(server, nullptr);
  for (const bool stream : {false, true}) {
    const HttpReply reply =
        Exchange(server->port(), "POST", "/v1/chat/completions",
                 std::string(R"({"messages":[{"role":"user","content":"hi"}],"stream":)") + (stream ? "true}" : "false}"));
    ASSERT_EQ(reply.status, 503) << reply.body;
    const Json error = Json::parse(reply.body)["error"];
    EXPECT_EQ(error["type"], "ServiceUnavailableError");
    EXPECT_EQ(error["code"], 503);
  }
  EXPECT_EQ(Exchange(server->port(), "GET", "/health", "").status, 503);
  server->Stop();
}

}  // namespace
}  // namespace tessera::gateway
