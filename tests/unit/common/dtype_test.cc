#include "common/dtype.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tessera {
namespace {

using ::testing::ElementsAre;

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint32_t Bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(DTypeTest, NamesSizesAndParsing) {
  const DType all[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF64, DType::kI64,
                       DType::kI32, DType::kI16, DType::kI8,   DType::kU8,  DType::kBool};
  const size_t sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
  for (size_t i = 0; i < std::size(all); ++i) {
    EXPECT_EQ(DTypeSize(all[i]), sizes[i]);
    EXPECT_EQ(DTypeFromName(DTypeName(all[i])), all[i]);
    EXPECT_EQ(DTypeFromTorchName(DTypeTorchName(all[i])), all[i]);
  }
  EXPECT_EQ(DTypeName(DType::kBF16), "BF16");
  EXPECT_EQ(DTypeName(DType::kBool), "BOOL");
  EXPECT_EQ(DTypeFromName("F8_E4M3"), std::nullopt);
  EXPECT_EQ(DTypeFromName("f32"), std::nullopt);  // the format is case-sensitive
  EXPECT_EQ(DTypeFromTorchName("bfloat16"), DType::kBF16);
  EXPECT_EQ(DTypeFromTorchName("half"), DType::kF16);
  EXPECT_EQ(DTypeFromTorchName("complex64"), std::nullopt);
  EXPECT_TRUE(IsFloatingPoint(DType::kBF16));
  EXPECT_FALSE(IsFloatingPoint(DType::kI64));
}

TEST(BF16Test, EveryBitPatternRoundTrips) {
  for (uint32_t v = 0; v <= 0xffff; ++v) {
    const float f = BF16ToFloat(static_cast<uint16_t>(v));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(f)))) << std::hex << v;
    } else {
      ASSERT_EQ(FloatToBF16(f), v) << std::hex << v;
    }
  }
}

TEST(BF16Test, KnownValues) {
  EXPECT_EQ(FloatToBF16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBF16(-2.5f), 0xc020);
  EXPECT_EQ(FloatToBF16(0.0f), 0x0000);
  EXPECT_EQ(FloatToBF16(-0.0f), 0x8000);
  EXPECT_EQ(BF16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BF16ToFloat(0x4049), 3.140625f);
}

TEST(BF16Test, RoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between 1 (even mantissa) and 1 + 2^-7 (odd): goes down.
  EXPECT_EQ(FloatToBF16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): goes up.
  EXPECT_EQ(FloatToBF16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  // Just above halfway always goes up, just below always down.
  EXPECT_EQ(FloatToBF16(FromBits(0x3f808001)), 0x3f81);
  EXPECT_EQ(FloatToBF16(FromBits(0x3f807fff)), 0x3f80);
  // Negative values round by magnitude.
  EXPECT_EQ(FloatToBF16(FromBits(0xbf808001)), 0xbf81);
  // Rounding up may carry into the exponent.
  EXPECT_EQ(FloatToBF16(FromBits(0x3fffffff)), 0x4000);
}

TEST(BF16Test, SubnormalsInfinityAndNaN) {
  EXPECT_EQ(FloatToBF16(FromBits(0x00010000)), 0x0001);  // smallest bf16 subnormal, exact
  EXPECT_EQ(BF16ToFloat(0x0001), std::ldexp(1.0f, -133));
  EXPECT_EQ(FloatToBF16(FromBits(0x00008000)), 0x0000);  // halfway to the smallest subnormal: even is 0
  EXPECT_EQ(FloatToBF16(FromBits(0x00018000)), 0x0002);  // halfway between 1 and 2 ulps: even is 2
  EXPECT_EQ(FloatToBF16(kInf), 0x7f80);
  EXPECT_EQ(FloatToBF16(-kInf), 0xff80);
  EXPECT_EQ(BF16ToFloat(0x7f80), kInf);
  EXPECT_EQ(FloatToBF16(std::numeric_limits<float>::max()), 0x7f80);  // overflows to inf, as torch does
  EXPECT_EQ(FloatToBF16(FromBits(0x7f7f7fff)), 0x7f7f);               // largest finite stays finite
  // NaNs stay NaN even when the payload lives only in the dropped low bits.
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(FromBits(0x7f800001)))));
  EXPECT_TRUE(std::isnan(BF16ToFloat(FloatToBF16(FromBits(0xff800001)))));
  EXPECT_EQ(FloatToBF16(FromBits(0xff800001)) & 0x8000, 0x8000);
}

TEST(F16Test, EveryBitPatternRoundTrips) {
  for (uint32_t v = 0; v <= 0xffff; ++v) {
    const float f = F16ToFloat(static_cast<uint16_t>(v));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(F16ToFloat(FloatToF16(f)))) << std::hex << v;
    } else {
      ASSERT_EQ(FloatToF16(f), v) << std::hex << v;
    }
  }
}

