// SnapshotDownload without a server: the selection rules, offline mode answering from the cache, and the fallback
// to the cache when the hub cannot be reached. Transfers against a live (local) hub are covered by
// tests/integration/hub_download.sh.
#include "common/hub/snapshot_download.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/hub/model_cache.h"

namespace tessera::hub {
namespace {
namespace fs = std::filesystem;

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

class SnapshotDownloadTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) /
            ("tessera_snapshot_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(root_);
    env_.cache_dir = root_.string();
    // Nothing listens on port 1 of the loopback: every connection is refused at once.
    env_.hf_endpoint = "http://127.0.0.1:1";
    env_.modelscope_endpoint = "http://127.0.0.1:1";
    request_.model_id = "tessera-test/tiny-llama";
    request_.show_progress = false;
  }
  void TearDown() override { fs::remove_all(root_); }

  // A snapshot of `commit` with config.json, as an earlier online run would have left it, with `revision` -> commit.
  void CacheSnapshot(HubKind hub, const std::string& revision) {
    ModelCache cache(root_.string(), hub, ModelId{"tessera-test", "tiny-llama"});
    fs::create_directories(fs::path(cache.BlobPath("b")).parent_path());
    std::ofstream(cache.BlobPath("blob")) << "{}";
    ASSERT_TRUE(cache.LinkSnapshotFile(kCommit, "config.json", "blob").ok());
    ASSERT_TRUE(cache.WriteRef(revision, kCommit).ok());
  }

  fs::path root_;
  HubEnvironment env_;
  SnapshotRequest request_;
};

TEST_F(SnapshotDownloadTest, DefaultSelectionIsWhatAModelFolderNeeds) {
  for (const char* wanted : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                             "special_tokens_map.json", "tokenizer.model", "merges.txt", "vocab.json",
                             "model.safetensors", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
                             "chat_template.jinja"}) {
    EXPECT_TRUE(IsDefaultModelFile(wanted, true)) << wanted;
  }
  for (const char* unwanted : {"pytorch_model.bin", "README.md", ".gitattributes", "original/params.json",
                               "onnx/model.onnx", "model.gguf", "sub/model.safetensors"}) {
    EXPECT_FALSE(IsDefaultModelFile(unwanted, true)) << unwanted;
  }
  EXPECT_FALSE(IsDefaultModelFile("model.safetensors", false));
  EXPECT_TRUE(IsDefaultModelFile("config.json", false));
}

TEST_F(SnapshotDownloadTest, AllowPatternsFollowFnmatch) {
  EXPECT_TRUE(MatchesAnyPattern("config.json", {"*.json"}));
  EXPECT_TRUE(MatchesAnyPattern("original/params.json", {"*.json"}));  // '*' crosses '/', as in Python's fnmatch
  EXPECT_TRUE(MatchesAnyPattern("model-00001-of-00002.safetensors", {"*.txt", "model-0000?-of-*.safetensors"}));
  EXPECT_FALSE(MatchesAnyPattern("model.bin", {"*.json", "*.safetensors"}));
}

TEST_F(SnapshotDownloadTest, OfflineModeAnswersFromTheCache) {
  env_.offline = true;
  absl::StatusOr<std::string> missing = SnapshotDownload(request_, env_);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              testing::AllOf(testing::HasSubstr("tessera-test/tiny-llama"), testing::HasSubstr("offline"),
                             testing::HasSubstr("tessera download")));
  CacheSnapshot(HubKind::kHuggingFace, "main");
  absl::StatusOr<std::string> found = SnapshotDownload(request_, env_);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, (root_ / "models--tessera-test--tiny-llama/snapshots" / kCommit).string());
  request_.revision = kCommit;
  EXPECT_EQ(*SnapshotDownload(request_, env_), *found);
  request_.revision = "v2";
  EXPECT_EQ(SnapshotDownload(request_, env_).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SnapshotDownloadTest, OfflineModeKeepsTheHubsApart) {
  env_.offline = true;
  CacheSnapshot(HubKind::kHuggingFace, "main");
  request_.hub = HubKind::kModelScope;
  EXPECT_EQ(SnapshotDownload(request_, env_).status().code(), absl::StatusCode::kNotFound);
  CacheSnapshot(HubKind::kModelScope, "master");
  absl::StatusOr<std::string> found = SnapshotDownload(request_, env_);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_THAT(*found, testing::HasSubstr("/modelscope/models--tessera-test--tiny-llama/snapshots/"));
}

TEST_F(SnapshotDownloadTest, UnreachableHubFallsBackToTheCache) {
  absl::StatusOr<std::string> down = SnapshotDownload(request_, env_);
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(down.status().message()), testing::HasSubstr("127.0.0.1:1"));
  CacheSnapshot(HubKind::kHuggingFace, "main");
  absl::StatusOr<std::string> cached = SnapshotDownload(request_, env_);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_THAT(*cached, testing::EndsWith(kCommit));
}

TEST_F(SnapshotDownloadTest, RejectsBadIdsAndRevisionsBeforeAnyRequest) {
  request_.model_id = "a/../../b";
  EXPECT_EQ(SnapshotDownload(request_, env_).status().code(), absl::StatusCode::kInvalidArgument);
  request_.model_id = "tessera-test/tiny-llama";
  request_.revision = "../../etc";
  EXPECT_EQ(SnapshotDownload(request_, env_).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(fs::exists(root_));  // nothing was created
}

TEST_F(SnapshotDownloadTest, NeedsACacheFolder) {
  env_.cache_dir.clear();
  EXPECT_EQ(SnapshotDownload(request_, env_).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tessera::hub
