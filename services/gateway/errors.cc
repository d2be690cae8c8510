#include "services/gateway/errors.h"

#include "absl/strings/cord.h"
#include "nlohmann/json.hpp"

namespace tessera::gateway {
namespace {

constexpr char kParamPayloadUrl[] = "type.tessera.dev/gateway.param";

}  // namespace

std::string ApiError::ToJson() const {
  nlohmann::ordered_json body;
  body["error"]["message"] = message;
  body["error"]["type"] = std::string(ErrorTypeForHttpStatus(http_status));
  body["error"]["param"] = param ? nlohmann::ordered_json(*param) : nlohmann::ordered_json(nullptr);
  body["error"]["code"] = http_status;
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status InvalidParam(std::string_view param, std::string_view message) {
  return WithParam(absl::Status(absl::StatusCode::kInvalidArgument, absl::string_view(message.data(), message.size())),
                   param);
}

absl::Status WithParam(absl::Status status, std::string_view param) {
  if (status.ok()) return status;
  status.SetPayload(kParamPayloadUrl, absl::Cord(absl::string_view(param.data(), param.size())));
  return status;
}

std::optional<std::string> ParamOf(const absl::Status& status) {
  auto payload = status.GetPayload(kParamPayloadUrl);
  if (!payload) return std::nullopt;
  return std::string(*payload);
}

int HttpStatusForCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;  // the client went away (nginx's convention); never reaches a connected client
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

int HttpStatusForGrpc(grpc::StatusCode code) {
  // grpc::StatusCode and absl::StatusCode share the canonical numbering.
  return HttpStatusForCode(static_cast<absl::StatusCode>(static_cast<int>(code)));
}

std::string_view ErrorTypeForHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
      return "BadRequestError";
    case 401:
      return "AuthenticationError";
    case 403:
      return "PermissionDeniedError";
    case 404:
      return "NotFoundError";
    case 405:
      return "MethodNotAllowedError";
    case 408:
      return "RequestTimeoutError";
    case 413:
      return "RequestEntityTooLargeError";
    case 415:
      return "UnsupportedMediaTypeError";
    case 429:
      return "RateLimitError";
    case 431:
      return "RequestHeaderFieldsTooLargeError";
    case 501:
      return "NotImplementedError";
    case 503:
      return "ServiceUnavailableError";
    case 504:
      return "GatewayTimeoutError";
    default:
      return http_status >= 500 ? "InternalServerError" : "BadRequestError";
  }
}

ApiError ApiErrorFromStatus(const absl::Status& status) {
  return ApiError{HttpStatusForCode(status.code()), std::string(status.message()), ParamOf(status)};
}

ApiError ApiErrorFromGrpc(const grpc::Status& status) {
  return ApiError{HttpStatusForGrpc(status.error_code()), status.error_message(), std::nullopt};
}

absl::Status StatusFromGrpc(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(static_cast<int>(status.error_code())), status.error_message());
}

}  // namespace tessera::gateway
