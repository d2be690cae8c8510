#include "services/router/worker_registry.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "services/router/routing_policy.h"

namespace tessera::router {
namespace {

v1::LoadReport Report(const std::string& model, int max_num_seqs = 0, bool draining = false) {
  v1::LoadReport report;
  report.set_model(model);
  report.set_max_num_seqs(max_num_seqs);
  report.set_draining(draining);
  return report;
}

WorkerHealth HealthOf(const WorkerRegistry& registry, const std::string& address) {
  for (const WorkerStatus& worker : registry.Snapshot()) {
    if (worker.address == address) return worker.health;
  }
  ADD_FAILURE() << address << " is not in the registry";
  return WorkerHealth::kUnknown;
}

TEST(WorkerRegistryTest, HealthTransitions) {
  std::vector<std::string> log;
  WorkerRegistryOptions options;
  options.unhealthy_after_failures = 2;
  options.on_health_change = [&log](const std::string& address, WorkerHealth health, std::string_view) {
    log.push_back(address + " " + std::string(WorkerHealthName(health)));
  };
  WorkerRegistry registry(options);
  registry.AddWorker("w:1", WorkerSource::kStatic);
  EXPECT_EQ(HealthOf(registry, "w:1"), WorkerHealth::kUnknown);
  EXPECT_EQ(registry.NumHealthy(), 0);

  registry.RecordLoadReport("w:1", Report("m"));
  EXPECT_EQ(HealthOf(registry, "w:1"), WorkerHealth::kHealthy);
  EXPECT_EQ(registry.NumHealthy(), 1);

  // One failure is forgiven (a probe can time out on a busy machine); the second in a row is not.
  registry.RecordFailure("w:1", "connection refused");
  EXPECT_EQ(HealthOf(registry, "w:1"), WorkerHealth::kHealthy);
  registry.RecordLoadReport("w:1", Report("m"));
  registry.RecordFailure("w:1", "connection refused");
  EXPECT_EQ(HealthOf(registry, "w:1"), WorkerHealth::kHealthy);
  registry.RecordFailure("w:1", "connection refused");
  EXPECT_EQ(HealthOf(registry, "w:1"), WorkerHealth::kUnhealthy);
  EXPECT_EQ(registry.NumHealthy(), 0);
  registry.RecordFailure("w:1", "connection refused");  // stays unhealthy, no second transition
  EXPECT_EQ(registry.Snapshot()[0].last_error, "connection refused");

  // It rejoins as soon as it answers again.
  registry.RecordLoadReport("w:1", Report("m"));
  EXPECT_EQ(HealthOf(registry, "w:1"), WorkerHealth::kHealthy);
  // A draining worker answers but takes nothing new.
  registry.RecordLoadReport("w:1", Report("m", 0, /*draining=*/true));
  EXPECT_EQ(HealthOf(registry, "w:1"), WorkerHealth::kDraining);
  EXPECT_EQ(registry.NumHealthy(), 0);

  EXPECT_EQ(log, (std::vector<std::string>{"w:1 healthy", "w:1 unhealthy", "w:1 healthy", "w:1 draining"}));
}

TEST(WorkerRegistryTest, AWorkerStaysWhileAnySourceNamesIt) {
  WorkerRegistry registry;
  registry.AddWorker("w:1", WorkerSource::kStatic);
  registry.AddWorker("w:1", WorkerSource::kRegistered);
  registry.AddWorker("w:2", WorkerSource::kRegistered);
  registry.AddWorker("w:2", WorkerSource::kRegistered);  // reconnected before the old stream ended
  registry.RemoveWorker("w:1", WorkerSource::kRegistered);
  registry.RemoveWorker("w:2", WorkerSource::kRegistered);
  EXPECT_EQ(registry.Addresses(), (std::vector<std::string>{"w:1", "w:2"}));
  registry.RemoveWorker("w:2", WorkerSource::kRegistered);
  EXPECT_EQ(registry.Addresses(), (std::vector<std::string>{"w:1"}));
  // Reports for unknown addresses are ignored.
  registry.RecordLoadReport("w:9", Report("m"));
  EXPECT_EQ(registry.Addresses(), (std::vector<std::string>{"w:1"}));
}

TEST(WorkerRegistryTest, DiscoveredSetIsReplacedOnEachResolution) {
  WorkerRegistry registry;
  registry.AddWorker("10.0.0.1:80", WorkerSource::kStatic);
  registry.SetDiscoveredWorkers({"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"});
  EXPECT_EQ(registry.Addresses().size(), 3u);
  registry.RecordLoadReport("10.0.0.3:80", Report("m"));
  registry.SetDiscoveredWorkers({"10.0.0.3:80", "10.0.0.4:80"});
  // .1 stays (also static), .2 left, .3 kept its state, .4 joined.
  EXPECT_EQ(registry.Addresses(), (std::vector<std::string>{"10.0.0.1:80", "10.0.0.3:80", "10.0.0.4:80"}));
  EXPECT_EQ(HealthOf(registry, "10.0.0.3:80"), WorkerHealth::kHealthy);
  registry.SetDiscoveredWorkers({});
  EXPECT_EQ(registry.Addresses(), (std::vector<std::string>{"10.0.0.1:80"}));
}

TEST(WorkerRegistryTest, TryAcquireNamesWhatIsWrong) {
  WorkerRegistry registry;
  std::unique_ptr<RoutingPolicy> policy = *MakeRoutingPolicy(kRoundRobinPolicy);
  registry.AddWorker("a:1", WorkerSource::kStatic);
  registry.AddWorker("b:1", WorkerSource::kStatic);
  registry.RecordLoadReport("a:1", Report("llama", 1));
  registry.RecordLoadReport("b:1", Report("qwen", 1));

  absl::StatusOr<WorkerRegistry::Acquired> unknown = registry.TryAcquire("mistral", {}, *policy, {});
  EXPECT_TRUE(absl::IsNotFound(unknown.status())) << unknown.status();
  EXPECT_NE(unknown.status().message().find("llama, qwen"), std::string::npos) << unknown.status();

  {
    absl::StatusOr<WorkerRegistry::Acquired> first = registry.TryAcquire("llama", {}, *policy, {});
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(first->lease.address(), "a:1");
    EXPECT_EQ(registry.Snapshot()[0].in_flight, 1);
    // max_num_seqs 1: the worker is full until the lease ends.
    EXPECT_TRUE(absl::IsResourceExhausted(registry.TryAcquire("llama", {}, *policy, {}).status()));
  }
  EXPECT_EQ(registry.Snapshot()[0].in_flight, 0);
  EXPECT_TRUE(registry.TryAcquire("llama", {}, *policy, {}).ok());

  // A worker that failed this request is not chosen again for it.
  EXPECT_TRUE(absl::IsUnavailable(registry.TryAcquire("llama", {}, *policy, {"a:1"}).status()));

  registry.RecordFailure("a:1", "refused");
  registry.RecordFailure("a:1", "refused");
  absl::StatusOr<WorkerRegistry::Acquired> down = registry.TryAcquire("llama", {}, *policy, {});
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
  EXPECT_NE(down.status().message().find("a:1 (unhealthy: refused)"), std::string::npos) << down.status();
}

TEST(WorkerRegistryTest, InFlightCapComesFromTheFlagOrTheWorkersMaxNumSeqs) {
  WorkerRegistryOptions options;
  options.max_in_flight_per_worker = 2;
  WorkerRegistry capped(options);
  capped.AddWorker("a:1", WorkerSource::kStatic);
  capped.RecordLoadReport("a:1", Report("m", 256));
  EXPECT_EQ(capped.Snapshot()[0].max_in_flight, 2);

  WorkerRegistry by_report;
  by_report.AddWorker("a:1", WorkerSource::kStatic);
  EXPECT_EQ(by_report.Snapshot()[0].max_in_flight, 0);
  by_report.RecordLoadReport("a:1", Report("m", 8));
  EXPECT_EQ(by_report.Snapshot()[0].max_in_flight, 8);
}

TEST(WorkerRegistryTest, ModelsAreTheUnionOverHealthyWorkers) {
  WorkerRegistry registry;
  for (const char* address : {"a:1", "b:1", "c:1"}) registry.AddWorker(address, WorkerSource::kStatic);
  registry.RecordLoadReport("a:1", Report("llama"));
  registry.RecordLoadReport("b:1", Report("llama"));
  registry.RecordLoadReport("c:1", Report("qwen"));
  v1::ModelCard card;
  card.set_id("llama");
  card.set_max_model_len(4096);
  registry.RecordModelCards("a:1", {card});
  std::vector<v1::ModelCard> models = registry.Models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].id(), "llama");
  EXPECT_EQ(models[0].max_model_len(), 4096);
  EXPECT_EQ(models[1].id(), "qwen");

