// The router's tessera.v1.Generation service: the same API as a worker, so a client can call either. Generate is
// admitted (queue bound, per-worker slots), routed by the policy, forwarded unchanged and relayed response by
// response. Before the first response reaches the client a worker that cannot be reached (UNAVAILABLE) is skipped
// and another one tried; after it, a failing worker ends the client's stream with UNAVAILABLE naming the worker.
// The upstream call inherits the client's deadline and is cancelled with the client's call, so that the worker
// aborts the request and frees its KV blocks. Tokenize and Detokenize go to any healthy worker of the model;
// ListModels answers from the registry.
#pragma once

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/router/admission_queue.h"
#include "services/router/router_metrics.h"
#include "services/router/routing_key.h"
#include "services/router/worker_channels.h"
#include "services/router/worker_registry.h"
#include "tessera/v1/generation.grpc.pb.h"

namespace tessera::router {

struct GenerationProxyOptions {
  RoutingKeyOptions routing_key;
  // Workers tried for one Generate before its first response (the first try included).
  int max_attempts = 3;
  // Deadline of forwarded Tokenize/Detokenize calls whose client set none.
  absl::Duration unary_timeout = absl::Seconds(60);
};

class GenerationProxy final : public v1::Generation::Service {
 public:
  // Everything passed must outlive the service.
  GenerationProxy(WorkerRegistry* registry, AdmissionQueue* admission, WorkerChannels* channels,
                  RouterMetrics* metrics, GenerationProxyOptions options);

  grpc::Status Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;
  grpc::Status Detokenize(grpc::ServerContext* context, const v1::DetokenizeRequest* request,
                          v1::DetokenizeResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;

  // New Generate calls are refused with UNAVAILABLE from now on; those running go on.
  void StartDraining();
  // Waits until no Generate call is running or `deadline` passes; true when idle.
  bool WaitIdle(absl::Time deadline);

 private:
  grpc::Status RouteGenerate(grpc::ServerContext* context, const v1::GenerateRequest& request,
                             grpc::ServerWriter<v1::GenerateResponse>* writer);
  // Forwards a unary call to a healthy worker of `model`, trying another when one is unreachable.
  template <typename Request, typename Response, typename Call>
  grpc::Status ForwardUnary(grpc::ServerContext* context, const std::string& model, const Request& request,
                            Response* response, Call call);

  WorkerRegistry* registry_;
  AdmissionQueue* admission_;
  WorkerChannels* channels_;
  RouterMetrics* metrics_;
  const GenerationProxyOptions options_;
  absl::Mutex mutex_;
  int running_ ABSL_GUARDED_BY(mutex_) = 0;
  bool draining_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace tessera::router