TEST(F16Test, KnownValues) {
  EXPECT_EQ(F16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(F16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(F16ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(F16ToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(F16ToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F16ToFloat(0x03ff), 1023 * std::ldexp(1.0f, -24));
  EXPECT_EQ(Bits(F16ToFloat(0x8000)), 0x80000000u);
  EXPECT_EQ(F16ToFloat(0x7c00), kInf);
  EXPECT_EQ(F16ToFloat(0xfc00), -kInf);
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7c01)));
  EXPECT_EQ(FloatToF16(0.1f), 0x2e66);
  EXPECT_EQ(FloatToF16(-0.0f), 0x8000);
}

TEST(F16Test, RoundsToNearestEven) {
  EXPECT_EQ(FloatToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // halfway, even below
  EXPECT_EQ(FloatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // halfway, even above
  EXPECT_EQ(FloatToF16(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);
  EXPECT_EQ(FloatToF16(2048.0f + 1.0f), 0x6800);  // 2049 -> 2048 (ulp 2, tie to even)
  EXPECT_EQ(FloatToF16(2048.0f + 3.0f), 0x6802);  // 2051 -> 2052
  EXPECT_EQ(FloatToF16(2047.5f), 0x67ff + 1);     // 2047.5 halfway between 2047 (odd) and 2048: up
}

TEST(F16Test, SubnormalRounding) {
  const float tiny = std::ldexp(1.0f, -24);  // one f16 subnormal ulp
  EXPECT_EQ(FloatToF16(tiny), 0x0001);
  EXPECT_EQ(FloatToF16(0.5f * tiny), 0x0000);   // halfway to zero: even is 0
  EXPECT_EQ(FloatToF16(0.51f * tiny), 0x0001);  // above halfway
  EXPECT_EQ(FloatToF16(0.49f * tiny), 0x0000);
  EXPECT_EQ(FloatToF16(1.5f * tiny), 0x0002);   // halfway between 1 and 2: even is 2
  EXPECT_EQ(FloatToF16(2.5f * tiny), 0x0002);   // halfway between 2 and 3: even is 2
  EXPECT_EQ(FloatToF16(-1.5f * tiny), 0x8002);
  EXPECT_EQ(FloatToF16(1023.5f * tiny), 0x0400);  // largest subnormal rounds up into the smallest normal
  EXPECT_EQ(FloatToF16(std::ldexp(1.0f, -30)), 0x0000);
  EXPECT_EQ(FloatToF16(std::numeric_limits<float>::denorm_min()), 0x0000);
}

TEST(F16Test, OverflowInfinityAndNaN) {
  EXPECT_EQ(FloatToF16(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToF16(65519.0f), 0x7bff);  // below the halfway point to 65536
  EXPECT_EQ(FloatToF16(65520.0f), 0x7c00);  // halfway, 0x7bff is odd: rounds to inf
  EXPECT_EQ(FloatToF16(1e10f), 0x7c00);
  EXPECT_EQ(FloatToF16(-1e10f), 0xfc00);
  EXPECT_EQ(FloatToF16(kInf), 0x7c00);
  EXPECT_EQ(FloatToF16(-kInf), 0xfc00);
  EXPECT_TRUE(std::isnan(F16ToFloat(FloatToF16(std::nanf("")))));
  EXPECT_TRUE(std::isnan(F16ToFloat(FloatToF16(FromBits(0x7f800001)))));
}

TEST(ConvertTest, FloatingPointArrays) {
  const std::vector<float> values = {0.0f, 1.0f, -2.5f, 65504.0f, 0.099975586f};
  std::vector<uint16_t> half(values.size());
  std::vector<float> back(values.size());
  ConvertFromFloat(values.data(), DType::kF16, half.data(), values.size());
  ConvertToFloat(DType::kF16, half.data(), back.data(), values.size());
  EXPECT_EQ(back, values);

  std::vector<uint16_t> bf(values.size());
  ConvertFromFloat(values.data(), DType::kBF16, bf.data(), values.size());
  EXPECT_EQ(bf[1], 0x3f80);
  ConvertToFloat(DType::kBF16, bf.data(), back.data(), values.size());
  EXPECT_EQ(back[2], -2.5f);

  std::vector<float> copy(values.size());
  ConvertFromFloat(values.data(), DType::kF32, copy.data(), values.size());
  EXPECT_EQ(copy, values);

  const double doubles[] = {1.5, -3.25};
  float out[2];
  ConvertToFloat(DType::kF64, doubles, out, 2);
  EXPECT_THAT(out, ElementsAre(1.5f, -3.25f));
}

TEST(ConvertTest, IntegersConvertByValue) {
  const int64_t i64[] = {-3, 0, 1024};
  const int32_t i32[] = {7, -8};
  const int8_t i8[] = {-128, 127};
  const uint8_t u8[] = {255, 0};
  float out[3];
  ConvertToFloat(DType::kI64, i64, out, 3);
  EXPECT_THAT(out, ElementsAre(-3.f, 0.f, 1024.f));
  ConvertToFloat(DType::kI32, i32, out, 2);
  EXPECT_EQ(out[0], 7.f);
  EXPECT_EQ(out[1], -8.f);
  ConvertToFloat(DType::kI8, i8, out, 2);
  EXPECT_EQ(out[0], -128.f);
  ConvertToFloat(DType::kU8, u8, out, 2);
  EXPECT_EQ(out[0], 255.f);
}

}  // namespace
}  // namespace tessera
