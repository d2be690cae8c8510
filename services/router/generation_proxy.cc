#include "services/router/generation_proxy.h"

#include <chrono>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"

namespace tessera::router {
namespace {

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::Time DeadlineOf(const grpc::ServerContext& context) {
  const std::chrono::system_clock::time_point deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return absl::InfiniteFuture();
  return absl::FromChrono(deadline);
}

// Why a request never reached a worker, for requests_rejected_total{reason}.
std::string_view RejectionReason(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kResourceExhausted:
      return "queue_full";
    case absl::StatusCode::kNotFound:
      return "unknown_model";
    case absl::StatusCode::kUnavailable:
      return "no_healthy_worker";
    case absl::StatusCode::kDeadlineExceeded:
      return "deadline_exceeded";
    case absl::StatusCode::kCancelled:
      return "cancelled";
    default:
      return "invalid_request";
  }
}

// Status codes that mean the worker or the connection failed, not the request.
bool IsTransportFailure(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::DATA_LOSS:
      return true;
    default:
      return false;
  }
}

}  // namespace

GenerationProxy::GenerationProxy(WorkerRegistry* registry, AdmissionQueue* admission, WorkerChannels* channels,
                                 RouterMetrics* metrics, GenerationProxyOptions options)
    : registry_(registry),
      admission_(admission),
      channels_(channels),
      metrics_(metrics),
      options_(std::move(options)) {}

void GenerationProxy::StartDraining() {
  absl::MutexLock lock(&mutex_);
  draining_ = true;
}

bool GenerationProxy::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mutex_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return running_ == 0; };
  return mutex_.AwaitWithDeadline(absl::Condition(&idle), deadline);
}

grpc::Status GenerationProxy::Generate(grpc::ServerContext* context, const v1::GenerateRequest* request,
                                       grpc::ServerWriter<v1::GenerateResponse>* writer) {
  {
    absl::MutexLock lock(&mutex_);
    if (draining_) {
      metrics_->RecordRejection("draining");
      metrics_->RecordGenerateStatus(grpc::StatusCode::UNAVAILABLE);
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the router is draining and takes no new requests");
    }
    ++running_;
  }
  grpc::Status status = RouteGenerate(context, *request, writer);
  metrics_->RecordGenerateStatus(status.error_code());
  absl::MutexLock lock(&mutex_);
  --running_;
  return status;
}

grpc::Status GenerationProxy::RouteGenerate(grpc::ServerContext* context, const v1::GenerateRequest& request,
                                            grpc::ServerWriter<v1::GenerateResponse>* writer) {
  absl::StatusOr<std::string> model = registry_->ResolveModel(request.model());
  if (!model.ok()) {
    metrics_->RecordRejection(RejectionReason(model.status()));
    return ToGrpc(model.status());
  }
  const std::string key = RoutingKey(request, options_.routing_key);
  const RoutingRequest routing{key};
  const absl::Time deadline = DeadlineOf(*context);
  absl::flat_hash_set<std::string> failed_workers;
  std::string last_failure;

  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    absl::StatusOr<AdmissionQueue::Admitted> admitted =
        admission_->Admit(*model, routing, failed_workers, deadline, [context] { return context->IsCancelled(); });
    if (!admitted.ok()) {
      if (attempt > 0 && absl::IsUnavailable(admitted.status())) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            absl::StrCat("no worker could take the request: ", last_failure, "; ",
                                         admitted.status().message()));
      }
      metrics_->RecordRejection(RejectionReason(admitted.status()));
      return ToGrpc(admitted.status());
    }
    metrics_->RecordDecision(admitted->outcome);
    if (attempt > 0) metrics_->RecordRetry();
    const std::string address = admitted->lease.address();

    // A child of the client's call: it carries the client's deadline and is cancelled when the client cancels.
    std::unique_ptr<grpc::ClientContext> upstream = grpc::ClientContext::FromServerContext(*context);
    std::unique_ptr<v1::Generation::Stub> stub = v1::Generation::NewStub(channels_->Get(address));
    std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader = stub->Generate(upstream.get(), request);
    v1::GenerateResponse response;
    int relayed = 0;
    bool finished = false;
    while (reader->Read(&response)) {
      finished = response.finished();
      if (!writer->Write(response)) {
        upstream->TryCancel();
        (void)reader->Finish();
        return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
      }
      ++relayed;
    }
    const grpc::Status status = reader->Finish();
    if (status.ok()) {
      if (finished) return status;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("worker ", address, " ended the stream without its final response"));
    }
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the request");
    if (relayed == 0 && status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      // Nothing reached the client yet, so another worker may run the request from scratch.
      last_failure = absl::StrCat("worker ", address, ": ", status.error_message());
      registry_->RecordFailure(address, status.error_message());
      failed_workers.insert(address);
      continue;
    }
    if (relayed > 0 && IsTransportFailure(status.error_code())) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          absl::StrCat("worker ", address, " failed after ", relayed, " responses had been relayed (",
                                       std::string(GrpcCodeName(status.error_code())), ": ", status.error_message(),
                                       "); the request cannot be retried mid-stream"));
    }
    return status;  // the worker's own verdict on the request (invalid argument, deadline, ...)
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                      absl::StrCat("no worker could take the request after ", options_.max_attempts,
                                   " attempts; last: ", last_failure));
}

