#include "common/metrics/metrics_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Sends one request over loopback (Connection: close) and returns the whole response.
std::string Exchange(uint16_t port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    ssize_t n;
    while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

std::string Get(uint16_t port, const std::string& target) {
  return Exchange(port, "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<CounterFamily*> family = registry_.AddCounter("test_scrapes_total", "Scrapes in the test.", {"kind"});
    ASSERT_TRUE(family.ok()) << family.status();
    absl::StatusOr<Counter*> counter = (*family)->WithLabels({"unit"});
    ASSERT_TRUE(counter.ok()) << counter.status();
    (*counter)->Increment(3);
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server = MetricsHttpServer::Start(&registry_, "127.0.0.1", 0);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_NE(server_->port(), 0);
  }

  Registry registry_;
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(MetricsHttpServerTest, ServesTheRegistryAtMetrics) {
  const std::string response = Get(server_->port(), "/metrics");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\n\r\n" + registry_.Render()));
  EXPECT_THAT(response, HasSubstr("test_scrapes_total{kind=\"unit\"} 3\n"));
}

TEST_F(MetricsHttpServerTest, IgnoresTheQueryString) {
  EXPECT_THAT(Get(server_->port(), "/metrics?name[]=x"), StartsWith("HTTP/1.1 200 OK\r\n"));
}

TEST_F(MetricsHttpServerTest, AnswersOtherPathsWithNotFound) {
  EXPECT_THAT(Get(server_->port(), "/"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_THAT(Get(server_->port(), "/metricsx"), StartsWith("HTTP/1.1 404 Not Found\r\n"));
}

TEST_F(MetricsHttpServerTest, RefusesOtherMethodsOnMetrics) {
  const std::string response = Exchange(
      server_->port(), "POST /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 405 Method Not Allowed\r\n"));
}

TEST_F(MetricsHttpServerTest, ServesSeveralRequestsOnOneConnection) {
  const std::string response =
      Exchange(server_->port(),
               "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
               "GET /nothing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(response, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(response, HasSubstr("HTTP/1.1 404 Not Found\r\n"));
}

TEST_F(MetricsHttpServerTest, StopIsIdempotentAndFreesThePort) {
  const uint16_t port = server_->port();
  server_->Stop();
  server_->Stop();
  EXPECT_EQ(Get(port, "/metrics"), "");
}

TEST(MetricsHttpServerStartTest, RejectsABadHost) {
  Registry registry;
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server = MetricsHttpServer::Start(&registry, "not-an-ip", 0);
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::metrics
