#include "kernels/rope_cache.h"

#include <cmath>
#include <numbers>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera::kernels {
namespace {

using ::testing::HasSubstr;

// The formulas of transformers' modeling_rope_utils, in double precision.
double DefaultInvFreq(double theta, int dim, int i) { return 1.0 / std::pow(theta, 2.0 * i / dim); }

double Llama3InvFreq(double inv_freq, double factor, double low, double high, double old_context) {
  const double wavelen = 2.0 * std::numbers::pi / inv_freq;
  if (wavelen < old_context / high) return inv_freq;
  if (wavelen > old_context / low) return inv_freq / factor;
  const double smooth = (old_context / wavelen - low) / (high - low);
  return (1.0 - smooth) * inv_freq / factor + smooth * inv_freq;
}

TEST(RopeCacheTest, DefaultInverseFrequenciesFollowTheta) {
  RopeParameters p{.rotary_dim = 128, .theta = 1000000.0};
  auto inv = ComputeRopeInverseFrequencies(p);
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->size(), 64u);
  for (int i = 0; i < 64; ++i) EXPECT_NEAR((*inv)[i], DefaultInvFreq(1e6, 128, i), 2e-6 * DefaultInvFreq(1e6, 128, i));
  EXPECT_EQ((*inv)[0], 1.0f);
  // 10000^(-2*1/4) = 0.01 exactly in real arithmetic.
  auto small = ComputeRopeInverseFrequencies(RopeParameters{.rotary_dim = 4, .theta = 10000.0});
  ASSERT_TRUE(small.ok());
  EXPECT_NEAR((*small)[1], 0.01f, 1e-9f);
}

TEST(RopeCacheTest, LinearScalingDividesByFactor) {
  auto base = ComputeRopeInverseFrequencies(RopeParameters{.rotary_dim = 32, .theta = 10000.0});
  auto linear = ComputeRopeInverseFrequencies(
      RopeParameters{.rotary_dim = 32, .theta = 10000.0, .scaling_type = "linear", .factor = 4.0});
  ASSERT_TRUE(base.ok() && linear.ok());
  for (size_t i = 0; i < base->size(); ++i) EXPECT_EQ((*linear)[i], (*base)[i] / 4.0f);
}

TEST(RopeCacheTest, Llama3MatchesTransformersFormula) {
  const RopeParameters p{.rotary_dim = 64,
                         .theta = 500000.0,
                         .scaling_type = "llama3",
                         .factor = 8.0,
                         .low_freq_factor = 1.0,
                         .high_freq_factor = 4.0,
                         .original_max_position_embeddings = 8192};
  auto inv = ComputeRopeInverseFrequencies(p);
  ASSERT_TRUE(inv.ok()) << inv.status();
  ASSERT_EQ(inv->size(), 32u);
  for (int i = 0; i < 32; ++i) {
    const double expected = Llama3InvFreq(DefaultInvFreq(500000.0, 64, i), 8.0, 1.0, 4.0, 8192.0);
    EXPECT_NEAR((*inv)[i], expected, 2e-6 * expected) << "i=" << i;
  }
  // Hand-checked against the formula. i=14: wavelength 1956.5 < 8192/4, unchanged.
  EXPECT_NEAR((*inv)[14], 0.0032114459947525913, 1e-8);
  // i=16: inv = 1/sqrt(500000) = 1.41421356e-3, wavelength 4442.88 lies between 2048 and 8192, so
  // smooth = (8192/4442.88 - 1) / 3 = 0.281291 and inv' = inv * ((1 - smooth)/8 + smooth) = 5.2484616e-4.
  EXPECT_NEAR((*inv)[16], 5.248461609929547e-4, 5e-10);
  // i=31: wavelength 2.08e6 > 8192, divided by the factor: 3.01385815e-6 / 8.
  EXPECT_NEAR((*inv)[31], 3.7673226901739635e-07, 1e-12);
}

TEST(RopeCacheTest, CosSinTableRows) {
  const RopeParameters p{.rotary_dim = 8, .theta = 10000.0};
  auto table = BuildRopeCosSinCache(p, 50);
  auto inv = ComputeRopeInverseFrequencies(p);
  ASSERT_TRUE(table.ok() && inv.ok());
  ASSERT_EQ(table->size(), 50u * 8u);
  for (int pos = 0; pos < 50; ++pos) {
    for (int i = 0; i < 4; ++i) {
      const double angle = static_cast<double>(pos) * (*inv)[i];
      EXPECT_NEAR((*table)[pos * 8 + i], std::cos(angle), 1e-5);
      EXPECT_NEAR((*table)[pos * 8 + 4 + i], std::sin(angle), 1e-5);
    }
  }
  EXPECT_EQ((*table)[0], 1.0f);
  EXPECT_EQ((*table)[4], 0.0f);
}

TEST(RopeCacheTest, RejectsBadParameters) {
  auto unsupported = ComputeRopeInverseFrequencies(RopeParameters{.rotary_dim = 8, .scaling_type = "yarn"});
  ASSERT_EQ(unsupported.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unsupported.status().message(), HasSubstr("yarn"));
  EXPECT_THAT(unsupported.status().message(), HasSubstr("llama3"));
  EXPECT_THAT(unsupported.status().message(), HasSubstr("linear"));

  EXPECT_EQ(ComputeRopeInverseFrequencies(RopeParameters{.rotary_dim = 7}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ComputeRopeInverseFrequencies(RopeParameters{.rotary_dim = 8, .theta = 0.0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto no_context =
      ComputeRopeInverseFrequencies(RopeParameters{.rotary_dim = 8, .scaling_type = "llama3", .factor = 8});
  EXPECT_THAT(no_context.status().message(), HasSubstr("original_max_position_embeddings"));
  EXPECT_EQ(BuildRopeCosSinCache(RopeParameters{.rotary_dim = 8}, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tessera::kernels
