// The libcurl easy handle every hub transfer uses, set up once with the same TLS trust, timeouts, redirects and
// headers, plus the collector of the final answer's status line and headers. Internal to common/hub.
#pragma once

#include <curl/curl.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/hub/http_client.h"

namespace tessera::hub {

// Status and headers of the last answer received; redirects start a new answer, so this ends with the final one.
struct ResponseHead {
  long status = 0;
  std::map<std::string, std::string> headers;
};

class CurlSession {
 public:
  static absl::StatusOr<std::unique_ptr<CurlSession>> Create(const HttpRequest& request,
                                                             const HttpSettings& settings);
  ~CurlSession();
  CurlSession(const CurlSession&) = delete;
  CurlSession& operator=(const CurlSession&) = delete;

  CURL* handle() const { return handle_; }
  const ResponseHead& head() const { return head_; }
  // The error for a transfer that failed before an answer arrived, naming the URL and libcurl's reason.
  absl::Status TransportError(CURLcode code) const;

 private:
  CurlSession() = default;
  static size_t OnHeader(char* data, size_t size, size_t count, void* self);

  CURL* handle_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string url_;
  ResponseHead head_;
  char error_buffer_[CURL_ERROR_SIZE] = {};
};

// Failures a retry may cure: connection refused or reset, a cut or stalled transfer, timeouts.
bool IsTransientCurlError(CURLcode code);

}  // namespace tessera::hub