  EXPECT_TRUE(absl::IsInvalidArgument(registry.ResolveModel("").status()));
  EXPECT_EQ(*registry.ResolveModel("qwen"), "qwen");
  registry.RecordFailure("c:1", "gone");
  registry.RecordFailure("c:1", "gone");
  ASSERT_EQ(registry.Models().size(), 1u);
  registry.RemoveWorker("c:1", WorkerSource::kStatic);
  EXPECT_EQ(*registry.ResolveModel(""), "llama");
}

TEST(WorkerRegistryTest, WaitForChangeWakesOnRelease) {
  WorkerRegistry registry;
  std::unique_ptr<RoutingPolicy> policy = *MakeRoutingPolicy(kLeastLoadPolicy);
  registry.AddWorker("a:1", WorkerSource::kStatic);
  registry.RecordLoadReport("a:1", Report("m", 1));
  absl::StatusOr<WorkerRegistry::Acquired> held = registry.TryAcquire("m", {}, *policy, {});
  ASSERT_TRUE(held.ok());
  const uint64_t seen = registry.version();
  held->lease.Release();
  registry.WaitForChange(seen, absl::InfiniteFuture());  // returns at once: the release bumped the version
  EXPECT_GT(registry.version(), seen);
  EXPECT_TRUE(registry.TryAcquire("m", {}, *policy, {}).ok());
}

}  // namespace
}  // namespace tessera::router
