#include "services/router/worker_address.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"

namespace tessera::router {

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  const std::string shown(text);
  HostPort out;
  std::string_view port_text;
  if (text.starts_with("[")) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("'", shown, "' is not [IPv6]:PORT"));
    }
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", shown, "' has no port; expected HOST:PORT"));
    }
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("'", shown, "': write IPv6 hosts in brackets, [::1]:PORT"));
    }
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) return absl::InvalidArgumentError(absl::StrCat("'", shown, "' has an empty host"));
  if (!absl::SimpleAtoi(absl::string_view(port_text.data(), port_text.size()), &out.port) || out.port < 1 ||
      out.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("'", shown, "' has no valid port (1..65535)"));
  }
  return out;
}

std::string FormatHostPort(std::string_view host, int port) {
  const std::string h(host);
  if (h.find(':') != std::string::npos) return absl::StrCat("[", h, "]:", port);
  return absl::StrCat(h, ":", port);
}

absl::StatusOr<std::vector<std::string>> ParseWorkerList(std::string_view text) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (absl::string_view item : absl::StrSplit(absl::string_view(text.data(), text.size()), ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (item.empty()) return absl::InvalidArgumentError("the worker list has an empty item");
    absl::StatusOr<HostPort> parsed = ParseHostPort(std::string_view(item.data(), item.size()));
    if (!parsed.ok()) return parsed.status();
    std::string address = FormatHostPort(parsed->host, parsed->port);
    if (!seen.insert(address).second) {
      return absl::InvalidArgumentError(absl::StrCat("worker ", address, " is listed twice"));
    }
    out.push_back(std::move(address));
  }
  return out;
}

absl::StatusOr<std::string> ReachableWorkerAddress(std::string_view reported, std::string_view peer) {
  absl::StatusOr<HostPort> parsed;
  if (reported.starts_with(":")) {
    // ":PORT" means "my port, wherever you see me".
    parsed = ParseHostPort(absl::StrCat("0.0.0.0", std::string(reported)));
  } else {
    parsed = ParseHostPort(reported);
  }
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the reported worker_address is not usable: ", parsed.status().message()));
  }
  const bool wildcard = parsed->host == "0.0.0.0" || parsed->host == "::" || parsed->host == "0:0:0:0:0:0:0:0";
  if (!wildcard) return FormatHostPort(parsed->host, parsed->port);
  if (peer.starts_with("ipv4:") || peer.starts_with("ipv6:")) {
    absl::StatusOr<HostPort> peer_address = ParseHostPort(peer.substr(5));
    if (peer_address.ok()) {
      // "%25" escapes an IPv6 zone; the zone is meaningless to other hosts, so drop it.
      std::string host = peer_address->host.substr(0, peer_address->host.find("%25"));
      return FormatHostPort(host, parsed->port);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("the worker reported the wildcard address ", std::string(reported),
                                                 " and its peer address '", std::string(peer),
                                                 "' is not an IP; start the worker with --advertised-address"));
}

}  // namespace tessera::router
