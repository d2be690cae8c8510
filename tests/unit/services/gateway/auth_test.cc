#include "services/gateway/auth.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::gateway {
namespace {

TEST(ConstantTimeEquals, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secret2"));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(ApiKeyAuthenticator, AcceptsAnyConfiguredKey) {
  const ApiKeyAuthenticator auth(ParseApiKeyList(" k1, k2 ,,"));
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.Authorize("Bearer k1"));
  EXPECT_TRUE(auth.Authorize("bearer k2"));
  EXPECT_FALSE(auth.Authorize("Bearer k3"));
  EXPECT_FALSE(auth.Authorize("Bearer "));
  EXPECT_FALSE(auth.Authorize("k1"));
  EXPECT_FALSE(auth.Authorize(""));
  EXPECT_FALSE(auth.Authorize("Basic k1"));
}

TEST(ApiKeyAuthenticator, WithoutKeysEverythingPasses) {
  const ApiKeyAuthenticator auth({});
  EXPECT_FALSE(auth.enabled());
  EXPECT_TRUE(auth.Authorize(""));
}

TEST(ParseApiKeyList, SplitsAndTrims) {
  EXPECT_THAT(ParseApiKeyList("a,b , c"), ::testing::ElementsAre("a", "b", "c"));
  EXPECT_TRUE(ParseApiKeyList("").empty());
}

// A file under the test's temporary folder, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    const char* dir = std::getenv("TEST_TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + "/tessera_api_keys_" + std::to_string(getpid());
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(ReadApiKeyFile, OneKeyPerLineSkippingCommentsAndBlanks) {
  const TempFile file("# production keys\n  sk-one  \n\nsk-two\n#sk-disabled\n");
  absl::StatusOr<std::vector<std::string>> keys = ReadApiKeyFile(file.path());
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ::testing::ElementsAre("sk-one", "sk-two"));
}

TEST(ReadApiKeyFile, MissingOrEmptyFileIsAnErrorNamingIt) {
  absl::StatusOr<std::vector<std::string>> keys = ReadApiKeyFile("/nonexistent/tessera-keys");
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(std::string(keys.status().message()), ::testing::HasSubstr("/nonexistent/tessera-keys"));
  const TempFile empty("# nothing here\n\n");
  keys = ReadApiKeyFile(empty.path());
  ASSERT_FALSE(keys.ok());
  EXPECT_THAT(std::string(keys.status().message()), ::testing::HasSubstr("holds no key"));
}

}  // namespace
}  // namespace tessera::gateway
