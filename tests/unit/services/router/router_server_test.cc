// The router server end to end in one process: real gRPC on loopback between a client, the RouterServer and small
// scripted workers that implement the worker's APIs with behaviour chosen per test (stream normally, refuse, fail
// mid-stream, block until cancelled or released). The real tessera-worker is covered by the integration tests.
#include "services/router/router_server.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/unit/services/router/router_test_support.h"
#include "tessera/v1/generation.grpc.pb.h"
#include "tessera/v1/worker.grpc.pb.h"

namespace tessera::router {
namespace {

using testing::CheckHealth;
using testing::Eventually;
using testing::Health;

enum class Behaviour {
  kStream,              // three text deltas, the last one finished
  kRefuse,              // UNAVAILABLE before any response
  kFailMidStream,       // one response, then UNAVAILABLE
  kBlockUntilCancelled, // one response, then waits for the caller to cancel
  kBlockUntilReleased,  // waits for Release(), then streams
};

class ScriptedWorker final : public v1::Generation::Service, public v1::WorkerControl::Service {
 public:
  ScriptedWorker(std::string model, Behaviour behaviour, int max_num_seqs = 0)
      : model_(std::move(model)), behaviour_(behaviour), max_num_seqs_(max_num_seqs) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(static_cast<v1::Generation::Service*>(this));
    builder.RegisterService(static_cast<v1::WorkerControl::Service*>(this));
    server_ = builder.BuildAndStart();
  }
  ~ScriptedWorker() override { Stop(); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  void Stop() {
    Release();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  void Release() {
    if (!released_.HasBeenNotified()) released_.Notify();
  }

  std::atomic<int> generate_calls{0};
  std::atomic<bool> saw_cancel{false};
  std::atomic<int64_t> deadline_ms{0};  // of the last Generate, since the epoch
  std::atomic<int> blocked{0};

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    ++generate_calls;
    deadline_ms = std::chrono::duration_cast<std::chrono::milliseconds>(context->deadline().time_since_epoch()).count();
    v1::GenerateResponse response;
    response.set_request_id(request->request_id());
    switch (behaviour_) {
      case Behaviour::kRefuse:
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted refusal");
      case Behaviour::kFailMidStream:
        response.add_deltas()->set_text("partial");
        writer->Write(response);
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "scripted crash");
      case Behaviour::kBlockUntilCancelled:
        response.add_deltas()->set_text("first");
        writer->Write(response);
        while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        saw_cancel = true;
        return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      case Behaviour::kBlockUntilReleased:
        ++blocked;
        released_.WaitForNotification();
        --blocked;
        break;
      case Behaviour::kStream:
        break;
    }
    for (int i = 0; i < 3; ++i) {
      response.clear_deltas();
      v1::SequenceDelta* delta = response.add_deltas();
      delta->set_text(absl::StrCat(model_, "-", i));
      if (i == 2) {
        delta->set_finish_reason(v1::FINISH_REASON_LENGTH);
        response.set_finished(true);
      }
      if (!writer->Write(response)) return grpc::Status(grpc::StatusCode::CANCELLED, "gone");
    }
    return grpc::Status::OK;
  }

  grpc::Status Tokenize(grpc::ServerContext*, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override {
    response->set_count(static_cast<int>(request->text().size()));
    return grpc::Status::OK;
  }

  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                          v1::ListModelsResponse* response) override {
    v1::ModelCard* card = response->add_models();
    card->set_id(model_);
    card->set_max_model_len(4096);
    return grpc::Status::OK;
  }

  grpc::Status GetLoad(grpc::ServerContext*, const v1::GetLoadRequest*, v1::LoadReport* report) override {
    report->set_worker_address(address());
    report->set_model(model_);
    report->set_max_num_seqs(max_num_seqs_);
    return grpc::Status::OK;
  }

