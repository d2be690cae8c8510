#include "common/hub/model_resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/hub/model_cache.h"

namespace tessera::hub {
namespace {
namespace fs = std::filesystem;

const std::string kFixtureModel = std::string(TESSERA_FIXTURES_DIR) + "/models/tiny-llama";
constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

class ModelResolverTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) /
            ("tessera_resolver_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    env_.cache_dir = (root_ / "cache").string();
    env_.hf_endpoint = "http://127.0.0.1:1";
    env_.offline = true;
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
  HubEnvironment env_;
};

TEST_F(ModelResolverTest, ExistingFolderIsUsedAsItIs) {
  absl::StatusOr<std::string> path = ResolveModelPath(ModelSource{kFixtureModel}, env_);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, kFixtureModel);
}

TEST_F(ModelResolverTest, ExplainsWhatIsNeitherFolderNorId) {
  std::ofstream(root_ / "file") << "x";
  EXPECT_EQ(ResolveModelPath(ModelSource{(root_ / "file").string()}, env_).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (const std::string bad : {(root_ / "missing").string(), std::string("a/../../b"), std::string("../x")}) {
    absl::Status status = ResolveModelPath(ModelSource{bad}, env_).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << bad;
    EXPECT_THAT(std::string(status.message()),
                testing::AllOf(testing::HasSubstr("does not exist"), testing::HasSubstr("config.json"),
                               testing::HasSubstr("not a model id")))
        << bad;
  }
}

TEST_F(ModelResolverTest, OfflineIdResolvesToACompleteCachedSnapshot) {
  ModelSource source{"tessera-test/tiny-llama"};
  EXPECT_EQ(ResolveModelPath(source, env_).status().code(), absl::StatusCode::kNotFound);
  // Cache the fixture's files as blobs, linked into a snapshot that main points at.
  ModelCache cache(env_.cache_dir, HubKind::kHuggingFace, ModelId{"tessera-test", "tiny-llama"});
  fs::create_directories(fs::path(cache.BlobPath("x")).parent_path());
  for (const char* name : {"config.json", "tokenizer.json"}) {
    fs::copy_file(fs::path(kFixtureModel) / name, cache.BlobPath(std::string("blob-") + name));
    ASSERT_TRUE(cache.LinkSnapshotFile(kCommit, name, std::string("blob-") + name).ok());
  }
  ASSERT_TRUE(cache.WriteRef("main", kCommit).ok());
  // Config but no weights: incomplete for a real load, enough for dummy weights.
  absl::Status incomplete = ResolveModelPath(source, env_).status();
  EXPECT_EQ(incomplete.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(incomplete.message()), testing::HasSubstr("safetensors"));
  source.need_weights = false;
  EXPECT_TRUE(ResolveModelPath(source, env_).ok());
  source.need_weights = true;
  fs::copy_file(fs::path(kFixtureModel) / "model.safetensors", cache.BlobPath("blob-weights"));
  ASSERT_TRUE(cache.LinkSnapshotFile(kCommit, "model.safetensors", "blob-weights").ok());
  absl::StatusOr<std::string> path = ResolveModelPath(source, env_);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, cache.SnapshotDir(kCommit));
}

TEST_F(ModelResolverTest, CheckModelFolderFollowsTheShardIndex) {
  const fs::path dir = root_ / "sharded";
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << "{}";
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}})";
  std::ofstream(dir / "model-00001-of-00002.safetensors") << "x";
  absl::Status status = CheckModelFolder(dir.string(), true);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), testing::HasSubstr("model-00002-of-00002.safetensors"));
  EXPECT_THAT(std::string(status.message()), testing::Not(testing::HasSubstr("model-00001")));
  std::ofstream(dir / "model-00002-of-00002.safetensors") << "x";
  EXPECT_TRUE(CheckModelFolder(dir.string(), true).ok());
  EXPECT_TRUE(CheckModelFolder(kFixtureModel, true).ok());
  fs::remove(dir / "config.json");
  EXPECT_THAT(std::string(CheckModelFolder(dir.string(), true).message()), testing::HasSubstr("config.json"));
}

}  // namespace
}  // namespace tessera::hub
