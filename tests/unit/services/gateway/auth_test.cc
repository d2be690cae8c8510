#include "services/gateway/auth.h"

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

}  // namespace
}  // namespace tessera::gateway
