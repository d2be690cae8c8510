#include "common/metrics/text_format.h"

#include <cmath>
#include <limits>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tessera::metrics {
namespace {

using ::testing::HasSubstr;

TEST(FormatValueTest, SpecialValuesUsePrometheusSpelling) {
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(FormatValueTest, IntegersHaveNoExponentOrFraction) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-0.0), "0");
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(-42), "-42");
  EXPECT_EQ(FormatValue(1e6), "1000000");
  EXPECT_EQ(FormatValue(2560), "2560");
  EXPECT_EQ(FormatValue(9007199254740992.0), "9007199254740992");
}

TEST(FormatValueTest, FractionsAreShortestExactForm) {
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.005), "0.005");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(-0.75), "-0.75");
  EXPECT_EQ(FormatValue(1.0 / 3), "0.3333333333333333");
  EXPECT_EQ(std::stod(FormatValue(1.5e-7)), 1.5e-7);
  EXPECT_EQ(std::stod(FormatValue(1e300)), 1e300);
}

TEST(EscapeTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeLabelValue("tab\tstays"), "tab\tstays");
}

TEST(EscapeTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(EscapeHelp("say \"hi\"\\now\nnext"), "say \"hi\"\\\\now\\nnext");
}

TEST(NameValidationTest, MetricNames) {
  EXPECT_TRUE(ValidateMetricName("tessera_prompt_tokens_total").ok());
  EXPECT_TRUE(ValidateMetricName("vllm:num_requests_running").ok());
  EXPECT_TRUE(ValidateMetricName("_x").ok());
  EXPECT_TRUE(ValidateMetricName(":x9").ok());
  for (const char* bad : {"", "9lives", "has space", "dash-name", "dot.name", "ünicode"}) {
    absl::Status status = ValidateMetricName(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(status.message(), HasSubstr("[a-zA-Z_:][a-zA-Z0-9_:]*")) << bad;
  }
}

TEST(NameValidationTest, LabelNames) {
  EXPECT_TRUE(ValidateLabelName("model_name").ok());
  EXPECT_TRUE(ValidateLabelName("_private").ok());
  EXPECT_TRUE(ValidateLabelName("le").ok());
  EXPECT_FALSE(ValidateLabelName("").ok());
  EXPECT_FALSE(ValidateLabelName("a:b").ok());  // colons are for metric names only
  EXPECT_FALSE(ValidateLabelName("1a").ok());
  absl::Status reserved = ValidateLabelName("__name__");
  EXPECT_EQ(reserved.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reserved.message(), HasSubstr("'__name__'"));
  EXPECT_THAT(reserved.message(), HasSubstr("reserved"));
}

TEST(Utf8Test, AcceptsValidRejectsInvalid) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("ascii"));
  EXPECT_TRUE(IsValidUtf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("\xC3"));              // truncated
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("a\x80z"));             // stray continuation byte
}

}  // namespace
}  // namespace tessera::metrics
