#include "common/hub/http_client.h"

#include <chrono>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/hub/curl_session.h"

namespace tessera::hub {
namespace {

// API answers are small JSON documents; anything near this size is not one.
constexpr size_t kMaxApiBodyBytes = 256u << 20;

size_t AppendBody(char* data, size_t size, size_t count, void* body) {
  auto* out = static_cast<std::string*>(body);
  if (out->size() + size * count > kMaxApiBodyBytes) return 0;
  out->append(data, size * count);
  return size * count;
}

}  // namespace

std::string HttpResponse::Header(const std::string& lower_case_name) const {
  auto it = headers.find(lower_case_name);
  return it == headers.end() ? std::string() : it->second;
}

absl::StatusOr<HttpResponse> HttpGet(const HttpRequest& request, const HttpSettings& settings) {
  auto session_or = CurlSession::Create(request, settings);
  if (!session_or.ok()) return session_or.status();
  CurlSession& session = **session_or;
  HttpResponse response;
  curl_easy_setopt(session.handle(), CURLOPT_ACCEPT_ENCODING, "");  // JSON listings compress well
  curl_easy_setopt(session.handle(), CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(session.handle(), CURLOPT_WRITEDATA, &response.body);
  const CURLcode code = curl_easy_perform(session.handle());
  if (code != CURLE_OK) return session.TransportError(code);
  response.status = session.head().status;
  response.headers = session.head().headers;
  return response;
}

absl::StatusOr<HttpResponse> HttpGetWithRetries(const HttpRequest& request, const HttpSettings& settings,
                                                int attempts) {
  auto pause = std::chrono::milliseconds(500);
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<HttpResponse> response = HttpGet(request, settings);
    const bool transient = response.ok() ? IsTransientHttpStatus(response->status) : absl::IsUnavailable(response.status());
    if (!transient || attempt >= attempts) return response;
    std::this_thread::sleep_for(pause);
    pause *= 2;
  }
}

std::string UrlEncode(const std::string& text) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

bool IsTransientHttpStatus(long status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace tessera::hub