 private:
  const std::string model_;
  const Behaviour behaviour_;
  const int max_num_seqs_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  absl::Notification released_;
};

RouterServerOptions Options(const std::vector<ScriptedWorker*>& workers, std::string policy = "prefix-affinity") {
  RouterServerOptions options;
  options.host = "127.0.0.1";
  options.port = 0;
  for (ScriptedWorker* worker : workers) options.static_workers.push_back(worker->address());
  options.policy = std::move(policy);
  options.prober.interval = absl::Milliseconds(100);
  options.prober.timeout = absl::Seconds(5);
  options.log_health_changes = false;
  return options;
}

std::unique_ptr<RouterServer> StartRouter(RouterServerOptions options, int expect_healthy) {
  absl::StatusOr<std::unique_ptr<RouterServer>> router = RouterServer::Start(std::move(options));
  EXPECT_TRUE(router.ok()) << router.status();
  if (!router.ok()) return nullptr;
  RouterServer* r = router->get();
  EXPECT_TRUE(Eventually([r, expect_healthy] { return r->registry().NumHealthy() == expect_healthy; }));
  return std::move(*router);
}

std::unique_ptr<v1::Generation::Stub> Client(const RouterServer& router) {
  return v1::Generation::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", router.port()), grpc::InsecureChannelCredentials()));
}

v1::GenerateRequest Request(const std::string& model, const std::string& prompt = "hello") {
  v1::GenerateRequest request;
  request.set_model(model);
  request.set_text(prompt);
  return request;
}

struct StreamResult {
  std::vector<v1::GenerateResponse> responses;
  grpc::Status status;
  std::string text() const {
    std::string out;
    for (const v1::GenerateResponse& r : responses) {
      for (const v1::SequenceDelta& d : r.deltas()) out += d.text();
    }
    return out;
  }
};

StreamResult Generate(v1::Generation::Stub& stub, const v1::GenerateRequest& request,
                      std::chrono::seconds timeout = std::chrono::seconds(60)) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  StreamResult result;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = stub.Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) result.responses.push_back(response);
  result.status = reader->Finish();
  return result;
}

