#include "services/gateway/errors.h"

#include "gtest/gtest.h"

namespace tessera::gateway {
namespace {

TEST(Errors, GrpcCodesMapToHttpStatuses) {
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::INVALID_ARGUMENT), 400);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::NOT_FOUND), 404);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::RESOURCE_EXHAUSTED), 429);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::UNAVAILABLE), 503);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::DEADLINE_EXCEEDED), 504);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::UNAUTHENTICATED), 401);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::INTERNAL), 500);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::UNKNOWN), 500);
  EXPECT_EQ(HttpStatusForGrpc(grpc::StatusCode::DATA_LOSS), 500);
}

TEST(Errors, OpenAIShapedBody) {
  const ApiError error = ApiErrorFromStatus(InvalidParam("temperature", "'temperature' must be non-negative"));
  EXPECT_EQ(error.http_status, 400);
  EXPECT_EQ(error.ToJson(),
            R"({"error":{"message":"'temperature' must be non-negative","type":"BadRequestError",)"
            R"("param":"temperature","code":400}})");
  const ApiError backend = ApiErrorFromGrpc(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full"));
  EXPECT_EQ(backend.ToJson(), R"({"error":{"message":"queue full","type":"RateLimitError","param":null,"code":429}})");
}

TEST(Errors, StatusWithoutParam) {
  EXPECT_FALSE(ParamOf(absl::InvalidArgumentError("x")).has_value());
  EXPECT_EQ(ApiErrorFromStatus(absl::NotFoundError("no model")).http_status, 404);
}

TEST(Errors, WithParamKeepsTheCode) {
  const ApiError error = ApiErrorFromStatus(WithParam(absl::NotFoundError("The model `x` does not exist."), "model"));
  EXPECT_EQ(error.ToJson(), R"({"error":{"message":"The model `x` does not exist.","type":"NotFoundError",)"
                            R"("param":"model","code":404}})");
  EXPECT_TRUE(WithParam(absl::OkStatus(), "model").ok());
}

TEST(Errors, GrpcStatusBecomesTheSameAbslStatus) {
  const absl::Status status = StatusFromGrpc(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no healthy worker"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "no healthy worker");
  EXPECT_EQ(ApiErrorFromStatus(status).http_status, 503);
  EXPECT_TRUE(StatusFromGrpc(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace tessera::gateway
