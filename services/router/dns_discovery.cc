#include "services/router/dns_discovery.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/router/worker_address.h"

namespace tessera::router {

absl::StatusOr<DnsTarget> ParseDnsTarget(std::string_view text) {
  absl::StatusOr<HostPort> parsed = ParseHostPort(text);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--discover-dns wants NAME:PORT: ", parsed.status().message()));
  }
  return DnsTarget{parsed->host, parsed->port};
}

absl::StatusOr<std::vector<std::string>> ResolveWorkers(const DnsTarget& target) {
  addrinfo hints{};
  hints.ai_family = AF_INET;  // A records
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* results = nullptr;
  const int rc = getaddrinfo(target.name.c_str(), nullptr, &hints, &results);
  if (rc == EAI_NONAME || rc == EAI_NODATA) return std::vector<std::string>{};
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve '", target.name, "': ", gai_strerror(rc)));
  }
  std::set<std::string> addresses;
  for (const addrinfo* entry = results; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_family != AF_INET) continue;
    char ip[INET_ADDRSTRLEN] = {};
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(entry->ai_addr);
    if (inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip)) != nullptr) addresses.insert(FormatHostPort(ip, target.port));
  }
  freeaddrinfo(results);
  return std::vector<std::string>(addresses.begin(), addresses.end());
}

DnsDiscovery::DnsDiscovery(WorkerRegistry* registry, DnsTarget target, absl::Duration refresh_interval)
    : registry_(registry), target_(std::move(target)), refresh_interval_(refresh_interval) {}

DnsDiscovery::~DnsDiscovery() { Stop(); }

absl::Status DnsDiscovery::RefreshOnce() {
  absl::StatusOr<std::vector<std::string>> addresses = ResolveWorkers(target_);
  std::string error = addresses.ok() ? "" : std::string(addresses.status().message());
  {
    // Log a failure once, not every refresh, and say when it clears.
    absl::MutexLock lock(&mutex_);
    if (error != last_error_) {
      if (!error.empty()) {
        std::fprintf(stderr, "tessera-router: DNS discovery: %s (keeping the workers found before)\n", error.c_str());
      } else if (!last_error_.empty()) {
        std::fprintf(stderr, "tessera-router: DNS discovery: '%s' resolves again\n", target_.name.c_str());
      }
      last_error_ = error;
    }
  }
  if (!addresses.ok()) return addresses.status();
  registry_->SetDiscoveredWorkers(*addresses);
  return absl::OkStatus();
}

void DnsDiscovery::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void DnsDiscovery::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void DnsDiscovery::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return stopping_; };
      if (mutex_.AwaitWithTimeout(absl::Condition(&stopping), refresh_interval_)) return;
    }
    RefreshOnce().IgnoreError();
  }
}

}  // namespace tessera::router
