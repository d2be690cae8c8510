#include "common/hub/curl_session.h"

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tessera::hub {
namespace {

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

absl::StatusOr<std::unique_ptr<CurlSession>> CurlSession::Create(const HttpRequest& request,
                                                                  const HttpSettings& settings) {
  GlobalInitOnce();
  std::unique_ptr<CurlSession> session(new CurlSession());
  session->handle_ = curl_easy_init();
  if (session->handle_ == nullptr) return absl::InternalError("libcurl could not create a transfer handle");
  session->url_ = request.url;
  for (const std::string& header : request.headers) {
    curl_slist* extended = curl_slist_append(session->headers_, header.c_str());
    if (extended == nullptr) return absl::InternalError("libcurl could not add a request header");
    session->headers_ = extended;
  }
  CURL* h = session->handle_;
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, session->headers_);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "tessera/0.1");
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, session->error_buffer_);
  // Hub file URLs redirect to a CDN; libcurl drops custom Authorization headers when the host changes.
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // transfers run on worker threads
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, settings.connect_timeout_s);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, settings.stall_timeout_s);
  if (!settings.ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, settings.ca_bundle.c_str());
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &CurlSession::OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, session.get());
  return session;
}

CurlSession::~CurlSession() {
  if (handle_ != nullptr) curl_easy_cleanup(handle_);
  curl_slist_free_all(headers_);
}

size_t CurlSession::OnHeader(char* data, size_t size, size_t count, void* self) {
  auto* session = static_cast<CurlSession*>(self);
  const size_t length = size * count;
  absl::string_view line(data, length);
  line = absl::StripTrailingAsciiWhitespace(line);
  if (absl::StartsWith(line, "HTTP/")) {
    session->head_ = ResponseHead();
    const size_t space = line.find(' ');
    if (space != absl::string_view::npos) {
      long status = 0;
      for (size_t i = space + 1; i < line.size() && absl::ascii_isdigit(static_cast<unsigned char>(line[i])); ++i)
        status = status * 10 + (line[i] - '0');
      session->head_.status = status;
    }
    return length;
  }
  const size_t colon = line.find(':');
  if (colon != absl::string_view::npos) {
    std::string name = absl::AsciiStrToLower(line.substr(0, colon));
    session->head_.headers[name] = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return length;
}

absl::Status CurlSession::TransportError(CURLcode code) const {
  const std::string reason = error_buffer_[0] != '\0' ? error_buffer_ : curl_easy_strerror(code);
  std::string hint;
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
      hint = " (for a mirror with a private CA, point TESSERA_CA_BUNDLE at its certificate)";
      break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
      hint = " (network down? TESSERA_OFFLINE=1 uses only models already in the cache)";
      break;
    default:
      break;
  }
  return absl::UnavailableError(absl::StrCat("cannot fetch ", url_, ": ", reason, hint));
}

bool IsTransientCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

}  // namespace tessera::hub
