#include "services/router/routing_policy.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/router/consistent_hash_ring.h"
#include "services/router/prefix_affinity_policy.h"

namespace tessera::router {
namespace {

std::vector<RoutingCandidate> Workers(int n) {
  std::vector<RoutingCandidate> out;
  for (int i = 0; i < n; ++i) out.push_back({absl::StrCat("10.0.0.", i + 1, ":50051"), {}, true});
  return out;
}

std::unique_ptr<RoutingPolicy> Make(std::string_view name, RoutingPolicyOptions options = {}) {
  absl::StatusOr<std::unique_ptr<RoutingPolicy>> policy = MakeRoutingPolicy(name, options);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return std::move(*policy);
}

TEST(MakeRoutingPolicyTest, KnowsTheThreePoliciesByTheirFlagNames) {
  for (std::string_view name : {kRoundRobinPolicy, kLeastLoadPolicy, kPrefixAffinityPolicy}) {
    EXPECT_EQ(Make(name)->name(), name);
  }
  absl::StatusOr<std::unique_ptr<RoutingPolicy>> unknown = MakeRoutingPolicy("random");
  EXPECT_TRUE(absl::IsInvalidArgument(unknown.status()));
  EXPECT_NE(unknown.status().message().find("prefix-affinity"), std::string::npos);
  RoutingPolicyOptions bad;
  bad.load_guard_ratio = 0.5;
  EXPECT_FALSE(MakeRoutingPolicy(kPrefixAffinityPolicy, bad).ok());
}

TEST(LoadScoreTest, TakesTheFresherOfRouterCountAndReportAndBreaksTiesWithKvUsage) {
  EXPECT_EQ(LoadScore({.in_flight = 3, .num_running = 1, .num_waiting = 0}), 3.0);
  EXPECT_EQ(LoadScore({.in_flight = 1, .num_running = 4, .num_waiting = 2}), 6.0);
  EXPECT_LT(LoadScore({.in_flight = 2, .kv_cache_usage = 0.1}), LoadScore({.in_flight = 2, .kv_cache_usage = 0.9}));
  EXPECT_LT(LoadScore({.in_flight = 2, .kv_cache_usage = 1.0}), LoadScore({.in_flight = 3}));
}

TEST(RoundRobinPolicyTest, SpreadsRequestsEvenlyAndSkipsUnavailableWorkers) {
  std::unique_ptr<RoutingPolicy> policy = Make(kRoundRobinPolicy);
  std::vector<RoutingCandidate> workers = Workers(3);
  std::map<size_t, int> counts;
  for (int i = 0; i < 300; ++i) counts[policy->Choose({}, workers).index]++;
  EXPECT_EQ(counts[0], 100);
  EXPECT_EQ(counts[1], 100);
  EXPECT_EQ(counts[2], 100);

  workers[1].available = false;
  counts.clear();
  for (int i = 0; i < 100; ++i) counts[policy->Choose({}, workers).index]++;
  EXPECT_EQ(counts[1], 0);
  EXPECT_GE(counts[0], 33);
  EXPECT_GE(counts[2], 33);
}

TEST(LeastLoadPolicyTest, PicksTheLeastLoadedAvailableWorker) {
  std::unique_ptr<RoutingPolicy> policy = Make(kLeastLoadPolicy);
  std::vector<RoutingCandidate> workers = Workers(3);
  workers[0].load.in_flight = 5;
  workers[1].load.num_running = 4;
  workers[1].load.num_waiting = 3;
  workers[2].load.in_flight = 2;
  for (int i = 0; i < 10; ++i) {
    RoutingDecision decision = policy->Choose({}, workers);
    EXPECT_EQ(decision.index, 2u);
    EXPECT_EQ(decision.outcome, "least_load");
  }
  workers[2].available = false;  // at its cap
  EXPECT_EQ(policy->Choose({}, workers).index, 0u);
}

TEST(LeastLoadPolicyTest, IdleWorkersShareSequentialRequests) {
  std::unique_ptr<RoutingPolicy> policy = Make(kLeastLoadPolicy);
  std::vector<RoutingCandidate> workers = Workers(3);
  std::map<size_t, int> counts;
  for (int i = 0; i < 300; ++i) counts[policy->Choose({}, workers).index]++;
  EXPECT_EQ(counts.size(), 3u);
  for (const auto& [index, count] : counts) EXPECT_EQ(count, 100) << "worker " << index;
}

TEST(PrefixAffinityPolicyTest, SameKeySameWorkerAndKeysSpreadOverWorkers) {
  std::unique_ptr<RoutingPolicy> policy = Make(kPrefixAffinityPolicy);
  std::vector<RoutingCandidate> workers = Workers(3);
  std::map<size_t, int> owners;
  for (int k = 0; k < 3000; ++k) {
    const std::string key = absl::StrCat("chat:system\nYou are assistant number ", k, "\n");
    const RoutingDecision first = policy->Choose({key}, workers);
    EXPECT_EQ(first.outcome, "affinity");
    for (int repeat = 0; repeat < 3; ++repeat) ASSERT_EQ(policy->Choose({key}, workers).index, first.index);
    owners[first.index]++;
  }
  ASSERT_EQ(owners.size(), 3u);
  // 160 virtual nodes per worker keep every share within a loose band around a third.
  for (const auto& [index, count] : owners) {
    EXPECT_GT(count, 700) << "worker " << index;
    EXPECT_LT(count, 1300) << "worker " << index;
  }
}

TEST(PrefixAffinityPolicyTest, ARequestWithoutPromptGoesLeastLoaded) {
  std::unique_ptr<RoutingPolicy> policy = Make(kPrefixAffinityPolicy);
  std::vector<RoutingCandidate> workers = Workers(2);
  workers[0].load.in_flight = 3;
  RoutingDecision decision = policy->Choose({""}, workers);
  EXPECT_EQ(decision.index, 1u);
  EXPECT_EQ(decision.outcome, "no_key");
}

// The owner of a key among `members`, through the ring the policy uses.
std::string OwnerOf(const std::vector<std::string>& members, const std::string& key) {
  ConsistentHashRing ring(members, 160);
  return members[ring.Owner(key)];
}

TEST(ConsistentHashRingTest, OnlyKeysOfAJoiningOrLeavingWorkerMove) {
  const std::vector<std::string> three = {"a:1", "b:1", "c:1"};
  const std::vector<std::string> four = {"a:1", "b:1", "c:1", "d:1"};
  int moved_on_join = 0;
  const int keys = 4000;
  for (int k = 0; k < keys; ++k) {
    const std::string key = absl::StrCat("prompt-", k);
    const std::string before = OwnerOf(three, key);
    const std::string after = OwnerOf(four, key);
    if (before != after) {
      // A key only ever moves to the newcomer, never between the old workers.
      EXPECT_EQ(after, "d:1") << key;
      ++moved_on_join;
    }
    // When b leaves, only b's keys move.
    const std::string without_b = OwnerOf({"a:1", "c:1"}, key);
    if (before != "b:1") {
      EXPECT_EQ(without_b, before) << key;
    }
  }
  // The newcomer takes about a quarter of the keys, not a reshuffle.
  EXPECT_GT(moved_on_join, keys / 8);
  EXPECT_LT(moved_on_join, keys * 3 / 8);
}

TEST(ConsistentHashRingTest, HashIsStableAcrossRuns) {
  // Routers started separately (or restarted) must agree, so the hash is a fixed function of the bytes.
  EXPECT_EQ(StableHash64("tessera"), 0x3c4b28a16b8e3b43ull);
  EXPECT_EQ(StableHash64(""), 0xf52a15e9a9b5e89bull);
  EXPECT_NE(StableHash64("w#1"), StableHash64("w#2"));
  ConsistentHashRing ring({"x:1", "y:1"}, 160);
  ConsistentHashRing same({"x:1", "y:1"}, 160);
  for (int k = 0; k < 100; ++k) EXPECT_EQ(ring.Owner(absl::StrCat(k)), same.Owner(absl::StrCat(k)));
}

TEST(PrefixAffinityPolicyTest, LoadGuardFallsBackToLeastLoadWhenTheOwnerIsMuchBusier) {
  RoutingPolicyOptions options;
  options.load_guard_abs = 4;
  options.load_guard_ratio = 2.0;
  std::unique_ptr<RoutingPolicy> policy = Make(kPrefixAffinityPolicy, options);
  std::vector<RoutingCandidate> workers = Workers(3);
  const std::string key = "chat:system\nA long shared system prompt\n";
  const size_t owner = policy->Choose({key}, workers).index;
  const size_t other = (owner + 1) % 3;
  for (RoutingCandidate& worker : workers) worker.load.in_flight = 2;

  // Within the margin (6 - 2 = 4 is not more than 4): affinity holds.
  workers[owner].load.in_flight = 6;
  EXPECT_EQ(policy->Choose({key}, workers).index, owner);
  // More than 4 above and more than twice the least loaded: least-load decides.
  workers[owner].load.in_flight = 7;
  workers[other].load.in_flight = 1;
  RoutingDecision decision = policy->Choose({key}, workers);
  EXPECT_EQ(decision.index, other);
  EXPECT_EQ(decision.outcome, "load_guard");
  // Far above in absolute terms but not twice as busy: affinity holds.
  for (RoutingCandidate& worker : workers) worker.load.in_flight = 20;
  workers[owner].load.in_flight = 30;
  EXPECT_EQ(policy->Choose({key}, workers).index, owner);
}

TEST(PrefixAffinityPolicyTest, AFullOwnerKeepsItsKeysButTheRequestGoesElsewhere) {
  std::unique_ptr<RoutingPolicy> policy = Make(kPrefixAffinityPolicy);
  std::vector<RoutingCandidate> workers = Workers(3);
  const std::string key = "text:Once upon a time";
  const size_t owner = policy->Choose({key}, workers).index;
  workers[owner].available = false;
  RoutingDecision decision = policy->Choose({key}, workers);
  EXPECT_NE(decision.index, owner);
  EXPECT_EQ(decision.outcome, "owner_unavailable");
  // Other keys do not move while the owner is full: the ring still counts it.
  workers[owner].available = true;
  EXPECT_EQ(policy->Choose({key}, workers).index, owner);
}

}  // namespace
}  // namespace tessera::router
