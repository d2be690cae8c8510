#include "services/router/health_prober.h"

#include <chrono>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "tessera/v1/generation.grpc.pb.h"
#include "tessera/v1/worker.grpc.pb.h"

namespace tessera::router {
namespace {

// One worker's probe: the calls in flight and their results, filled in by gRPC's callback threads.
struct Probe {
  std::string address;
  bool wants_cards = false;
  std::unique_ptr<v1::WorkerControl::Stub> control;
  std::unique_ptr<v1::Generation::Stub> generation;
  grpc::ClientContext load_context;
  grpc::ClientContext models_context;
  v1::GetLoadRequest load_request;
  v1::LoadReport load;
  grpc::Status load_status;
  v1::ListModelsRequest models_request;
  v1::ListModelsResponse models;
  grpc::Status models_status;
};

}  // namespace

HealthProber::HealthProber(WorkerRegistry* registry, WorkerChannels* channels, HealthProberOptions options)
    : registry_(registry), channels_(channels), options_(options) {}

HealthProber::~HealthProber() { Stop(); }

void HealthProber::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void HealthProber::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void HealthProber::Loop() {
  while (true) {
    const absl::Time next = absl::Now() + options_.interval;
    ProbeOnce();
    absl::MutexLock lock(&mutex_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return stopping_; };
    if (mutex_.AwaitWithDeadline(absl::Condition(&stopping), next)) return;
  }
}

void HealthProber::ProbeOnce() {
  std::vector<std::unique_ptr<Probe>> probes;
  for (const WorkerStatus& worker : registry_->Snapshot()) {
    auto probe = std::make_unique<Probe>();
    probe->address = worker.address;
    probe->wants_cards = !worker.has_model_cards;
    probes.push_back(std::move(probe));
  }
  // Shared with the callbacks, so that a callback still leaving the lock never touches a destroyed mutex.
  struct Countdown {
    absl::Mutex mutex;
    int pending ABSL_GUARDED_BY(mutex) = 0;
  };
  auto countdown = std::make_shared<Countdown>();
  const auto deadline = std::chrono::system_clock::now() + absl::ToChronoNanoseconds(options_.timeout);
  auto finished = [countdown] {
    absl::MutexLock lock(&countdown->mutex);
    --countdown->pending;
  };
  for (std::unique_ptr<Probe>& probe : probes) {
    std::shared_ptr<grpc::Channel> channel = channels_->Get(probe->address);
    probe->control = v1::WorkerControl::NewStub(channel);
    probe->load_context.set_deadline(deadline);
    {
      absl::MutexLock lock(&countdown->mutex);
      countdown->pending += probe->wants_cards ? 2 : 1;
    }
    Probe* p = probe.get();
    p->control->async()->GetLoad(&p->load_context, &p->load_request, &p->load, [p, finished](grpc::Status status) {
      p->load_status = std::move(status);
      finished();
    });
    if (p->wants_cards) {
      p->generation = v1::Generation::NewStub(channel);
      p->models_context.set_deadline(deadline);
      p->generation->async()->ListModels(&p->models_context, &p->models_request, &p->models,
                                         [p, finished](grpc::Status status) {
                                           p->models_status = std::move(status);
                                           finished();
                                         });
    }
  }
  {
    // Every call ends by its deadline, so this wait is bounded by the timeout.
    absl::MutexLock lock(&countdown->mutex);
    auto all_done = [&countdown]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return countdown->pending == 0; };
    countdown->mutex.Await(absl::Condition(&all_done));
  }
  for (const std::unique_ptr<Probe>& probe : probes) {
    if (!probe->load_status.ok()) {
      registry_->RecordFailure(probe->address, absl::StrCat("GetLoad failed: ", probe->load_status.error_message()));
      continue;
    }
    registry_->RecordLoadReport(probe->address, probe->load);
    if (probe->wants_cards && probe->models_status.ok()) {
      registry_->RecordModelCards(probe->address,
                                  std::vector<v1::ModelCard>(probe->models.models().begin(),
                                                             probe->models.models().end()));
    }
  }
}

}  // namespace tessera::router
