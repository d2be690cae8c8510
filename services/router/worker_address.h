// Worker addresses as the router handles them: "host:port" strings (IPv6 hosts in brackets) parsed from --workers
// and --discover-dns, and the address a registering worker is reached at when it only knows its wildcard bind
// address.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::router {

struct HostPort {
  std::string host;  // without brackets
  int port = 0;
};

// "host:port" or "[v6]:port", port 1..65535. Errors name the text and what is wrong with it.
absl::StatusOr<HostPort> ParseHostPort(std::string_view text);
// The canonical "host:port" form (brackets around IPv6 hosts).
std::string FormatHostPort(std::string_view host, int port);
// A comma-separated --workers list; blanks around items are ignored, an empty item or a duplicate is an error.
absl::StatusOr<std::vector<std::string>> ParseWorkerList(std::string_view text);

// The address to call a worker at, from what it reported and the peer its registration stream comes from (gRPC's
// "ipv4:1.2.3.4:5678" / "ipv6:[::1]:5678"): a wildcard or empty host (0.0.0.0, ::) is replaced by the peer's IP,
// anything else is kept. InvalidArgument when the reported address has no valid port.
absl::StatusOr<std::string> ReachableWorkerAddress(std::string_view reported, std::string_view peer);

}  // namespace tessera::router