TEST(RouterServerTest, RelaysStreamsAndAnswersListModelsTokenizeAndHealth) {
  ScriptedWorker a("llama", Behaviour::kStream);
  ScriptedWorker b("qwen", Behaviour::kStream);
  std::unique_ptr<RouterServer> router = StartRouter(Options({&a, &b}), 2);
  ASSERT_NE(router, nullptr);
  std::unique_ptr<v1::Generation::Stub> client = Client(*router);

  StreamResult llama = Generate(*client, Request("llama"));
  ASSERT_TRUE(llama.status.ok()) << llama.status.error_message();
  EXPECT_EQ(llama.text(), "llama-0llama-1llama-2");
  EXPECT_TRUE(llama.responses.back().finished());
  EXPECT_EQ(Generate(*client, Request("qwen")).text(), "qwen-0qwen-1qwen-2");

  grpc::ClientContext list_context;
  v1::ListModelsResponse models;
  ASSERT_TRUE(client->ListModels(&list_context, {}, &models).ok());
  ASSERT_EQ(models.models_size(), 2);
  EXPECT_EQ(models.models(0).id(), "llama");
  EXPECT_EQ(models.models(0).max_model_len(), 4096);  // the worker's own card, once fetched
  EXPECT_EQ(models.models(1).id(), "qwen");

  grpc::ClientContext tokenize_context;
  v1::TokenizeRequest tokenize;
  tokenize.set_model("qwen");
  tokenize.set_text("12345");
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(client->Tokenize(&tokenize_context, tokenize, &tokens).ok());
  EXPECT_EQ(tokens.count(), 5);

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", router->port()), grpc::InsecureChannelCredentials());
  EXPECT_TRUE(Eventually([&] { return CheckHealth(channel) == Health::kServing; }));

  // An empty model is ambiguous with two models.
  StreamResult ambiguous = Generate(*client, Request(""));
  EXPECT_EQ(ambiguous.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(RouterServerTest, UnknownModelIsNotFoundAndNoHealthyWorkerIsUnavailable) {
  ScriptedWorker a("llama", Behaviour::kStream);
  std::unique_ptr<RouterServer> router = StartRouter(Options({&a}), 1);
  ASSERT_NE(router, nullptr);
  std::unique_ptr<v1::Generation::Stub> client = Client(*router);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", router->port()), grpc::InsecureChannelCredentials());

  StreamResult unknown = Generate(*client, Request("mistral"));
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND) << unknown.status.error_message();
  EXPECT_TRUE(absl::StrContains(unknown.status.error_message(), "mistral"));

  a.Stop();
  ASSERT_TRUE(Eventually([&] { return router->registry().NumHealthy() == 0; }));
  StreamResult down = Generate(*client, Request("llama"));
  EXPECT_EQ(down.status.error_code(), grpc::StatusCode::UNAVAILABLE) << down.status.error_message();
  EXPECT_TRUE(absl::StrContains(down.status.error_message(), a.address())) << down.status.error_message();
  EXPECT_TRUE(Eventually([&] { return CheckHealth(channel) == Health::kNotServing; }));
}

TEST(RouterServerTest, RetriesOnAnotherWorkerOnlyBeforeTheFirstResponse) {
  ScriptedWorker refusing("llama", Behaviour::kRefuse);
  ScriptedWorker good("llama", Behaviour::kStream);
  std::unique_ptr<RouterServer> router = StartRouter(Options({&refusing, &good}, "round-robin"), 2);
  ASSERT_NE(router, nullptr);
  std::unique_ptr<v1::Generation::Stub> client = Client(*router);
  for (int i = 0; i < 4; ++i) {
    StreamResult result = Generate(*client, Request("llama"));
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    EXPECT_EQ(result.text(), "llama-0llama-1llama-2");
  }
  EXPECT_GE(refusing.generate_calls.load(), 1);
  EXPECT_TRUE(absl::StrContains(router->metrics_registry().Render(), "tessera_router_retries_total "));
}

TEST(RouterServerTest, AWorkerFailingMidStreamEndsTheClientStreamWithUnavailable) {
  ScriptedWorker failing("llama", Behaviour::kFailMidStream);
  ScriptedWorker good("llama", Behaviour::kStream);
  // Round-robin alternates, so some requests land on the failing worker; none may be retried after "partial".
  std::unique_ptr<RouterServer> router = StartRouter(Options({&failing, &good}, "round-robin"), 2);
  ASSERT_NE(router, nullptr);
  std::unique_ptr<v1::Generation::Stub> client = Client(*router);
  int failed = 0;
  for (int i = 0; i < 4; ++i) {
    StreamResult result = Generate(*client, Request("llama"));
    if (result.status.ok()) {
      EXPECT_EQ(result.text(), "llama-0llama-1llama-2");
      continue;
    }
    ++failed;
    EXPECT_EQ(result.status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(result.text(), "partial");
    EXPECT_TRUE(absl::StrContains(result.status.error_message(), failing.address())) << result.status.error_message();
    EXPECT_TRUE(absl::StrContains(result.status.error_message(), "scripted crash")) << result.status.error_message();
  }
  EXPECT_GE(failed, 1);
  EXPECT_EQ(failing.generate_calls.load(), failed);  // never retried after output was relayed
}

TEST(RouterServerTest, ClientCancellationAndDeadlineReachTheWorker) {
  ScriptedWorker worker("llama", Behaviour::kBlockUntilCancelled);
  std::unique_ptr<RouterServer> router = StartRouter(Options({&worker}), 1);
  ASSERT_NE(router, nullptr);
  std::unique_ptr<v1::Generation::Stub> client = Client(*router);

  grpc::ClientContext context;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(120);
  context.set_deadline(deadline);
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = client->Generate(&context, Request("llama"));
  v1::GenerateResponse first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.deltas(0).text(), "first");
  // The worker's deadline is the client's (give or take the clock's granularity).
  const int64_t client_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline.time_since_epoch()).count();
  EXPECT_LE(worker.deadline_ms.load(), client_ms + 1000);
  EXPECT_GE(worker.deadline_ms.load(), client_ms - 60000);
  EXPECT_FALSE(worker.saw_cancel.load());

  context.TryCancel();
  EXPECT_TRUE(Eventually([&] { return worker.saw_cancel.load(); }));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] { return router->registry().Snapshot()[0].in_flight == 0; }));
}

