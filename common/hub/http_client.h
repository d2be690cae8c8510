// Plain HTTPS GETs for the hubs' JSON APIs over libcurl: the final answer's status, headers and body after
// redirects. A transfer that never produced an answer (DNS, connection, TLS, timeout) is an Unavailable error;
// HTTP error statuses are answers, left to the hub client to explain.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tessera::hub {

struct HttpSettings {
  std::string ca_bundle;  // PEM file of trusted CAs; empty: the system store
  long connect_timeout_s = 30;
  // A transfer slower than one byte per second for this long is abandoned (and retried by downloads).
  long stall_timeout_s = 60;
};

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names, of the final answer after redirects
  std::string body;

  std::string Header(const std::string& lower_case_name) const;
};

absl::StatusOr<HttpResponse> HttpGet(const HttpRequest& request, const HttpSettings& settings);
// HttpGet, tried up to `attempts` times while the transfer fails or the answer is transient (see below), with a
// short pause that doubles each time.
absl::StatusOr<HttpResponse> HttpGetWithRetries(const HttpRequest& request, const HttpSettings& settings,
                                                int attempts);

// Percent-encodes everything but RFC 3986's unreserved characters ('/' included), for path segments and query
// values.
std::string UrlEncode(const std::string& text);

// 408, 429 and 5xx: worth another try after a pause.
bool IsTransientHttpStatus(long status);

}  // namespace tessera::hub
