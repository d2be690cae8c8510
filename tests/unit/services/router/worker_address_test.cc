#include "services/router/worker_address.h"

#include "gtest/gtest.h"
#include "services/router/dns_discovery.h"

namespace tessera::router {
namespace {

TEST(WorkerAddressTest, ParsesHostPortAndIpv6) {
  absl::StatusOr<HostPort> plain = ParseHostPort("worker-0.workers:50051");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->host, "worker-0.workers");
  EXPECT_EQ(plain->port, 50051);
  absl::StatusOr<HostPort> v6 = ParseHostPort("[::1]:8");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(FormatHostPort("::1", 8), "[::1]:8");
  for (const char* bad : {"nohost", ":80", "h:0", "h:65536", "h:x", "::1:80", "[::1]80"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ParseHostPort(bad).status())) << bad;
  }
}

TEST(WorkerAddressTest, ParsesWorkerLists) {
  absl::StatusOr<std::vector<std::string>> list = ParseWorkerList("a:1, b:2 ,[::1]:3");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, (std::vector<std::string>{"a:1", "b:2", "[::1]:3"}));
  EXPECT_FALSE(ParseWorkerList("a:1,,b:2").ok());
  EXPECT_FALSE(ParseWorkerList("a:1,a:1").ok());
}

TEST(WorkerAddressTest, AWildcardReportedAddressTakesThePeersIp) {
  EXPECT_EQ(*ReachableWorkerAddress("10.1.2.3:50051", "ipv4:10.9.9.9:40000"), "10.1.2.3:50051");
  EXPECT_EQ(*ReachableWorkerAddress("0.0.0.0:50051", "ipv4:10.9.9.9:40000"), "10.9.9.9:50051");
  EXPECT_EQ(*ReachableWorkerAddress(":50051", "ipv6:[fe80::1%25eth0]:40000"), "[fe80::1]:50051");
  EXPECT_FALSE(ReachableWorkerAddress("0.0.0.0:50051", "unix:/tmp/sock").ok());
  EXPECT_FALSE(ReachableWorkerAddress("no-port", "ipv4:10.9.9.9:40000").ok());
}

TEST(DnsDiscoveryTest, ParsesTargetsAndResolvesARecords) {
  EXPECT_FALSE(ParseDnsTarget("workers.default.svc.cluster.local").ok());
  absl::StatusOr<DnsTarget> target = ParseDnsTarget("localhost:50051");
  ASSERT_TRUE(target.ok());
  absl::StatusOr<std::vector<std::string>> workers = ResolveWorkers(*target);
  ASSERT_TRUE(workers.ok()) << workers.status();
  EXPECT_EQ(*workers, (std::vector<std::string>{"127.0.0.1:50051"}));
  // A name without records is an empty pool (a headless Service with no ready pods), not an error.
  absl::StatusOr<std::vector<std::string>> none = ResolveWorkers({"no-such-host.invalid", 1});
  if (none.ok()) {
    EXPECT_TRUE(none->empty());
  }
}

TEST(DnsDiscoveryTest, RefreshFillsTheRegistry) {
  WorkerRegistry registry;
  DnsDiscovery discovery(&registry, {"localhost", 7000}, absl::Seconds(60));
  ASSERT_TRUE(discovery.RefreshOnce().ok());
  EXPECT_EQ(registry.Addresses(), (std::vector<std::string>{"127.0.0.1:7000"}));
}

}  // namespace
}  // namespace tessera::router