TEST(RouterServerTest, RequestsBeyondTheQueueBoundAreResourceExhausted) {
  ScriptedWorker worker("llama", Behaviour::kBlockUntilReleased);
  RouterServerOptions options = Options({&worker});
  options.registry.max_in_flight_per_worker = 1;
  options.admission.max_queued_requests = 1;
  std::unique_ptr<RouterServer> router = StartRouter(std::move(options), 1);
  ASSERT_NE(router, nullptr);
  std::unique_ptr<v1::Generation::Stub> client = Client(*router);

  StreamResult running;
  StreamResult queued;
  std::thread first([&] { running = Generate(*client, Request("llama")); });
  ASSERT_TRUE(Eventually([&] { return worker.blocked.load() == 1; }));
  std::thread second([&] { queued = Generate(*client, Request("llama")); });
  ASSERT_TRUE(Eventually(
      [&] { return absl::StrContains(router->metrics_registry().Render(), "tessera_router_queued_requests 1"); }));

  StreamResult refused = Generate(*client, Request("llama"));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.status.error_message();
  EXPECT_TRUE(refused.responses.empty());
  EXPECT_EQ(worker.generate_calls.load(), 1);

  worker.Release();
  first.join();
  second.join();
  EXPECT_TRUE(running.status.ok()) << running.status.error_message();
  EXPECT_TRUE(queued.status.ok()) << queued.status.error_message();
  EXPECT_EQ(worker.generate_calls.load(), 2);
  const std::string metrics = router->metrics_registry().Render();
  EXPECT_TRUE(absl::StrContains(metrics, "tessera_router_requests_rejected_total{reason=\"queue_full\"} 1"))
      << metrics;
}

TEST(RouterServerTest, ARegisteredWorkerJoinsAndLeavesWithItsStream) {
  ScriptedWorker worker("llama", Behaviour::kStream);
  std::unique_ptr<RouterServer> router = StartRouter(Options({}), 0);
  ASSERT_NE(router, nullptr);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", router->port()), grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Registry::Stub> registry = v1::Registry::NewStub(channel);
  std::unique_ptr<v1::Generation::Stub> client = Client(*router);

  grpc::ClientContext context;
  v1::RegisterResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::LoadReport>> writer = registry->Register(&context, &response);
  v1::LoadReport report;
  report.set_worker_address(worker.address());
  report.set_model("llama");
  ASSERT_TRUE(writer->Write(report));
  ASSERT_TRUE(Eventually([&] { return router->registry().NumHealthy() == 1; }));
  EXPECT_TRUE(Eventually([&] { return CheckHealth(channel) == Health::kServing; }));
  EXPECT_EQ(Generate(*client, Request("")).text(), "llama-0llama-1llama-2");

  ASSERT_TRUE(writer->WritesDone());
  EXPECT_TRUE(writer->Finish().ok());
  EXPECT_TRUE(Eventually([&] { return router->registry().Addresses().empty(); }));
  EXPECT_TRUE(Eventually([&] { return CheckHealth(channel) == Health::kNotServing; }));
}

TEST(RouterServerTest, DrainingRefusesNewRequestsAndReportsNotServing) {
  ScriptedWorker worker("llama", Behaviour::kStream);
  std::unique_ptr<RouterServer> router = StartRouter(Options({&worker}), 1);
  ASSERT_NE(router, nullptr);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", router->port()), grpc::InsecureChannelCredentials());
  std::unique_ptr<v1::Generation::Stub> client = Client(*router);
  ASSERT_TRUE(Eventually([&] { return CheckHealth(channel) == Health::kServing; }));
  router->Drain();
  EXPECT_TRUE(Eventually([&] { return CheckHealth(channel) == Health::kNotServing; }));
  StreamResult refused = Generate(*client, Request("llama"));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(absl::StrContains(refused.status.error_message(), "draining"));
}

}  // namespace
}  // namespace tessera::router
