#include "common/hub/file_digest.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace tessera::hub {
namespace {

std::string WriteTemporaryFile(const std::string& name, const std::string& content) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

TEST(FileDigestTest, Sha256OfKnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FileDigestTest, FileSha256MatchesStringSha256) {
  std::string content;
  for (int i = 0; i < 3'000'000; ++i) content.push_back(static_cast<char>(i * 7));  // spans several read chunks
  const std::string path = WriteTemporaryFile("tessera_digest_big.bin", content);
  absl::StatusOr<std::string> digest = FileSha256Hex(path);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, Sha256Hex(content));
  std::remove(path.c_str());
}

TEST(FileDigestTest, GitBlobSha1AsGitComputesIt) {
  // `printf 'hello world\n' | git hash-object --stdin` and the empty blob.
  const std::string hello = WriteTemporaryFile("tessera_digest_hello.txt", "hello world\n");
  const std::string empty = WriteTemporaryFile("tessera_digest_empty.txt", "");
  EXPECT_EQ(*FileGitBlobSha1Hex(hello), "3b18e512dba79e4c8300dd08aeb37f8e728b8dad");
  EXPECT_EQ(*FileGitBlobSha1Hex(empty), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
  std::remove(hello.c_str());
  std::remove(empty.c_str());
}

TEST(FileDigestTest, MissingFileIsNotFound) {
  EXPECT_EQ(FileSha256Hex("/nonexistent/tessera/file").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace tessera::hub
