// OpenAI-shaped API errors for the gateway: one place that turns an absl::Status or a gRPC status from the backend
// into the HTTP status and the `{"error":{"message","type","param","code"}}` body that vLLM returns.
// Validation errors carry the offending parameter name as a Status payload so that it survives StatusOr plumbing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace tessera::gateway {

// An error that is ready to be sent to an HTTP client.
struct ApiError {
  int http_status = 500;
  std::string message;
  std::optional<std::string> param;  // the request field at fault, when one is

  // The OpenAI error object, e.g. {"error":{"message":"...","type":"BadRequestError","param":"n","code":400}}.
  std::string ToJson() const;
};

// InvalidArgument whose payload names `param`; becomes a 400 with "param" set.
absl::Status InvalidParam(std::string_view param, std::string_view message);
// `status` with its payload naming `param` (e.g. a 404 for an unknown "model").
absl::Status WithParam(absl::Status status, std::string_view param);
// The param recorded by InvalidParam, if any.
std::optional<std::string> ParamOf(const absl::Status& status);

// The HTTP status for a canonical error code: INVALID_ARGUMENT→400, UNAUTHENTICATED→401, PERMISSION_DENIED→403,
// NOT_FOUND→404, RESOURCE_EXHAUSTED→429, UNAVAILABLE→503, DEADLINE_EXCEEDED→504, CANCELLED→499, others→500.
int HttpStatusForCode(absl::StatusCode code);
int HttpStatusForGrpc(grpc::StatusCode code);

// The error "type" vLLM puts in its body for an HTTP status (BadRequestError, NotFoundError, ...).
std::string_view ErrorTypeForHttpStatus(int http_status);

ApiError ApiErrorFromStatus(const absl::Status& status);
ApiError ApiErrorFromGrpc(const grpc::Status& status);

// The same code and message as an absl::Status (the two share the canonical numbering).
absl::Status StatusFromGrpc(const grpc::Status& status);

}  // namespace tessera::gateway
