#include "common/hub/model_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

namespace tessera::hub {
namespace {
namespace fs = std::filesystem;

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

class ModelCacheTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(testing::TempDir()) /
            ("tessera_cache_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_;
  ModelId id_{"tessera-test", "tiny-llama"};
};

TEST_F(ModelCacheTest, UsesTheHuggingFaceHubLayout) {
  ModelCache hf(root_.string(), HubKind::kHuggingFace, id_);
  EXPECT_EQ(hf.repo_dir(), (root_ / "models--tessera-test--tiny-llama").string());
  EXPECT_EQ(hf.BlobPath("abc"), (root_ / "models--tessera-test--tiny-llama/blobs/abc").string());
  EXPECT_EQ(hf.IncompletePath("abc"), (root_ / "models--tessera-test--tiny-llama/blobs/abc.incomplete").string());
  EXPECT_EQ(hf.SnapshotDir(kCommit), (root_ / "models--tessera-test--tiny-llama/snapshots" / kCommit).string());
  EXPECT_EQ(hf.LockPath("abc"), (root_ / ".locks/models--tessera-test--tiny-llama/abc.lock").string());
  ModelCache ms(root_.string(), HubKind::kModelScope, id_);
  EXPECT_EQ(ms.repo_dir(), (root_ / "modelscope/models--tessera-test--tiny-llama").string());
}

TEST_F(ModelCacheTest, RefsRoundTripIncludingNestedRevisions) {
  ModelCache cache(root_.string(), HubKind::kHuggingFace, id_);
  EXPECT_EQ(cache.ReadRef("main").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(cache.WriteRef("main", kCommit).ok());
  ASSERT_TRUE(cache.WriteRef("refs/pr/1", kCommit).ok());
  EXPECT_EQ(*cache.ReadRef("main"), kCommit);
  EXPECT_EQ(*cache.ReadRef("refs/pr/1"), kCommit);
  // No temporary file is left beside the ref.
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(fs::path(cache.repo_dir()) / "refs")) ++entries;
  EXPECT_EQ(entries, 2);  // "main" and the "refs" folder
}

TEST_F(ModelCacheTest, LinksSnapshotFilesRelativelyAndReplacesStaleLinks) {
  ModelCache cache(root_.string(), HubKind::kHuggingFace, id_);
  fs::create_directories(fs::path(cache.BlobPath("x")).parent_path());
  std::ofstream(cache.BlobPath("blob1")) << "one";
  std::ofstream(cache.BlobPath("blob2")) << "two";
  ASSERT_TRUE(cache.LinkSnapshotFile(kCommit, "config.json", "blob1").ok());
  ASSERT_TRUE(cache.LinkSnapshotFile(kCommit, "original/params.json", "blob1").ok());
  const fs::path snapshot = cache.SnapshotDir(kCommit);
  EXPECT_EQ(fs::read_symlink(snapshot / "config.json").string(), "../../blobs/blob1");
  EXPECT_EQ(fs::read_symlink(snapshot / "original/params.json").string(), "../../../blobs/blob1");
  std::string content;
  std::ifstream(snapshot / "original/params.json") >> content;
  EXPECT_EQ(content, "one");
  EXPECT_TRUE(cache.HasSnapshotFile(kCommit, "config.json", "blob1"));
  EXPECT_FALSE(cache.HasSnapshotFile(kCommit, "config.json", "blob2"));
  ASSERT_TRUE(cache.LinkSnapshotFile(kCommit, "config.json", "blob2").ok());
  std::ifstream(snapshot / "config.json") >> content;
  EXPECT_EQ(content, "two");
  // A link to a blob that is gone does not count as present.
  fs::remove(cache.BlobPath("blob2"));
  EXPECT_FALSE(cache.HasSnapshotFile(kCommit, "config.json", "blob2"));
}

TEST_F(ModelCacheTest, FindsSnapshotsByCommitOrRef) {
  ModelCache cache(root_.string(), HubKind::kHuggingFace, id_);
  EXPECT_EQ(cache.FindSnapshot("main").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(cache.FindSnapshot(kCommit).status().code(), absl::StatusCode::kNotFound);
  fs::create_directories(cache.SnapshotDir(kCommit));
  EXPECT_EQ(*cache.FindSnapshot(kCommit), cache.SnapshotDir(kCommit));
  EXPECT_FALSE(cache.FindSnapshot("main").ok());  // no ref yet
  ASSERT_TRUE(cache.WriteRef("main", kCommit).ok());
  EXPECT_EQ(*cache.FindSnapshot("main"), cache.SnapshotDir(kCommit));
}

TEST_F(ModelCacheTest, BlobNamePrefersSha256ThenGitSha1) {
  RepoFile file{"config.json", 10, "", ""};
  const std::string unhashed = ModelCache::BlobName(file, kCommit);
  EXPECT_THAT(unhashed, testing::StartsWith("unhashed-"));
  EXPECT_NE(unhashed, ModelCache::BlobName(RepoFile{"other.json", 10, "", ""}, kCommit));
  file.git_blob_sha1 = "3b18e512dba79e4c8300dd08aeb37f8e728b8dad";
  EXPECT_EQ(ModelCache::BlobName(file, kCommit), file.git_blob_sha1);
  file.sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  EXPECT_EQ(ModelCache::BlobName(file, kCommit), file.sha256);
}

TEST_F(ModelCacheTest, FileLockExcludesOtherHolders) {
  const std::string lock_path = (root_ / ".locks/x/blob.lock").string();
  {
    absl::StatusOr<FileLock> lock = FileLock::Acquire(lock_path);
    ASSERT_TRUE(lock.ok()) << lock.status();
    // flock is per open file description: a second open of the same file (as another process would do) must not
    // get it while the lock is held.
    const int fd = ::open(lock_path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    EXPECT_NE(::flock(fd, LOCK_EX | LOCK_NB), 0);
    EXPECT_EQ(errno, EWOULDBLOCK);
    ::close(fd);
  }
  const int fd = ::open(lock_path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);  // released with the FileLock
  ::close(fd);
}

TEST_F(ModelCacheTest, WritesFilesAtomically) {
  fs::create_directories(root_);
  const std::string path = (root_ / "file").string();
  ASSERT_TRUE(WriteFileAtomically(path, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second").ok());
  std::string content;
  std::ifstream(path) >> content;
  EXPECT_EQ(content, "second");
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(root_)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST_F(ModelCacheTest, FreeSpaceCheckNamesTheShortfall) {
  fs::create_directories(root_);
  EXPECT_TRUE(CheckFreeSpace(root_.string(), 1).ok());
  absl::Status status = CheckFreeSpace(root_.string(), int64_t{1} << 60);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(status.message()), testing::HasSubstr("not enough disk space"));
}

}  // namespace
}  // namespace tessera::hub
