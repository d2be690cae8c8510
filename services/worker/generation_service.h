// The worker's gRPC services on top of AsyncEngine: tessera.v1.Generation (Generate streams text and token deltas,
// Tokenize, Detokenize, ListModels) and tessera.v1.WorkerControl (GetLoad, Drain). Prompts are rendered and
// tokenized on the gRPC thread; a cancelled call or an expired deadline aborts the request in the engine, which
// frees its KV blocks at once.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "services/worker/async_engine.h"
#include "tessera/v1/generation.grpc.pb.h"
#include "tessera/v1/worker.grpc.pb.h"

namespace tessera::worker {

struct GenerationServiceOptions {
  // The model id clients name (ListModels, GenerateRequest.model); requests naming another model get NOT_FOUND,
  // an empty model field means this one.
  std::string served_model_name;
  // How often a streaming call looks for client cancellation while it waits for the engine.
  std::chrono::milliseconds cancel_poll_interval{20};
};

class GenerationService final : public v1::Generation::Service {
 public:
  GenerationService(AsyncEngine* engine, GenerationServiceOptions options);

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status Detokenize(grpc::ServerContext* context, const v1::DetokenizeRequest* request,
                          v1::DetokenizeResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;

 private:
  absl::Status CheckModel(const std::string& model) const;
  // Renders (for chat) and tokenizes a prompt; `text` receives what the model reads.
  absl::StatusOr<std::vector<int32_t>> ChatTokenIds(const v1::ChatPrompt& chat, bool add_special_tokens,
                                                    std::string* text) const;
  absl::StatusOr<std::shared_ptr<GenerationStream>> Start(const v1::GenerateRequest& request,
                                                          std::string* prompt_text) const;

  AsyncEngine* engine_;
  GenerationServiceOptions options_;
  int64_t created_unix_seconds_;
};

class WorkerControlService final : public v1::WorkerControl::Service {
 public:
  // `on_drain` runs after the engine stopped admitting requests (the server flips its health status there).
  WorkerControlService(AsyncEngine* engine, std::string model, std::string worker_address,
                       std::function<void()> on_drain);

  grpc::Status GetLoad(grpc::ServerContext* context, const v1::GetLoadRequest* request,
                       v1::LoadReport* response) override;
  grpc::Status Drain(grpc::ServerContext* context, const v1::DrainRequest* request,
                     v1::DrainResponse* response) override;

  // The load report GetLoad returns, for pushing to a router as well.
  v1::LoadReport MakeLoadReport() const;
  void set_worker_address(std::string address);

 private:
  AsyncEngine* engine_;
  std::string model_;
  mutable std::mutex address_mutex_;
  std::string worker_address_;
  std::function<void()> on_drain_;
};

}  // namespace tessera::worker
