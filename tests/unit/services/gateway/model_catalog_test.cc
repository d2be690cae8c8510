#include "services/gateway/model_catalog.h"

#include "gtest/gtest.h"
#include "services/gateway/errors.h"

namespace tessera::gateway {
namespace {

v1::ListModelsResponse Models(std::initializer_list<const char*> ids) {
  v1::ListModelsResponse models;
  for (const char* id : ids) models.add_models()->set_id(id);
  return models;
}

TEST(ResolveModel, OmittedModelIsTheFirstServedOne) {
  absl::StatusOr<std::string> model = ResolveModel(Models({"qwen", "llama"}), "");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(*model, "qwen");
}

TEST(ResolveModel, ServedModelIsKept) {
  absl::StatusOr<std::string> model = ResolveModel(Models({"qwen", "llama"}), "llama");
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(*model, "llama");
}

TEST(ResolveModel, UnknownModelIsNotFoundNamingTheParam) {
  absl::StatusOr<std::string> model = ResolveModel(Models({"qwen"}), "gpt-4");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(model.status().message(), "The model `gpt-4` does not exist.");
  EXPECT_EQ(ParamOf(model.status()), "model");
}

TEST(ResolveModel, EmptyListLeavesTheAnswerToTheBackend) {
  absl::StatusOr<std::string> model = ResolveModel(Models({}), "anything");
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(*model, "anything");
}

TEST(ModelCatalog, ListIsFreshOnlyWithinItsMaxAge) {
  ModelCatalog catalog(absl::Seconds(2));
  const absl::Time start = absl::FromUnixSeconds(1000);
  EXPECT_FALSE(catalog.Fresh(start).has_value());
  catalog.Store(Models({"qwen"}), start);
  ASSERT_TRUE(catalog.Fresh(start + absl::Seconds(1)).has_value());
  EXPECT_EQ(catalog.Fresh(start + absl::Seconds(1))->models(0).id(), "qwen");
  EXPECT_FALSE(catalog.Fresh(start + absl::Seconds(2)).has_value());
  // A clock that went backwards does not make an old list look fresh forever.
  EXPECT_FALSE(catalog.Fresh(start - absl::Seconds(1)).has_value());
}

}  // namespace
}  // namespace tessera::gateway