template <typename Request, typename Response, typename Call>
grpc::Status GenerationProxy::ForwardUnary(grpc::ServerContext* context, const std::string& requested_model,
                                           const Request& request, Response* response, Call call) {
  absl::StatusOr<std::string> model = registry_->ResolveModel(requested_model);
  if (!model.ok()) return ToGrpc(model.status());
  absl::flat_hash_set<std::string> failed_workers;
  std::string last_failure;
  for (int attempt = 0; attempt < options_.max_attempts; ++attempt) {
    absl::StatusOr<std::string> address = registry_->PickAny(*model, failed_workers);
    if (!address.ok()) {
      if (attempt == 0) return ToGrpc(address.status());
      break;
    }
    std::unique_ptr<grpc::ClientContext> upstream = grpc::ClientContext::FromServerContext(*context);
    if (context->deadline() == std::chrono::system_clock::time_point::max()) {
      upstream->set_deadline(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(options_.unary_timeout));
    }
    v1::Generation::Stub stub(channels_->Get(*address));
    const grpc::Status status = call(stub, upstream.get(), request, response);
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || context->IsCancelled()) return status;
    last_failure = absl::StrCat("worker ", *address, ": ", status.error_message());
    registry_->RecordFailure(*address, status.error_message());
    failed_workers.insert(*address);
  }
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, absl::StrCat("no worker answered; last: ", last_failure));
}

grpc::Status GenerationProxy::Tokenize(grpc::ServerContext* context, const v1::TokenizeRequest* request,
                                       v1::TokenizeResponse* response) {
  return ForwardUnary(context, request->model(), *request, response,
                      [](v1::Generation::Stub& stub, grpc::ClientContext* upstream, const v1::TokenizeRequest& in,
                         v1::TokenizeResponse* out) { return stub.Tokenize(upstream, in, out); });
}

grpc::Status GenerationProxy::Detokenize(grpc::ServerContext* context, const v1::DetokenizeRequest* request,
                                         v1::DetokenizeResponse* response) {
  return ForwardUnary(context, request->model(), *request, response,
                      [](v1::Generation::Stub& stub, grpc::ClientContext* upstream, const v1::DetokenizeRequest& in,
                         v1::DetokenizeResponse* out) { return stub.Detokenize(upstream, in, out); });
}

grpc::Status GenerationProxy::ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                                         v1::ListModelsResponse* response) {
  for (v1::ModelCard& card : registry_->Models()) *response->add_models() = std::move(card);
  return grpc::Status::OK;
}

}  // namespace tessera::router
