#include "common/hub/model_id.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tessera::hub {
namespace {

TEST(ModelIdTest, ParsesOrgAndName) {
  absl::StatusOr<ModelId> id = ParseModelId("Qwen/Qwen2.5-0.5B-Instruct");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->org, "Qwen");
  EXPECT_EQ(id->name, "Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(id->ToString(), "Qwen/Qwen2.5-0.5B-Instruct");
  EXPECT_TRUE(ParseModelId("meta-llama/Llama-3.1-8B_v2").ok());
}

TEST(ModelIdTest, RejectsPathTraversalAndMalformedIds) {
  for (const char* bad : {"../x", "a/../../b", "a/..", "../..", "./a", "a/.", "/abs", "a//b", "a/b/c", "a",
                          "", "/", "a/", "-a/b", ".a/b", "a/b..c", "a b/c", "a/b\\c", "a/b\n", "a/b?x=1"}) {
    absl::StatusOr<ModelId> id = ParseModelId(bad);
    EXPECT_FALSE(id.ok()) << "accepted '" << bad << "'";
    if (!id.ok()) EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_FALSE(LooksLikeModelId(bad));
  }
  EXPECT_THAT(std::string(ParseModelId("a/../../b").status().message()), testing::HasSubstr("a/../../b"));
  EXPECT_FALSE(ParseModelId(std::string(97, 'a') + "/b").ok());
}

TEST(ModelIdTest, ValidatesRevisions) {
  for (const char* good : {"main", "master", "v1.0", "refs/pr/1", "0123456789abcdef0123456789abcdef01234567"}) {
    EXPECT_TRUE(ValidateRevision(good).ok()) << good;
  }
  for (const char* bad : {"", "../main", "a/../b", "/main", "main/", "a//b", "ma in", "a?b", "a%2Fb", "..", "."}) {
    EXPECT_FALSE(ValidateRevision(bad).ok()) << "accepted '" << bad << "'";
  }
}

TEST(ModelIdTest, ValidatesRepositoryFilePaths) {
  for (const char* good : {"config.json", "original/params.json", "a/b/c.safetensors", "tokenizer.model"}) {
    EXPECT_TRUE(ValidateRepoFilePath(good).ok()) << good;
  }
  for (const char* bad : {"", "../x", "a/../../b", "/etc/passwd", "a//b", "./a", "a/.", "a\\b", "a\nb", "..", "a/"}) {
    EXPECT_FALSE(ValidateRepoFilePath(bad).ok()) << "accepted '" << bad << "'";
  }
}

TEST(ModelIdTest, RecognisesFullCommitHashes) {
  EXPECT_TRUE(IsCommitHash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(IsCommitHash("0123456789ABCDEF0123456789abcdef01234567"));
  EXPECT_FALSE(IsCommitHash("0123456"));
  EXPECT_FALSE(IsCommitHash("main"));
}

}  // namespace
}  // namespace tessera::hub
